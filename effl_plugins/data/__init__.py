"""Data the way timm feeds a model: the model's data config, train/eval transforms, streaming datasets.

``resolve_data_config`` reads the model's ``pretrained_cfg`` (overridden by a checkpoint and the
command line); ``build_data`` lists a dataset's splits (nothing decoded up front) and pairs them with
``train_transform`` / ``eval_transform``; ``create_loader`` batches them as uint8, decoding in the
workers. Every dataset yields ``(uint8 [3, H, W], int target)`` with ``-1`` (:data:`UNLABELED`)
where unlabeled, and has ``ids``: one stable string per image (the pseudo-label store keys on them).
"""

from . import decode
from .bundle import SPLIT_RECORD, DataBundle, HoldoutSplit, build_data, holdout_split, unlabeled_folder
from .config import INTERPOLATIONS, DataConfig, resolve_data_config
from .datasets import UNLABELED, StreamImageDataset
from .decode import *  # noqa: F403 - reading image files, its names listed once in decode.__all__
from .loader import collate_uint8, create_loader
from .transforms import EvalTransform, TrainTransform, eval_transform, rrc_params, train_transform

__all__ = [
    "DataConfig",
    "resolve_data_config",
    "INTERPOLATIONS",
    "train_transform",
    "eval_transform",
    "TrainTransform",
    "EvalTransform",
    "rrc_params",
    "build_data",
    "unlabeled_folder",
    "DataBundle",
    "HoldoutSplit",
    "holdout_split",
    "SPLIT_RECORD",
    "create_loader",
    "collate_uint8",
    "StreamImageDataset",
    "UNLABELED",
]
__all__ += decode.__all__
