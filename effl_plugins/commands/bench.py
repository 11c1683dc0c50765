"""``effl bench [--quick] [--device cpu|cuda] [--out DIR] [--only augment|loss|data|augment-small|loss-small]
[--ops NAME...] [--losses NAME...] [--threads N] [--row-seconds S]``

Times the augmentation and loss kernels against torchvision, kornia, albumentations, timm and the
eager/compiled loss references, and the data loader (decode + crop + RandAugment + collate) against
timm's. ``--ops`` and ``--losses`` time any registered component, plugins included: an augmentation
on every backend it is registered for (batch rows per case, image rows one image at a time), with
the built-ins' peers where a peer exists for that name and alone otherwise.

Everything is written inside ``--out`` (default ``./effl-bench`` in the current directory):
``<bench>-<device>-torch<version>.json``, one PNG per bench and ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os

from ..bench.run import BENCHES, EXTRA_BENCHES
from ._parser import add_documented_parser
from ._train_args import machine_cores


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_documented_parser(
        subparsers, "bench", "benchmark augmentation and loss kernels against their peers", __doc__
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small subset of cases, no torch.compile (< 3 min on 2 CPU cores)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    parser.add_argument(
        "--out", metavar="DIR", help="folder for the JSON results, plots and RESULTS.md (default: ./effl-bench)"
    )
    parser.add_argument(
        "--only",
        choices=BENCHES + EXTRA_BENCHES,
        help="run one family (augment-small: the batch ops on FixMatch-size calls; loss-small: KD at B 64/256)",
    )
    parser.add_argument(
        "--ops", nargs="+", metavar="NAME", help="augmentations to time (any registered, plugins included)"
    )
    parser.add_argument("--losses", nargs="+", metavar="NAME", help="losses to time (any registered, plugins included)")
    parser.add_argument("--threads", type=int, help="torch threads (default: the machine's cores)")
    parser.add_argument("--row-seconds", type=float, metavar="S", help="timing budget per row (default 1, --quick 0.3)")
    parser.add_argument("--markdown", metavar="PATH", help="report path (default: DIR/RESULTS.md)")
    return parser


def _check_names(names: list[str] | None, registered: list[str], flag: str, family: str) -> list[str] | None:
    if names is None:
        return None
    unknown = [name for name in names if name not in registered]
    if unknown:
        raise ValueError(
            f"{flag}: unknown {family} {', '.join(map(repr, unknown))}; registered: {', '.join(registered)}"
        )
    return list(dict.fromkeys(names))


def _benches(args) -> list[str]:
    if args.only:
        return [args.only]
    if args.ops or args.losses:
        return [bench for bench, chosen in (("augment", args.ops), ("loss", args.losses)) if chosen]
    return list(BENCHES)


def load_warning(load: list[float], cores: int, threads: int) -> str | None:
    """A warning when other work shared the cores: a 1-minute load average beyond what the run's own threads
    explain (by more than half a core)."""
    if not load:
        return None
    others = max(load) - min(threads, cores)
    if others <= 0.5:
        return None
    return (
        f"warning: the 1-minute load average reached {max(load):.2f} on {cores} cores while the benchmark used "
        f"{threads} "
        f"threads: other processes shared the cores, so the figures may be unreliable (rerun on an idle machine)"
    )


def run(args) -> int:
    from pathlib import Path

    import effl_plugins as ep

    from ..bench.report import write_report
    from ..bench.run import run_bench

    if not (args.device == "cpu" or args.device.startswith("cuda")):
        raise ValueError(f"--device must be cpu or cuda[:N], got {args.device!r}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.row_seconds is not None and not args.row_seconds > 0:
        raise ValueError(f"--row-seconds must be > 0, got {args.row_seconds}")
    ops = _check_names(args.ops, ep.list_augmentations(), "--ops", "augmentation")
    losses = _check_names(args.losses, ep.list_losses(), "--losses", "loss")
    cores = machine_cores()
    threads = args.threads or cores
    print(f"threads: {threads} (this machine has {cores} cores)")
    out = Path(args.out) if args.out else Path.cwd() / "effl-bench"
    load = [os.getloadavg()[0]] if hasattr(os, "getloadavg") else []
    for bench in _benches(args):
        options = (
            {"ops": ops}
            if bench in ("augment", "augment-small") and ops
            else {"losses": losses}
            if bench == "loss" and losses
            else {}
        )
        path = run_bench(
            bench,
            quick=args.quick,
            device=args.device,
            out_dir=out,
            threads=threads,
            row_seconds=args.row_seconds,
            **options,
        )
        print(f"wrote {path}")
        load += [os.getloadavg()[0]] if hasattr(os, "getloadavg") else []
    markdown = Path(args.markdown) if args.markdown else out / "RESULTS.md"
    print(f"wrote {write_report(out, markdown)}")
    warning = load_warning(load, cores, threads)
    if warning:
        print(warning)
    return 0
