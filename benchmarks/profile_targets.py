"""Write the profiles that explain missed targets (``benchmarks/results/profile-cpu.md`` by default).

python benchmarks/profile_targets.py [OUT_FILE]
"""

import sys
from pathlib import Path


def main(argv=None) -> int:
    from effl_plugins.bench.profile import profile_targets

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).resolve().parent / "results" / "profile-cpu.md"
    print(f"wrote {profile_targets(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
