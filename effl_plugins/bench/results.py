"""The results document of one benchmark run: its rows, its JSON schema, its file name.

One JSON file per (bench, device, torch version): ``<bench>-<device>-torch<version>.json`` with

``{"schema": "effl-bench/1", "bench", "device", "device_name", "torch", "threads", "quick",
"copy_bandwidth_gbps", "started", "wall_s", "rows": [...], "skipped": [...]}``

and each row ``{"op", "impl", "semantics", "mode", "case", "case_label", "median_s", "iqr_s",
"runs", "items", "bytes", "items_per_s", "effective_gbps", "floor_s", "floor_fraction",
"x_floor", "note"}``. ``validate`` checks a document against this shape.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA",
    "ROW_FIELDS",
    "new_document",
    "validate",
    "result_path",
    "write_document",
    "write_json_report",
    "publish_json_report",
    "load_documents",
    "device_tag",
]

SCHEMA = "effl-bench/1"
SEMANTICS = ("per-sample", "per-batch", "per-image", "deterministic")
ROW_FIELDS: dict[str, type | tuple[type, ...]] = {
    "op": str,
    "impl": str,
    "semantics": str,
    "mode": str,
    "case": dict,
    "case_label": str,
    "median_s": float,
    "iqr_s": float,
    "runs": int,
    "items": int,
    "bytes": int,
    "items_per_s": float,
    "effective_gbps": float,
    "floor_s": float,
    "floor_fraction": float,
    "x_floor": float,
    "note": str,
}
DOC_FIELDS: dict[str, type | tuple[type, ...]] = {
    "schema": str,
    "bench": str,
    "device": str,
    "device_name": str,
    "torch": str,
    "threads": int,
    "quick": bool,
    "copy_bandwidth_gbps": float,
    "started": str,
    "wall_s": float,
    "rows": list,
    "skipped": list,
}


def device_tag(device: str) -> str:
    """``cpu`` or ``cuda``: the device part of a result file name."""
    return str(device).split(":")[0]


def new_document(bench: str, device: str, *, quick: bool, bandwidth: float, started: str) -> dict[str, Any]:
    import torch

    if device_tag(device) == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
    return {
        "schema": SCHEMA,
        "bench": bench,
        "device": device_tag(device),
        "device_name": name,
        "torch": torch.__version__.split("+")[0],
        "threads": torch.get_num_threads(),
        "quick": bool(quick),
        "copy_bandwidth_gbps": bandwidth / 1e9,
        "started": started,
        "wall_s": 0.0,
        "rows": [],
        "skipped": [],
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
    }


def _check_fields(obj: dict, fields: dict, where: str) -> None:
    for key, kind in fields.items():
        if key not in obj:
            raise ValueError(f"{where} lacks field {key!r}")
        value = obj[key]
        numeric = kind is float and isinstance(value, int) and not isinstance(value, bool)
        if not (isinstance(value, kind) or numeric) or (kind is int and isinstance(value, bool)):
            raise ValueError(
                f"{where} field {key!r} must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}"
            )


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """Raise ``ValueError`` naming the first field that breaks the schema; return ``doc``."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(f"not an {SCHEMA} document (schema={doc.get('schema') if isinstance(doc, dict) else None!r})")
    _check_fields(doc, DOC_FIELDS, "document")
    for i, row in enumerate(doc["rows"]):
        _check_fields(row, ROW_FIELDS, f"rows[{i}]")
        if row["semantics"] not in SEMANTICS:
            raise ValueError(f"rows[{i}] semantics must be one of {SEMANTICS}, got {row['semantics']!r}")
        if not row["median_s"] > 0:
            raise ValueError(f"rows[{i}] median_s must be > 0, got {row['median_s']}")
    return doc


def result_path(out_dir: str | Path, doc: dict[str, Any], suffix: str = "json") -> Path:
    """``<out>/<bench>-<device>-torch<version>.json`` (``.png`` plots drop the torch part)."""
    version = re.sub(r"[^0-9A-Za-z.]", "_", doc["torch"])
    if suffix == "png":
        return Path(out_dir) / f"{doc['bench']}-{doc['device']}.png"
    return Path(out_dir) / f"{doc['bench']}-{doc['device']}-torch{version}.{suffix}"


def write_document(out_dir: str | Path, doc: dict[str, Any]) -> Path:
    path = result_path(out_dir, validate(doc))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)
    return path


def write_json_report(path: str | Path, report: dict[str, Any]) -> Path:
    """A benchmark script's report as indented JSON at ``path``, written atomically (a temporary file beside
    it, renamed into place): a stopped run leaves the previous report or the new one, never part of one."""
    from ..train.checkpoints import atomic_write_text

    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    return Path(path)


def publish_json_report(path: str | Path, report: dict[str, Any]) -> Path:
    """:func:`write_json_report`, then the report printed on stdout and the path it went to on stderr."""
    written = write_json_report(path, report)
    print(json.dumps(report, indent=2))
    print(f"written to {written}", file=sys.stderr)
    return written


def load_documents(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every valid result document in ``out_dir``, sorted by (bench, device)."""
    docs = []
    for path in sorted(Path(out_dir).glob("*-torch*.json")):
        docs.append(validate(json.loads(path.read_text())))
    return sorted(docs, key=lambda d: (d["bench"], d["device"]))
