"""The flags of the commands that write a pseudo-label store (``pseudo-label``, ``teacher-cache``), defined once.

The choices are the store's precisions (``strategies.selftrain.store.PRECISIONS``), spelled here so that
building a parser imports no torch.
"""

from __future__ import annotations

import argparse

__all__ = ["PRECISIONS", "add_precision_arg"]

#: The dtypes a store keeps its probabilities in.
PRECISIONS = ("float32", "float16")


def add_precision_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--precision float32|float16`` (default ``float32``): the dtype of the stored probabilities."""
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="the stored probabilities' dtype (float16: int16 class ids with --top-k, about half the bytes; "
        "default: float32)",
    )
