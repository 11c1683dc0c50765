"""Every built-in strategy (transfer learning, distillation, self-training), registered through the one
``effl_plugins`` entry point ``strategies``.

Each strategy is named by an import string, so that listing the registry imports none of them (nor torch).
"""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_strategies(register):
    register("linear_probe", "effl_plugins.strategies.transfer.linear_probe:LinearProbe")
    register("finetune", "effl_plugins.strategies.transfer.finetune:Finetune")
    register("distill", "effl_plugins.strategies.distill:Distill")
    register("pseudo_label", "effl_plugins.strategies.selftrain.pseudo_label:PseudoLabel")
    register("noisy_student", "effl_plugins.strategies.selftrain.noisy_student:NoisyStudent")
    register("fixmatch", "effl_plugins.strategies.one_stage:FixMatch")
    register("mean_teacher", "effl_plugins.strategies.one_stage:MeanTeacher")
    register("flexmatch", "effl_plugins.strategies.one_stage:FlexMatch")
    register("freematch", "effl_plugins.strategies.one_stage:FreeMatch")
    register("softmatch", "effl_plugins.strategies.one_stage:SoftMatch")
    register("uda", "effl_plugins.strategies.one_stage:UDA")
