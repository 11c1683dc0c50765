"""Regenerate ``benchmarks/RESULTS.md`` and the PNG plots from ``benchmarks/results/*.json``.

python benchmarks/report.py [RESULTS_DIR] [MARKDOWN_PATH]
"""

import sys
from pathlib import Path


def main(argv=None) -> int:
    from effl_plugins.bench.report import write_report

    args = sys.argv[1:] if argv is None else argv
    here = Path(__file__).resolve().parent
    results = Path(args[0]) if args else here / "results"
    markdown = Path(args[1]) if len(args) > 1 else results.parent / "RESULTS.md"
    print(f"wrote {write_report(results, markdown)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
