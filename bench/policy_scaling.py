"""Policy analysis throughput as a stack grows: the real pack over the analyzer protocol.

The resources are the stack's own, captured on the mock engine and copied until there are
enough: copy k renames every resource (``<name>-x<k>``) and rewrites, everywhere in its
inputs, outputs, parent, provider and dependencies, the URNs, ids, ARNs and names that
identify resources of the stack, so each copy is wired to itself exactly as the original
is (its subnets to its route tables, its members to its global cluster). A stack of N
resources is the first N of the copies laid end to end: the engine registers a resource
after the resources it depends on, so every prefix keeps its references whole.

``deploy.offline.analyzer.PolicyAnalyzer`` starts the pack (``policies/__main__.py``) once,
configures it with ``policies/config/<stack>.json`` and then, per size, times ``Analyze``
for every resource (as the engine does on each registration) and one ``AnalyzeStack``
(as after the last step), each call including the client's building of the requests.
``--per-policy`` also times AnalyzeStack with one stack policy enabled at a time at the two
largest sizes, to name a policy that does not scale (its per-resource time would double).

    .venv/bin/python bench/policy_scaling.py [--sizes 100,500,1000,2000] [--repeat 3] [--per-policy]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from deploy.offline.analyzer import PolicyAnalyzer  # noqa: E402
from deploy.offline.capture import CapturedResource, run_program  # noqa: E402
from deploy.offline.stack_config import load_stack_config, project_name  # noqa: E402

POLICY_CONFIG_DIR = PROJECT_DIR / "policies" / "config"
# Outputs that identify a resource to others: a reference to it holds one of these values.
IDENTITY_OUTPUTS = ("id", "arn", "name", "keyId", "clusterIdentifier", "identifier", "globalClusterIdentifier",
                    "mainRouteTableId", "defaultRouteTableId", "defaultNetworkAclId", "defaultSecurityGroupId")


def copy_resources(resources: Sequence[CapturedResource], k: int) -> list[CapturedResource]:
    """Copy k of the stack: every resource renamed, every reference between them rewritten."""
    if k == 0:
        return list(resources)
    suffix = f"-x{k}"
    tokens: dict[str, str] = {}
    for r in resources:
        prefix, _, name = r.urn.rpartition("::")
        tokens[r.urn] = f"{prefix}::{name}{suffix}"
        for key in IDENTITY_OUTPUTS:
            for value in (r.outputs.get(key), r.id if key == "id" else None):
                if isinstance(value, str) and value:
                    tokens.setdefault(value, value + suffix)

    def remap(value: Any) -> Any:
        if isinstance(value, str):
            if value in tokens:
                return tokens[value]
            urn, sep, ident = value.rpartition("::")  # a provider reference: "<urn>::<id>"
            if sep and urn in tokens:
                return f"{tokens[urn]}::{tokens.get(ident, ident)}"
            return value
        if isinstance(value, list):
            return [remap(item) for item in value]
        if isinstance(value, dict):
            return {key: remap(item) for key, item in value.items()}
        return value

    return [
        dataclasses.replace(
            r,
            name=r.name + suffix,
            urn=tokens[r.urn],
            parent=remap(r.parent),
            inputs=remap(r.inputs),
            outputs=remap(r.outputs),
            provider=remap(r.provider),
            dependencies=remap(r.dependencies),
            property_dependencies=remap(r.property_dependencies),
            id=remap(r.id),
        )
        for r in resources
    ]


def stack_of(base: Sequence[CapturedResource], size: int) -> list[CapturedResource]:
    resources: list[CapturedResource] = []
    k = 0
    while len(resources) < size:
        resources += copy_resources(base, k)
        k += 1
    stack = resources[:size]
    urns = {r.urn for r in stack}
    if len(urns) != len(stack):
        raise AssertionError("copies of the stack share URNs")
    dangling = {u for r in stack for u in r.dependencies if u not in urns}
    if dangling:
        raise AssertionError(f"{len(dangling)} dependencies point outside the stack of {size}")
    return stack


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Slope and intercept of the line through (xs, ys)."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return slope, my - slope * mx


def r_squared(xs: Sequence[float], ys: Sequence[float], slope: float, intercept: float) -> float:
    my = statistics.fmean(ys)
    total = sum((y - my) ** 2 for y in ys)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    return 1 - residual / total if total else 1.0


def one_policy_config(base: Path, policy: str | None, all_policies: Sequence[str], directory: str) -> Path:
    """The stack's policy config with every policy disabled but ``policy`` (None: all disabled)."""
    given = json.loads(base.read_text()) if base.exists() else {}
    config: dict[str, Any] = {name: "disabled" for name in all_policies}
    if policy is not None:
        entry = given.get(policy)
        config[policy] = {**entry, "enforcementLevel": "mandatory"} if isinstance(entry, dict) else "mandatory"
    path = Path(directory) / f"{policy or 'none'}.json"
    path.write_text(json.dumps(config))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,500,1000,2000", help="stack sizes (default 100,500,1000,2000)")
    parser.add_argument("--stack", default="prod", help="stack whose resources are copied (default prod)")
    parser.add_argument("--mode", choices=("preview", "update"), default="update",
                        help="update (default): ids known, references are also followed by value; "
                             "preview: first-preview unknowns")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per size, median kept (default 3)")
    parser.add_argument("--per-policy", action="store_true",
                        help="also time each stack policy alone at the two largest sizes")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if len(sizes) < 2 or sizes[0] < 1 or args.repeat < 1:
        parser.error("--sizes needs at least two positive sizes and --repeat at least 1")

    capture = run_program(args.stack, args.mode)
    base = capture.resources
    config_path = POLICY_CONFIG_DIR / f"{args.stack}.json"
    started = time.perf_counter()
    with PolicyAnalyzer(project=project_name(), stack=args.stack, dry_run=args.mode == "preview",
                        stack_config=load_stack_config(args.stack)) as analyzer:
        startup = time.perf_counter() - started
        analyzer.configure(config_path if config_path.exists() else None)
        info = analyzer.get_analyzer_info()
        stack_policies = [p.name for p in info.policies if p.policy_type == "stack"]
        print(f"Policy pack {info.name}: {len(info.policies)} policies ({len(stack_policies)} stack policies), "
              f"started in {startup:.2f}s; config {config_path.name if config_path.exists() else '(defaults)'}")
        print(f"Resources: copies of stack {args.stack} ({len(base)} resources, {args.mode} mode); "
              f"median of {args.repeat} calls per size\n")
        print(f"{'resources':>9}  {'copies':>6}  {'Analyze all':>11}  {'per resource':>12}  {'AnalyzeStack':>12}  "
              f"{'per resource':>12}  {'violations':>10}")
        rows = []
        for size in sizes:
            resources = stack_of(base, size)
            analyze, violations = timed(lambda r=resources: analyzer.analyze(r), args.repeat)
            analyze_stack, stack_violations = timed(lambda r=resources: analyzer.analyze_stack(r), args.repeat)
            rows.append((size, analyze, analyze_stack))
            print(f"{size:>9}  {size / len(base):>6.2f}  {analyze:>10.3f}s  {analyze / size * 1000:>10.2f}ms  "
                  f"{analyze_stack:>11.3f}s  {analyze_stack / size * 1000:>10.2f}ms  "
                  f"{len(violations) + len(stack_violations):>10}")

        xs = [float(size) for size, _, _ in rows]
        print()
        print("Per-resource time ratios: 1.00 = linear; doubling the stack doubles a quadratic one.")
        for label, column in (("Analyze", 1), ("AnalyzeStack", 2), ("both", None)):
            ys = [row[1] + row[2] if column is None else row[column] for row in rows]
            slope, intercept = least_squares(xs, ys)
            growth = (ys[-1] / xs[-1]) / (ys[0] / xs[0])
            last = (ys[-1] / xs[-1]) / (ys[-2] / xs[-2])
            print(f"  {label:<12} slope {slope * 1000:.3f} ms/resource, intercept {intercept * 1000:+.0f} ms, "
                  f"r2 {r_squared(xs, ys, slope, intercept):.4f}; per resource {sizes[-1]} vs {sizes[0]}: "
                  f"{growth:.2f}x, {sizes[-1]} vs {sizes[-2]}: {last:.2f}x")
        if sizes[0] < len(base):
            print(f"  ({sizes[0]} resources are the first {sizes[0]} of one copy, registered before the clusters: "
                  f"less for the stack policies to follow per resource than in a whole copy)")
        total = rows[-1][1] + rows[-1][2]
        print(f"{sizes[-1]} resources: {total:.2f}s for Analyze of every resource plus AnalyzeStack")

        if args.per_policy:
            n_small, n_large = sizes[-2], sizes[-1]
            print(f"\nAnalyzeStack with one stack policy enabled, {n_small} and {n_large} resources; a policy's own "
                  f"time is the call's minus the call with every policy disabled:")
            small, large = stack_of(base, n_small), stack_of(base, n_large)
            names = [p.name for p in info.policies]
            with tempfile.TemporaryDirectory() as directory:
                results = {}
                for policy in [None, *stack_policies]:
                    analyzer.configure(one_policy_config(config_path, policy, names, directory))
                    t_small, _ = timed(lambda: analyzer.analyze_stack(small), args.repeat)
                    t_large, _ = timed(lambda: analyzer.analyze_stack(large), args.repeat)
                    results[policy] = (t_small, t_large)
            none_small, none_large = results.pop(None)
            print(f"  {'(every policy disabled: transport and pack)':<44} {none_small * 1000:8.1f} ms  "
                  f"{none_large * 1000:9.1f} ms  per-resource ratio {(none_large / n_large) / (none_small / n_small):5.2f}x")
            for policy, (t_small, t_large) in sorted(results.items(), key=lambda item: -item[1][1]):
                own_small, own_large = max(t_small - none_small, 1e-6), max(t_large - none_large, 1e-6)
                print(f"  {policy:<44} {own_small * 1000:8.1f} ms  {own_large * 1000:9.1f} ms  "
                      f"per-resource ratio {(own_large / n_large) / (own_small / n_small):5.2f}x")
            analyzer.configure(config_path if config_path.exists() else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
