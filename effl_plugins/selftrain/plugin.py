"""Built-in self-training strategies, registered through the ``effl_plugins`` entry point."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .fixmatch import FixMatch
from .flexmatch import FlexMatch
from .freematch import FreeMatch
from .mean_teacher import MeanTeacher
from .noisy_student import NoisyStudent
from .pseudo_label import PseudoLabel
from .softmatch import SoftMatch
from .uda import UDA


@hookimpl
def register_strategies(register):
    register("pseudo_label", PseudoLabel)
    register("noisy_student", NoisyStudent)
    register("fixmatch", FixMatch)
    register("mean_teacher", MeanTeacher)
    register("flexmatch", FlexMatch)
    register("freematch", FreeMatch)
    register("softmatch", SoftMatch)
    register("uda", UDA)
