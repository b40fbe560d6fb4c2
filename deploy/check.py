"""`python -m deploy check --stack S`: the offline plan, with no cloud access and no Pulumi CLI.

Runs the program on the SDK's mock engine with the committed stack configuration and
prints the plan: the resource tree and the count per type.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field

import yaml

from deploy.capture import MODES, Capture, CapturedResource, run_program
from deploy.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def register(subparsers) -> None:
    parser = subparsers.add_parser("check", help="offline: plan the stack on the mock engine and run the policy pack",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--mode", choices=MODES, default="preview",
                        help="preview: computed values unknown, as on a first preview (default); update: all known")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="what-if: override a setting for this check only (YAML value, e.g. readerCount=4); "
                             "repeatable; KEY without a namespace means aurora-platform:KEY")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.set_defaults(func=run)


@dataclass
class CheckResult:
    capture: Capture
    violations: list = field(default_factory=list)

    @property
    def mandatory_count(self) -> int:
        return sum(1 for v in self.violations if v.level == "mandatory")

    def summary(self) -> dict:
        levels = Counter(v.level for v in self.violations)
        return {
            "resources": len(self.capture.resources),
            "byType": dict(sorted(Counter(r.type for r in self.capture.resources).items())),
            "violations": {"mandatory": levels.get("mandatory", 0), "advisory": levels.get("advisory", 0)},
        }

    def to_json(self) -> dict:
        return {
            "stack": self.capture.stack,
            "mode": self.capture.mode,
            "resources": [{"type": r.type, "name": r.name, "urn": r.urn, "parent": r.parent}
                          for r in self.capture.resources],
            "violations": [{"policy": v.policy, "level": v.level, "urn": v.urn, "message": v.message}
                           for v in self.violations],
            "warnings": self.capture.warnings,
            "summary": self.summary(),
        }


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs to config entries in the engine's form (VALUE is read as YAML)."""
    from deploy.stack_config import engine_form, project_name

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set readerCount=4")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ValueError(f"--set {pair!r}: the value is not valid YAML ({error.problem})") from None
        overrides[key if ":" in key else f"{project_name()}:{key}"] = engine_form("" if parsed is None else parsed)
    return overrides


def run_check(stack: str, mode: str, overrides: dict[str, str] | None = None) -> CheckResult:
    return CheckResult(capture=run_program(stack, mode, overrides=overrides))


def render_tree(resources: list[CapturedResource]) -> list[str]:
    children: dict[str | None, list[CapturedResource]] = {}
    urns = {r.urn for r in resources}
    for r in resources:
        parent = r.parent if r.parent in urns else None
        children.setdefault(parent, []).append(r)
    lines: list[str] = []

    def walk(parent: str | None, indent: str) -> None:
        items = sorted(children.get(parent, []), key=lambda r: (r.type, r.name))
        for i, r in enumerate(items):
            last = i == len(items) - 1
            marks = [m for m, on in (("protect", r.protect), ("ignore_changes", bool(r.ignore_changes))) if on]
            suffix = f"  [{', '.join(marks)}]" if marks else ""
            lines.append(f"{indent}{'└─ ' if last else '├─ '}{r.type}  {r.name}{suffix}")
            walk(r.urn, indent + ("   " if last else "│  "))

    walk(None, "")
    return lines


def print_text(result: CheckResult, out=sys.stdout) -> None:
    capture = result.capture
    print(f"Plan for stack {capture.stack} ({capture.mode} mode, offline mock engine)", file=out)
    for line in render_tree(capture.resources):
        print(f"  {line}", file=out)
    summary = result.summary()
    print(f"\nResources: {summary['resources']}", file=out)
    width = max((len(t) for t in summary["byType"]), default=0)
    for type_, count in summary["byType"].items():
        print(f"  {type_:<{width}}  {count:>3}", file=out)
    for warning in capture.warnings:
        print(f"warning: {warning}", file=out)


def run(args: argparse.Namespace) -> int:
    from components.settings import SettingsError
    from deploy.stack_config import UnknownStackError

    try:
        result = run_check(args.stack, args.mode, parse_overrides(args.overrides))
    except (UnknownStackError, SettingsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        print()
    else:
        print_text(result)
    return EXIT_FAILED if result.mandatory_count else EXIT_OK
