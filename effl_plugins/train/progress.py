"""Progress inside an epoch, on stderr: a one-line bar on a terminal, a line every ``log_interval``
steps off one (timm's habit). A line::

    epoch 2/10 step 50/120 loss 1.2345 (avg 1.3012) lr 1.00e-03 img/s 412.3 eta 0:00:17

``loss`` is the mean over the steps since the last line (on the bar between two reports: the last
step's) and ``avg`` over the epoch so far; ``img/s`` counts every rank's images since the last line.
A step that prints nothing only adds numbers (the loss is the float the engine already read).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["EpochProgress", "format_seconds"]

#: How a reporter shows itself: redrawn in place, a line per report, or not at all.
MODES = ("bar", "lines", "off")
#: Seconds between two redraws of the terminal bar.
BAR_REFRESH = 0.2


def format_seconds(seconds: float) -> str:
    """``seconds`` as ``H:MM:SS``."""
    whole = max(int(round(seconds)), 0)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class EpochProgress:
    """The steps of one epoch, reported on ``stream``.

    Args:
        epoch: this epoch, counted from 1; ``epochs`` the run's total.
        steps: steps in the epoch; ``done`` of them already ran (a resumed epoch).
        interval: report every ``interval`` steps (0: never) and at the epoch's last step.
        mode: one of ``MODES`` (``"off"``: nothing printed, ``on_report`` still called).
        world_size: processes training together; lr: returns the learning rate (read at reports only).
        on_report: ``callback(scalars, global_step)`` at each report (``train_loss``, ``lr``, ``img_per_s``).
    """

    def __init__(
        self,
        *,
        epoch: int,
        epochs: int,
        steps: int,
        done: int = 0,
        interval: int = 50,
        mode: str = "lines",
        world_size: int = 1,
        lr: Callable[[], float] = lambda: float("nan"),
        stream: TextIO | None = None,
        on_report: Callable[[dict[str, float], int], None] | None = None,
    ):
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        self.done, self.first = done, done
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode, self.world_size = mode, world_size
        self.stream = stream if stream is not None else sys.stderr
        self.on_report, self.lr = on_report, lr
        self.start = self.last_time = self.drawn = time.perf_counter()
        self.loss_sum = self.window_loss = self.last_loss = 0.0
        self.count = self.window_count = self.window_images = 0
        self.report_every = max(int(interval), 0)
        self.active = mode != "off" or on_report is not None

    def update(self, loss: float, images: int) -> None:
        """One step done: its loss (a host float) over ``images`` images of this rank."""
        if not self.active:
            return
        self.done += 1
        self.last_loss = loss
        self.loss_sum += loss * images
        self.count += images
        self.window_loss += loss * images
        self.window_images += images
        self.window_count += images
        due = self.report_every and (self.done % self.report_every == 0 or self.done == self.steps)
        if due:
            self._report()
        elif self.mode == "bar":
            now = time.perf_counter()
            if now - self.drawn >= BAR_REFRESH:
                self._draw(now)

    def close(self) -> None:
        """Clear the bar (a terminal keeps only the epoch's own line); once."""
        if self.mode == "bar" and self.done > self.first:
            self.stream.write("\r\033[K")
            self.stream.flush()
        self.mode = "off" if self.mode == "bar" else self.mode

    def _eta(self, now: float) -> float:
        ran = self.done - self.first
        return (now - self.start) / ran * (self.steps - self.done) if ran else 0.0

    def _window(self, now: float) -> dict[str, float]:
        """The mean loss, the learning rate and images per second (all ranks) since the last report."""
        return {
            "train_loss": self.window_loss / max(self.window_count, 1),
            "lr": float(self.lr()),
            "img_per_s": self.window_images * self.world_size / max(now - self.last_time, 1e-9),
        }

    def _report(self) -> None:
        now = time.perf_counter()
        scalars = self._window(now)
        if self.mode == "lines":
            print(self._text(scalars, now), file=self.stream, flush=True)
        elif self.mode == "bar":
            self._draw(now, scalars)
        if self.on_report is not None:
            self.on_report(scalars, (self.epoch - 1) * self.steps + self.done)
        self.last_time, self.window_loss, self.window_count, self.window_images = now, 0.0, 0, 0

    def _text(self, scalars: dict[str, float], now: float) -> str:
        return (
            f"epoch {self.epoch}/{self.epochs} step {self.done}/{self.steps} loss {scalars['train_loss']:.4f} "
            f"(avg {self.loss_sum / max(self.count, 1):.4f}) lr {scalars['lr']:.2e} "
            f"img/s {scalars['img_per_s']:.1f} eta {format_seconds(self._eta(now))}"
        )

    def _draw(self, now: float, scalars: dict[str, float] | None = None) -> None:
        scalars = scalars if scalars is not None else {**self._window(now), "train_loss": self.last_loss}
        width = 20
        filled = int(width * self.done / max(self.steps, 1))
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r\033[K[{bar}] {self._text(scalars, now)}")
        self.stream.flush()
        self.drawn = now
