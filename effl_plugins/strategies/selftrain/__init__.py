"""Self-training: pseudo-labelling, Noisy Student, FixMatch, FlexMatch, FreeMatch, SoftMatch, UDA, Mean Teacher and
the label store."""

from ..one_stage import UDA, FixMatch, FlexMatch, FreeMatch, MeanTeacher, SoftMatch
from .noisy_student import NoisyStudent
from .pseudo_label import PseudoLabel

__all__ = ["FixMatch", "FlexMatch", "FreeMatch", "MeanTeacher", "NoisyStudent", "PseudoLabel", "SoftMatch", "UDA"]
