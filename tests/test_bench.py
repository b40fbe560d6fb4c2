"""The benchmarks in bench/ run end to end with small parameters and print their figures.

Marked ``bench``: run by hand (``pytest -m bench``). Nothing here asserts a duration.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
NUMBER = r"[0-9]+(?:\.[0-9]+)?"

# One worker runs them one after the other (pyproject.toml runs the tests on two): no benchmark shares the CPU with another.
pytestmark = [pytest.mark.bench, pytest.mark.xdist_group("bench")]


def run_bench(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, f"bench/{script}", *args], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_check_vs_floor_prints_both_series_and_the_ratio():
    out = run_bench("check_vs_floor.py", "--runs", "1", "--stack", "dev")
    assert "floor imports: pulumi, pulumi_random, pulumi_policy, pulumi_aws.{" in out
    assert "rds" in out.split("floor imports:")[1].splitlines()[0]
    for series in ("check", "floor", "floor, lean exit"):
        assert re.search(rf"^  {re.escape(series)} +wall min {NUMBER}s  median {NUMBER}s  max {NUMBER}s"
                         rf" \| CPU median {NUMBER}s \| peak RSS min {NUMBER} MiB", out, re.M), out
    assert re.search(rf"median ratio check/floor: {NUMBER} \(goal <= 1.5", out), out


def test_policy_scaling_prints_sizes_slope_and_linearity():
    out = run_bench("policy_scaling.py", "--sizes", "30,60", "--repeat", "1", "--per-policy")
    for size in (30, 60):
        assert re.search(rf"^ +{size} +{NUMBER} +{NUMBER}s +{NUMBER}ms +{NUMBER}s +{NUMBER}ms +\d+$", out, re.M), out
    for label in ("Analyze", "AnalyzeStack", "both"):
        assert re.search(rf"{label} +slope {NUMBER} ms/resource, intercept [+-]{NUMBER} ms, r2 -?{NUMBER}; "
                         rf"per resource 60 vs 30: {NUMBER}x", out), out
    assert "db-subnets-private" in out and "(every policy disabled: transport and pack)" in out


def test_policy_scaling_copies_keep_every_reference_inside_the_stack():
    sys.path.insert(0, str(PROJECT_DIR / "bench"))
    try:
        from policy_scaling import stack_of
    finally:
        sys.path.remove(str(PROJECT_DIR / "bench"))
    from tests.conftest import captured

    base = captured("prod", "update").resources
    stack = stack_of(base, 2 * len(base) + 7)  # stack_of refuses shared URNs and dangling dependencies
    copy = {r.name: r for r in stack[len(base):2 * len(base)]}
    ids = {r.id: r.name for r in stack if r.id and r.custom}
    subnet_group = copy["network-us-east-1-db-x1"]
    assert {ids[i] for i in subnet_group.inputs["subnetIds"]} == {
        f"network-us-east-1-database-us-east-1{zone}-x1" for zone in "abc"}
    cluster = copy["aurora-us-west-2-x1"]
    assert cluster.provider.split("::")[-2].endswith("aws-us-west-2-x1")
    assert cluster.parent.endswith("::aurora-us-west-2-x1")


def test_critical_path_prints_estimate_bound_and_ratio():
    out = run_bench("critical_path.py", "--stack", "prod")
    assert re.search(r"Estimated `pulumi up` \(longest weighted path\): \d+m\d\ds", out), out
    assert re.search(r"Lower bound AWS forces .*: \d+m\d\ds", out), out
    assert re.search(rf"Ratio estimate / bound: {NUMBER} \({NUMBER}; goal 1.00\)", out), out
    path = out.split("Estimated")[1].split("Lower bound")[0]
    assert "aws:kms/key:Key" in path and "aws:rds/cluster:Cluster  aurora-us-west-2" in path
    assert path.index("aurora-us-east-1-1") < path.index("aws:rds/cluster:Cluster  aurora-us-west-2")


def test_critical_path_of_a_single_region_stack():
    out = run_bench("critical_path.py", "--stack", "dev", "--mode", "preview")
    assert re.search(rf"Ratio estimate / bound: {NUMBER}", out), out


def test_check_vs_preview_prints_both_series_and_the_ratio():
    out = run_bench("check_vs_preview.py", "--runs", "1", "--stack", "dev")
    for series in ("deploy check", "pulumi preview"):
        assert re.search(rf"^  {series} +wall min {NUMBER}s  median {NUMBER}s  max {NUMBER}s$", out, re.M), out
    assert re.search(rf"^median ratio preview/check: {NUMBER} \(min {NUMBER}, max {NUMBER}\)", out, re.M), out
