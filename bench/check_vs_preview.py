"""`deploy check` against `pulumi preview` with the policy pack on the real engine.

A: ``python -m deploy check --stack S --json`` (cwd: the project): the program on the SDK's
   mock engine, every resource through the pack over the analyzer protocol.
B: ``pulumi preview --stack S --policy-pack policies --policy-pack-config policies/config/S.json``
   with the CLI built by scripts/build-pulumi-cli and the provider doubles
   (tests/e2e/providers), on a local file backend, in a copy of the project: the engine,
   the language host, the pack run by the engine, and a provider process per provider.

Both decide the same thing (the plan and its violations; tests/e2e checks they agree). The
series alternate after one untimed warm-up of each; the figure is the median of B/A over
the pairs.

    .venv/bin/python bench/check_vs_preview.py [--runs 5] [--stack prod]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.e2e.realengine import (  # noqa: E402
    BUILD_HINT,
    Engine,
    attach_policy_pack,
    cli_path,
    copy_project,
    engine_environment,
)


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1):  # 1: a mandatory violation, still a complete run
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: expected at least 1")
    if not cli_path().is_file():
        raise SystemExit(f"no Pulumi CLI at {cli_path()}: {BUILD_HINT}")

    with tempfile.TemporaryDirectory(prefix="check-vs-preview-") as tmp:
        root = Path(tmp)
        project = copy_project(PROJECT_DIR, root / "project")
        engine = Engine(project=project, env=attach_policy_pack(engine_environment(root), project / "policies"))
        engine.init_stack(args.stack)
        check = [sys.executable, "-m", "deploy", "check", "--stack", args.stack, "--json"]
        preview = [str(cli_path()), "--non-interactive", "--color", "never", "preview", "--stack", args.stack,
                   "--policy-pack", "policies", "--policy-pack-config", f"policies/config/{args.stack}.json"]
        timed(check, PROJECT_DIR)
        timed(preview, project, engine.env)
        checks, previews = [], []
        for _ in range(args.runs):
            checks.append(timed(check, PROJECT_DIR))
            previews.append(timed(preview, project, engine.env))

    ratios = [p / c for p, c in zip(previews, checks, strict=True)]
    print(f"stack {args.stack}, {args.runs} alternating runs after one warm-up each")
    for name, series in (("deploy check", checks), ("pulumi preview", previews)):
        print(f"  {name:<15} wall min {min(series):.2f}s  median {statistics.median(series):.2f}s  "
              f"max {max(series):.2f}s")
    print(f"median ratio preview/check: {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}): the offline check is that many times faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
