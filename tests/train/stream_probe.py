"""``python stream_probe.py LOG EFFL-ARGS...``: the ``effl`` command with every sharded sample it reads
logged as ``epoch key`` lines to ``LOG.<rank>.<pid>`` (DataLoader workers write their own files), so a
test can count what each epoch read across ranks and workers. Run as a script, under torchrun or not."""

from __future__ import annotations

import os
import sys

from effl_plugins.data.datasets import StreamImageDataset


def _logged(log: str):
    read = StreamImageDataset.__getitem__

    def getitem(self, index):
        item = read(self, index)
        if getattr(self.source, "exactly_once", False):
            with open(f"{log}.{os.environ.get('RANK', '0')}.{os.getpid()}", "a") as handle:
                handle.write(f"{self.epoch} {self.ids[int(index)]}\n")
        return item

    return getitem


if __name__ == "__main__":
    StreamImageDataset.__getitem__ = _logged(sys.argv[1])
    from effl_plugins.cli import main

    sys.exit(main(sys.argv[2:]))
