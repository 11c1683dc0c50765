"""The demo's picture: test accuracy per stage, a horizontal bar chart (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_report"]


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """Draw ``report["stages"]`` accuracies to ``path`` (PNG); the baseline is the dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = report["stages"]
    names = [s["name"] for s in stages][::-1]
    values = [100 * s["accuracy"] for s in stages][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(stages) + 1.2), dpi=100)
    bars = ax.barh(names, values, color=["#4C72B0" if "baseline" not in n else "#999999" for n in names])
    ax.axvline(100 * stages[0]["accuracy"], color="#555555", linestyle="--", linewidth=1)
    for bar, value in zip(bars, values):
        ax.text(value + 0.3, bar.get_y() + bar.get_height() / 2, f"{value:.1f}%", va="center", fontsize=8)
    low = max(0.0, min(values) - 10)
    ax.set_xlim(low, 100)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title(
        f"digits, {report['labeled']} labels + {report['unlabeled']} unlabeled (seed {report['seed']})", fontsize=9
    )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
