"""`deploy diff` against one `deploy check`: the price of planning a change offline.

A: ``python -m deploy check --stack S --json``: one program run on the mock engine, every
   resource through the policy pack.
B: ``python -m deploy diff --stack S --json``: two program runs (the base at HEAD from a
   temporary git worktree, in a process of its own, beside the working tree's) and the diff.

Goal (DESIGN section 7): B at most 2x A. The series alternate after one untimed warm-up of
each; the figures are the medians and the median of B/A over the pairs.

    .venv/bin/python bench/diff_vs_check.py [--runs 5] [--stack prod]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_vs_preview import PROJECT_DIR, timed  # noqa: E402  (exits 0 and 1 both count as complete runs)

GOAL = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each, alternated (default 5)")
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: expected at least 1")
    commands = {name: [sys.executable, "-m", "deploy", name, "--stack", args.stack, "--json"] for name in ("check", "diff")}
    for command in commands.values():  # warm-up: the file system cache, the bytecode
        timed(command, PROJECT_DIR)
    series: dict[str, list[float]] = {"check": [], "diff": []}
    for _ in range(args.runs):
        for name, command in commands.items():
            series[name].append(timed(command, PROJECT_DIR))
    checks, diffs = series["check"], series["diff"]

    ratios = [d / c for d, c in zip(diffs, checks, strict=True)]
    print(f"stack {args.stack}, {args.runs} alternating runs after one warm-up each")
    for name, series in (("deploy check", checks), ("deploy diff", diffs)):
        print(f"  {name:<13} wall min {min(series):.2f}s  median {statistics.median(series):.2f}s  max {max(series):.2f}s")
    ratio = statistics.median(ratios)
    print(f"median ratio diff/check: {ratio:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); "
          f"goal at most {GOAL:.1f}: {'met' if ratio <= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
