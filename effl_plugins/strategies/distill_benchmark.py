"""Does distillation help with few labels? The same student trained alone on the labeled digits
versus distilled from a teacher trained on those same labels (the student also sees the unlabeled
images, labeled softly by the teacher), over several seeds.

    python -m effl_plugins.strategies.distill_benchmark --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
from typing import Sequence


def compare(seed: int, *, student: str = "test_resnet", teacher: str = "resnet10t", num_labeled: int = 100,
            alone_epochs: int = 40, teacher_epochs: int = 80, distill_epochs: int = 8, lr: float = 3e-3) -> dict:
    """One seed: ``{"seed", "alone", "distilled", "teacher"}`` final test accuracies."""
    import effl_plugins as ep
    from effl_plugins.data import load_digits

    data = load_digits(num_labeled=num_labeled)
    common = {"batch_size": 32, "seed": seed, "lr": lr, "progress": False}
    alone = ep.create_strategy("finetune", model=student, epochs=alone_epochs, backbone_lr=lr, **common).run(data)
    distilled = ep.create_strategy("distill", model=student, teacher=teacher, teacher_epochs=teacher_epochs,
                                   epochs=distill_epochs, loss="kd", loss_args={"temperature": 4.0, "alpha": 0.5}, **common).run(data)
    return {"seed": seed, "alone": alone["final_accuracy"], "distilled": distilled["final_accuracy"],
            "teacher": distilled["teacher_accuracy"]}


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for seed in args.seeds:
        print(json.dumps(compare(seed)), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
