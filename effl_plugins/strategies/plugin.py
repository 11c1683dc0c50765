"""Every built-in strategy (transfer learning, distillation, self-training), registered through the one
``effl_plugins`` entry point ``strategies``."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .distill import Distill
from .selftrain import UDA, FixMatch, FlexMatch, FreeMatch, MeanTeacher, NoisyStudent, PseudoLabel, SoftMatch
from .transfer import Finetune, LinearProbe


@hookimpl
def register_strategies(register):
    register("linear_probe", LinearProbe)
    register("finetune", Finetune)
    register("distill", Distill)
    register("pseudo_label", PseudoLabel)
    register("noisy_student", NoisyStudent)
    register("fixmatch", FixMatch)
    register("mean_teacher", MeanTeacher)
    register("flexmatch", FlexMatch)
    register("freematch", FreeMatch)
    register("softmatch", SoftMatch)
    register("uda", UDA)
