"""`python -m deploy check --stack S`: the offline plan and policy check, with no cloud access and no Pulumi CLI.

Runs the program on the SDK's mock engine with the committed stack configuration, sends
every captured resource to the real policy pack over the analyzer protocol (resource and
stack analysis, with ``policies/config/<stack>.json``), and prints the plan (resource tree,
count per type) and every violation. Exit 0 when no mandatory violation, 1 when any, 2 on
a usage or settings error.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import json
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from deploy.args import add_overrides, add_stack, output_path, setting_override
from deploy.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from deploy.offline.analyzer import _SIG_KEY, UNKNOWN, AnalysisCall, AnalyzerInfo, PolicyAnalyzer, PolicyConfig, Violation
from deploy.offline.capture import MODES, Capture, CapturedResource, run_program
from deploy.offline.stack_config import PROJECT_DIR

POLICY_CONFIG_DIR = PROJECT_DIR / "policies" / "config"


def register(subparsers) -> None:
    parser = subparsers.add_parser("check", help="offline: plan the stack on the mock engine and run the policy pack",
                                   description=__doc__.split("\n\n")[0])
    add_stack(parser)
    parser.add_argument("--mode", choices=MODES, default="preview",
                        help="preview: computed values unknown, as on a first preview (default); update: all known")
    add_overrides(parser, "what-if: override a setting for this check only (YAML value, e.g. readerCount=4)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    output.add_argument("--markdown", action="store_true", help="a pull-request comment: summary table and violations")
    parser.add_argument("--sarif", metavar="FILE", type=output_path,
                        help="also write the violations as SARIF 2.1.0 (one rule per policy) for code scanning; "
                             "the path is checked before the check runs")
    parser.set_defaults(func=run)


@dataclass
class CheckResult:
    capture: Capture
    violations: list[Violation] = field(default_factory=list)
    policies: AnalyzerInfo | None = None
    policy_config: dict[str, PolicyConfig] = field(default_factory=dict)

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
            "resources": [{"type": r.type, "name": r.name, "urn": r.urn, "parent": r.parent,
                           "inputs": shown_inputs(r.inputs)}
                          for r in self.capture.resources],
            "violations": [{"policy": v.policy, "level": v.level, "urn": v.urn, "message": v.message}
                           for v in self.violations],
            "warnings": self.capture.warnings,
            "policies": [{"name": policy.name, "type": policy.policy_type, "enforcementLevel": self.level_of(policy)}
                         for policy in (self.policies.policies if self.policies else ())],
            "summary": self.summary(),
        }

    def level_of(self, policy) -> str:
        """The enforcement level the stack's policy config gives ``policy`` (the pack's own without one)."""
        configured = self.policy_config.get(policy.name)
        return (configured.enforcement_level if configured else None) or policy.enforcement_level


def shown_inputs(value):
    """Inputs as the engine would send them, for the JSON plan: secrets masked, unknowns named."""
    if isinstance(value, dict):
        if _SIG_KEY in value:
            return "[secret]"
        return {k: shown_inputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_inputs(v) for v in value]
    return "[unknown]" if value == UNKNOWN else value


def parse_overrides(pairs: list[str | tuple[str, str]]) -> dict[str, str]:
    """``--set`` values as config entries in the engine's form: ``KEY=VALUE`` text, or the (key, value) pairs
    ``deploy.args.setting_override`` already made of it when the command line was read."""
    overrides = {}
    for pair in pairs:
        if isinstance(pair, str):
            try:
                pair = setting_override(pair)
            except argparse.ArgumentTypeError as error:
                raise ValueError(f"--set {error}") from None
        key, value = pair
        overrides[key] = value
    return overrides


def policy_config_path(stack: str) -> Path | None:
    path = POLICY_CONFIG_DIR / f"{stack}.json"
    return path if path.is_file() else None


def run_check(stack: str, mode: str, overrides: dict[str, str] | None = None) -> CheckResult:
    from deploy.offline.stack_config import load_stack_config, project_name

    config = load_stack_config(stack)
    config.update(overrides or {})
    project = project_name()

    # The pack boots in its own process while the program runs on the mock engine, and, as
    # the engine does, each resource is sent to Analyze as soon as it is registered: the pack
    # works on another core while the program is still running.
    providers: dict[str, CapturedResource] = {}
    calls: dict[str, tuple[CapturedResource, AnalysisCall]] = {}
    lock = threading.Lock()
    waiting: list[CapturedResource] = []  # registered before the pack was ready
    ready: list[PolicyAnalyzer] = []

    def send(analyzer: PolicyAnalyzer, resource: CapturedResource) -> None:
        calls[resource.urn] = (resource, analyzer.start_analyze(resource, providers))

    def registered(resource: CapturedResource) -> None:
        if resource.type.startswith("pulumi:providers:"):
            providers[resource.urn] = resource
        with lock:
            if not ready:
                waiting.append(resource)
                return
        send(ready[0], resource)

    def start() -> tuple[PolicyAnalyzer, AnalyzerInfo, dict[str, PolicyConfig]]:
        analyzer = PolicyAnalyzer(project=project, stack=stack, dry_run=(mode == "preview"),
                                  stack_config={k: v for k, v in config.items() if k == "aws:region"})
        try:
            info, policy_config = analyzer.get_analyzer_info(), analyzer.configure(policy_config_path(stack))
            with lock:
                ready.append(analyzer)
                backlog = list(waiting)
            for resource in backlog:
                send(analyzer, resource)
        except BaseException:
            analyzer.close()
            raise
        return analyzer, info, policy_config

    with ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(start)
        try:
            capture = run_program(stack, mode, config=config, project=project, on_resource=registered)
        except BaseException:
            try:
                starting.result()[0].close()
            except Exception:  # the program's error is the one to report
                pass
            raise
        analyzer, info, policy_config = starting.result()
    with analyzer:
        violations: list[Violation] = []
        final_providers = {r.urn: r for r in capture.resources if r.type.startswith("pulumi:providers:")}
        for resource in capture.resources:
            sent, call = calls.get(resource.urn, (None, None))
            if call is None or sent is not resource:  # a capture the run did not hand over as registered
                call = analyzer.start_analyze(resource, final_providers)
            violations += call.violations()
        violations += analyzer.analyze_stack(capture.resources)
    return CheckResult(capture=capture, violations=violations, policies=info, policy_config=policy_config)


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


def resource_label(urn: str) -> str:
    """``name (type)`` from a URN; the stack itself for stack-level findings."""
    if not urn:
        return "(stack)"
    parts = urn.split("::")
    return f"{parts[-1]} ({parts[-2].split('$')[-1]})" if len(parts) >= 4 else urn


def grouped_violations(violations: list[Violation]) -> dict[tuple[str, str], list[Violation]]:
    """Violations by (level, policy), mandatory first, then by policy name."""
    order = {"mandatory": 0, "remediate": 1, "advisory": 2}
    groups: dict[tuple[str, str], list[Violation]] = {}
    for violation in sorted(violations, key=lambda v: (order.get(v.level, 3), v.policy, v.urn)):
        groups.setdefault((violation.level, violation.policy), []).append(violation)
    return groups


def print_text(result: CheckResult, out=None) -> None:
    out = out or sys.stdout
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

    counts = summary["violations"]
    policy_count = len(result.policies.policies) if result.policies else 0
    config_file = policy_config_path(capture.stack)
    config_text = f"policies/config/{config_file.name}" if config_file else "the pack's default levels (no config file)"
    print(f"\nPolicies: {policy_count} checked with {config_text}; "
          f"{counts['mandatory']} mandatory, {counts['advisory']} advisory violations", file=out)
    for (level, policy), violations in grouped_violations(result.violations).items():
        print(f"\n  [{level}] {policy} ({len(violations)})", file=out)
        for violation in violations:
            message = violation.message.strip().replace("\n", "\n      ")
            print(f"    - {resource_label(violation.urn)}\n      {message}", file=out)
    verdict = "FAILED: mandatory policy violations" if counts["mandatory"] else "OK: no mandatory policy violation"
    print(f"\n{verdict}", file=out)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(result: CheckResult) -> str:
    capture, counts = result.capture, result.summary()["violations"]
    status = "❌ mandatory policy violations" if counts["mandatory"] else "✅ no mandatory policy violation"
    lines = [
        f"### aurora-platform check: stack `{capture.stack}` ({capture.mode} mode)",
        "",
        status,
        "",
        "| | count |",
        "|---|---:|",
        f"| resources | {len(capture.resources)} |",
        f"| policies checked | {len(result.policies.policies) if result.policies else 0} |",
        f"| mandatory violations | {counts['mandatory']} |",
        f"| advisory violations | {counts['advisory']} |",
    ]
    if result.violations:
        lines += ["", "#### Violations", "", "| level | policy | resource | what is wrong and how to fix it |",
                  "|---|---|---|---|"]
        for (level, policy), violations in grouped_violations(result.violations).items():
            for violation in violations:
                resource = _md(resource_label(violation.urn))
                lines.append(f"| {level} | `{policy}` | `{resource}` | {_md(violation.message.strip())} |")
    if capture.warnings:
        lines += ["", "#### Warnings", ""] + [f"- {_md(w)}" for w in capture.warnings]
    return "\n".join(lines) + "\n"


SARIF_LEVELS = {"mandatory": "error", "remediate": "error", "advisory": "warning", "disabled": "none"}


def render_sarif(result: CheckResult) -> dict:
    """SARIF 2.1.0: one rule per policy of the pack, one result per violation, located at the stack file."""
    policies = result.policies.policies if result.policies else ()
    rules = []
    for policy in policies:
        level = result.level_of(policy)
        rules.append({
            "id": policy.name,
            "name": policy.name,
            "shortDescription": {"text": policy.description.split("\n")[0][:1000]},
            "fullDescription": {"text": policy.description},
            "defaultConfiguration": {"level": SARIF_LEVELS.get(level, "warning")},
            "properties": {"enforcementLevel": level, "policyType": policy.policy_type},
        })
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    stack_file = f"Pulumi.{result.capture.stack}.yaml"
    results = []
    for violation in result.violations:
        entry = {
            "ruleId": violation.policy,
            "level": SARIF_LEVELS.get(violation.level, "warning"),
            "message": {"text": violation.message.strip() or violation.description},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": stack_file}, "region": {"startLine": 1}},
                "logicalLocations": [{"fullyQualifiedName": violation.urn or "stack", "kind": "resource"}],
            }],
            "partialFingerprints": {"policyAndResource": f"{violation.policy}:{violation.urn}"},
        }
        if violation.policy in index:
            entry["ruleIndex"] = index[violation.policy]
        results.append(entry)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "aurora-platform policy pack",
                "version": result.policies.version if result.policies else "",
                "rules": rules,
            }},
            "automationDetails": {"id": f"deploy-check/{result.capture.stack}/{result.capture.mode}"},
            "results": results,
        }],
    }


@functools.cache
def _skip_collection_at_exit() -> None:
    """The interpreter's garbage collection at exit walks every object the provider SDK's
    modules made (0.4 s of a 1.5 s check); objects frozen by an exit handler are left to the
    operating system instead. Only at exit: in a longer-lived process (the tests) nothing changes."""
    atexit.register(gc.freeze)


def run(args: argparse.Namespace) -> int:
    from components.naming import short_stack_name
    from components.settings import SettingsError
    from deploy.offline.analyzer import AnalyzerStartError
    from deploy.offline.capture import DuplicateResourceError
    from deploy.offline.stack_config import UnknownStackError

    _skip_collection_at_exit()
    try:
        result = run_check(short_stack_name(args.stack), args.mode, dict(args.overrides))
    except (UnknownStackError, SettingsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DuplicateResourceError as error:
        print(f"error: the program is invalid: {error}", file=sys.stderr)
        return EXIT_FAILED
    except AnalyzerStartError as error:
        print(f"error: the policy pack did not start: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.sarif:
        try:
            args.sarif.write_text(json.dumps(render_sarif(result), indent=2) + "\n")
        except OSError as error:  # checked writable before the check ran; a full disk shows only now
            print(f"error: --sarif {args.sarif}: could not write it: {error.strerror or error}", file=sys.stderr)
            return EXIT_FAILED
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        print()
    elif args.markdown:
        sys.stdout.write(render_markdown(result))
    else:
        print_text(result)
    return EXIT_FAILED if result.mandatory_count else EXIT_OK
