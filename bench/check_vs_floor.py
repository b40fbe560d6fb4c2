"""`deploy check` against its floor: wall time and peak memory of the offline check of a stack,
next to a Python process that only imports what the check cannot do without.

A: ``python -m deploy check --stack prod --json`` (cwd: the project), as CI runs it.
B: the floor, one interpreter importing ``pulumi``, the ``pulumi_aws`` modules the program
   uses (loaded for real: ``pulumi_aws`` loads its modules lazily, on first attribute access),
   ``pulumi_random`` and ``pulumi_policy``.

The modules are derived, not listed by hand: every ``aws.<module>.`` the program's sources
(``__main__.py``, ``components/``) name, plus the module of every resource type the check
reports for the stack. A third series, for reference, is the floor without the interpreter's
garbage collection at exit (``gc.freeze()`` last), which ``deploy check`` skips too.

The series run alternately (after one untimed warm-up, so all find the same warm file
cache). Wall time is from start to exit; CPU time and peak RSS come from ``os.wait4``: CPU
of the child and the processes it waited for (the check's policy pack), peak RSS of the
largest of those processes.

    .venv/bin/python bench/check_vs_floor.py [--runs 7] [--stack prod]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROGRAM_SOURCES = ("__main__.py", "components/*.py")
GOAL = 1.5


@dataclass
class Series:
    name: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_kib: list[int] = field(default_factory=list)

    def line(self) -> str:
        s, c, m = self.seconds, self.cpu, self.peak_kib
        return (f"  {self.name:<16} wall min {min(s):.3f}s  median {statistics.median(s):.3f}s  max {max(s):.3f}s"
                f" | CPU median {statistics.median(c):.3f}s"
                f" | peak RSS min {min(m) / 1024:.1f} MiB  median {statistics.median(m) / 1024:.1f} MiB"
                f"  max {max(m) / 1024:.1f} MiB")


@dataclass
class Run:
    seconds: float  # wall time, start to exit
    cpu: float  # user + system CPU of the child and the processes it waited for
    peak_kib: int  # peak RSS of the largest of those processes
    exit_code: int
    stdout: str


def run_child(argv: list[str]) -> Run:
    """Run one child to completion, measured by ``os.wait4``."""
    with tempfile.TemporaryFile() as stdout:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=PROJECT_DIR, stdout=stdout, stderr=subprocess.PIPE)
        stderr = process.stderr.read()  # the child exits before its stderr closes; little is written there
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        process.stderr.close()
        stdout.seek(0)
        out = stdout.read().decode()
    if process.returncode not in (0, 1):  # 1 = mandatory violations: a complete check all the same
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}:\n{stderr.decode()[-3000:]}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, process.returncode, out)


def check_command(stack: str) -> list[str]:
    return [sys.executable, "-m", "deploy", "check", "--stack", stack, "--json"]


def program_modules() -> set[str]:
    """``pulumi_aws`` modules the program's sources name (``aws.rds.Cluster`` -> ``rds``)."""
    names: set[str] = set()
    for pattern in PROGRAM_SOURCES:
        for path in PROJECT_DIR.glob(pattern):
            names |= set(re.findall(r"\baws\.([a-z][a-z0-9_]*)\.", path.read_text()))
            names |= set(re.findall(r"\bpulumi_aws\.([a-z][a-z0-9_]*)", path.read_text()))
    return names


def resource_modules(check_output: str) -> set[str]:
    """``pulumi_aws`` modules of the resource types a check reports (``aws:rds/cluster:Cluster`` -> ``rds``)."""
    by_type = json.loads(check_output)["summary"]["byType"]
    return {t.split(":")[1].split("/")[0] for t in by_type if t.startswith("aws:") and "/" in t.split(":")[1]}


def floor_modules(check_output: str) -> list[str]:
    candidates = program_modules() | resource_modules(check_output)
    return sorted(m for m in candidates if m != "index" and importlib.util.find_spec(f"pulumi_aws.{m}") is not None)


def floor_command(modules: list[str], lean_exit: bool = False) -> list[str]:
    code = (
        "import importlib\n"
        "import pulumi, pulumi_aws, pulumi_random, pulumi_policy\n"
        f"for name in {modules!r}:\n"
        # Any attribute but the module's own metadata makes pulumi's lazy loader run the module.
        "    getattr(importlib.import_module('pulumi_aws.' + name), '__all__', None)\n"
        "pulumi_random.RandomPassword\n"
    )
    if lean_exit:  # what `deploy check` does too: no garbage collection over every object at exit
        code += "import gc\ngc.freeze()\n"
    return [sys.executable, "-c", code]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each (default 7)")
    parser.add_argument("--stack", default="prod", help="stack to check (default prod)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    check = check_command(args.stack)
    warm_up = run_child(check)  # untimed, and it tells the resource types of the stack
    code, output = warm_up.exit_code, warm_up.stdout
    modules = floor_modules(output)
    floor, lean = floor_command(modules), floor_command(modules, lean_exit=True)
    run_child(floor)  # warm-up
    summary = json.loads(output)["summary"]
    print(f"deploy check --stack {args.stack} --json: {summary['resources']} resources, "
          f"{summary['violations']['mandatory']} mandatory violations, exit {code}")
    print(f"floor imports: pulumi, pulumi_random, pulumi_policy, pulumi_aws.{{{', '.join(modules)}}}")
    print(f"{args.runs} runs of each, alternating, on {os.cpu_count()} CPUs")

    a, b, c = Series("check"), Series("floor"), Series("floor, lean exit")
    pair_ratios = []
    for _ in range(args.runs):
        for series, command in ((a, check), (b, floor), (c, lean)):
            run = run_child(command)
            series.seconds.append(run.seconds)
            series.cpu.append(run.cpu)
            series.peak_kib.append(run.peak_kib)
        pair_ratios.append(a.seconds[-1] / b.seconds[-1])
    for series in (a, b, c):
        print(series.line())
    ratio = statistics.median(a.seconds) / statistics.median(b.seconds)
    cpu = statistics.median(a.cpu) / statistics.median(b.cpu)
    memory = statistics.median(a.peak_kib) / statistics.median(b.peak_kib)
    lean_ratio = statistics.median(a.seconds) / statistics.median(c.seconds)
    print(f"median ratio check/floor: {ratio:.2f} (goal <= {GOAL}; median of per-pair ratios "
          f"{statistics.median(pair_ratios):.2f}; CPU {cpu:.2f}; peak memory {memory:.2f})")
    print(f"against a floor that also skips the collection at exit: {lean_ratio:.2f}")
    print(f"check costs {statistics.median(a.seconds) - statistics.median(b.seconds):+.3f}s wall against the floor; "
          f"CPU includes the policy pack's process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
