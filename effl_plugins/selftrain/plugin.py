"""Built-in self-training strategies, registered through the ``effl_plugins`` entry point."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .fixmatch import FixMatch
from .mean_teacher import MeanTeacher
from .noisy_student import NoisyStudent
from .pseudo_label import PseudoLabel


@hookimpl
def register_strategies(register):
    register("pseudo_label", PseudoLabel)
    register("noisy_student", NoisyStudent)
    register("fixmatch", FixMatch)
    register("mean_teacher", MeanTeacher)
