"""Self-training: pseudo-labelling, Noisy Student, FixMatch, FlexMatch, FreeMatch, SoftMatch, UDA, Mean Teacher and
the label store."""

from .fixmatch import FixMatch
from .flexmatch import FlexMatch
from .freematch import FreeMatch
from .mean_teacher import MeanTeacher
from .noisy_student import NoisyStudent
from .pseudo_label import PseudoLabel
from .softmatch import SoftMatch
from .uda import UDA

__all__ = ["FixMatch", "FlexMatch", "FreeMatch", "MeanTeacher", "NoisyStudent", "PseudoLabel", "SoftMatch", "UDA"]
