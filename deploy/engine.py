"""`python -m deploy preview|up|refresh|destroy --stack S`: the engine commands, on the
Pulumi Automation API with the local program in the project directory.

- ``preview`` and ``up`` always attach the policy pack (``policies/``) and the stack's
  policy config (``policies/config/<stack>.json``). A mandatory violation exits 1.
- ``refresh`` is a drift check: a refresh preview (``Stack.preview_refresh``) that changes
  neither the cloud nor the state. Resources whose live state differs from the state
  file are listed; drift exits 3. The installed Automation API takes no policy pack for
  refresh or destroy (the engine runs policies on resource registrations, which those
  operations do not make), so none is attached there.
- ``destroy`` refuses a stack whose state holds protected resources and names them, and a
  stack with reader auto scaling registered: readers it added (``application-autoscaling-*``)
  are not in the stack and block deleting the cluster, so it says how to remove them first.
  ``--force`` confirms destroying a production stack (``production: true``); it never
  overrides ``protect``. The deliberate path is ``pulumi state unprotect`` (see the
  refusal message), after turning RDS deletion protection off with an ``up``.

Progress streams from the engine's events: one compact line per resource with a running
count; ``--diff`` adds the changed properties. A summary (changes by kind, policy
violations by level, drift) is printed and, when ``GITHUB_STEP_SUMMARY`` is set, appended
there as markdown.

The deciding code (which Automation API call with which arguments, events to progress
lines and summary, drift, exit code) is plain functions; ``run`` is the thin call.
Exit codes: 0 ok, 1 failure or mandatory policy violation or refused destroy, 2 usage or
settings error (unknown stack, invalid settings, no Pulumi CLI), 3 drift found by refresh.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from components.naming import short_stack_name
from deploy.args import add_stack
from deploy.errors import EXIT_DRIFT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandRefused
from deploy.offline.stack_config import PROJECT_DIR
from deploy.runbooks.base import error_tail, open_stack, require_pulumi_cli, resolve_settings

COMMANDS = ("preview", "up", "refresh", "destroy")
POLICY_PACK_DIR = "policies"

# command -> (Automation API Stack method, create the stack when it does not exist yet)
STACK_METHODS: dict[str, tuple[str, bool]] = {
    "preview": ("preview", True),
    "up": ("up", True),
    "refresh": ("preview_refresh", False),
    "destroy": ("destroy", False),
}

HELP = {
    "preview": "Automation API preview with the policy pack; exit 1 on a mandatory violation",
    "up": "Automation API update with the policy pack; exit 1 on a mandatory violation",
    "refresh": "drift check: refresh preview, exit 3 when live resources differ from the state",
    "destroy": "destroy the stack; refused while it holds protected resources",
}

OP_SYMBOLS = {
    "create": "+", "update": "~", "delete": "-", "replace": "+-", "create-replacement": "++",
    "delete-replaced": "--", "read": ">", "read-replacement": ">>", "refresh": "~", "import": "=>",
    "import-replacement": "=>", "discard": "-", "discard-replaced": "-", "remove-pending-replace": "-",
    "same": " ",
}
# Ops a refresh reports for resources whose live state differs from the state file.
DRIFT_OPS = ("update", "delete")
UNCHANGED_OPS = ("same", "refresh", "read")


# ---------------------------------------------------------------------------------------
# Stack and flag selection.
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyFiles:
    pack: Path
    config: Path


def policy_files(stack: str, project_dir: Path | None = None) -> PolicyFiles:
    """The policy pack and the stack's policy config; a refusal naming the missing path."""
    short = short_stack_name(stack)
    project_dir = project_dir or PROJECT_DIR
    pack = project_dir / POLICY_PACK_DIR
    config = pack / "config" / f"{short}.json"
    if not (pack / "PulumiPolicy.yaml").is_file():
        raise CommandRefused(f"policy pack not found: {pack}/PulumiPolicy.yaml (every preview and up attaches it)")
    if not config.is_file():
        raise CommandRefused(f"policy config for stack {short} not found: {config} "
                             "(every preview and up attaches the stack's policy config)")
    return PolicyFiles(pack=pack, config=config)


def accepted_parameters(method: Callable) -> set[str]:
    return set(inspect.signature(method).parameters) - {"self"}


def operation_kwargs(command: str, accepted: set[str], *, policies: PolicyFiles | None, diff: bool,
                     on_event: Callable | None) -> dict[str, Any]:
    """Keyword arguments of the Automation API call for ``command``.

    ``accepted`` is the parameter set of the installed method (``accepted_parameters``):
    the policy pack goes wherever the installed API takes one, and a command that must
    carry it (preview, up) is refused when the API cannot.
    """
    method = STACK_METHODS[command][0]
    # Presentation options are dropped where the installed method lacks them; what the
    # command's contract needs (the event stream, the policy pack) is not.
    kwargs: dict[str, Any] = {key: value for key, value in (("color", "never"), ("diff", True if diff else None))
                              if value is not None and key in accepted}
    if on_event is not None:
        kwargs["on_event"] = on_event
    takes_policies = {"policy_packs", "policy_pack_configs"} <= accepted
    if command in ("preview", "up") and not takes_policies:
        raise CommandRefused(f"the installed Automation API's Stack.{method} takes no "
                             "policy_packs/policy_pack_configs; upgrade the pulumi package", EXIT_FAILED)
    if takes_policies and policies is not None:
        kwargs["policy_packs"] = [str(policies.pack)]
        kwargs["policy_pack_configs"] = [str(policies.config)]
    unknown = set(kwargs) - accepted
    if unknown:
        raise CommandRefused(f"the installed Automation API's Stack.{method} does not take "
                             f"{', '.join(sorted(unknown))}; upgrade the pulumi package", EXIT_FAILED)
    return kwargs


# ---------------------------------------------------------------------------------------
# Engine events -> progress lines and a report.
# ---------------------------------------------------------------------------------------

def _op(value: Any) -> str:
    """OpType members and plain strings (summary keys arrive as strings) to the op's name."""
    return str(getattr(value, "value", value))


def urn_name(urn: str | None) -> str:
    return urn.rsplit("::", 1)[-1] if urn else ""


@dataclass
class ResourceStep:
    op: str
    type: str
    urn: str
    properties: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return urn_name(self.urn)


@dataclass
class PolicyViolation:
    policy: str
    level: str
    message: str
    urn: str | None = None
    pack: str = ""


@dataclass
class RunReport:
    command: str
    stack: str
    steps: list[ResourceStep] = field(default_factory=list)
    failed: list[ResourceStep] = field(default_factory=list)
    violations: list[PolicyViolation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary_changes: dict[str, int] | None = None
    duration_seconds: int | None = None
    policy_packs: dict[str, str] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set, repr=False)

    def changes_by_kind(self) -> dict[str, int]:
        """The engine's own counts (summary event) when it sent them, else the counted steps."""
        if self.summary_changes is not None:
            counts = self.summary_changes
        else:
            counts = Counter(step.op for step in self.steps)
        return {op: n for op, n in sorted(counts.items()) if n}

    def violations_by_level(self) -> dict[str, int]:
        return dict(sorted(Counter(v.level for v in self.violations).items()))

    @property
    def mandatory_violations(self) -> list[PolicyViolation]:
        return [v for v in self.violations if v.level == "mandatory"]

    def drifted(self) -> list[ResourceStep]:
        return [step for step in self.steps if step.op in DRIFT_OPS]

    def has_drift(self) -> bool:
        if self.drifted():
            return True
        return any(op not in UNCHANGED_OPS and n for op, n in (self.summary_changes or {}).items())


def _properties(metadata) -> tuple[str, ...]:
    detailed = getattr(metadata, "detailed_diff", None) or {}
    if detailed:
        return tuple(f"{path} ({_op(diff.diff_kind)})" for path, diff in sorted(detailed.items()))
    return tuple(metadata.diffs or ())


def progress_line(report: RunReport, step: ResourceStep, *, show_diff: bool, suffix: str = "") -> str:
    symbol = OP_SYMBOLS.get(step.op, "*")
    line = f"[{len(report._seen):4d}] {symbol:>2} {step.op:<18} {step.type}  {step.name}{suffix}"
    if show_diff and step.properties:
        line += "\n" + "\n".join(f"{'':14}{prop}" for prop in step.properties)
    return line


def handle_event(report: RunReport, event, *, show_diff: bool = False) -> list[str]:
    """Fold one ``pulumi.automation.events.EngineEvent`` into ``report``; the lines to print.

    A resource gets one line: in a preview when the engine plans it (its pre event), in
    the other commands when it is done (its outputs event, which for a refresh carries
    the outcome: same, update or delete) or when it failed.
    """
    lines: list[str] = []
    preview = report.command == "preview"
    if event.resource_pre_event is not None and preview:
        lines += _resource_done(report, event.resource_pre_event.metadata, show_diff)
    elif event.res_outputs_event is not None:
        lines += _resource_done(report, event.res_outputs_event.metadata, show_diff)
    elif event.res_op_failed_event is not None:
        metadata = event.res_op_failed_event.metadata
        step = ResourceStep(op=_op(metadata.op), type=metadata.type, urn=metadata.urn)
        report.failed.append(step)
        report._seen.add(step.urn)
        lines.append(progress_line(report, step, show_diff=False, suffix="  FAILED"))
    elif event.policy_event is not None:
        policy = event.policy_event
        violation = PolicyViolation(policy=policy.policy_name, level=policy.enforcement_level or "advisory",
                                    message=(policy.message or "").strip(), urn=policy.resource_urn,
                                    pack=policy.policy_pack_name)
        report.violations.append(violation)
        where = f" ({urn_name(violation.urn)})" if violation.urn else ""
        lines.append(f"       ! {violation.level} {violation.policy}{where}: {_first_line(violation.message)}")
    elif event.diagnostic_event is not None:
        diagnostic = event.diagnostic_event
        message = (diagnostic.message or "").strip()
        if diagnostic.ephemeral or not message:
            return lines
        if diagnostic.severity == "error":
            report.errors.append(message)
            lines.append(f"       error: {_first_line(message)}")
        elif diagnostic.severity == "warning":
            report.warnings.append(message)
            lines.append(f"       warning: {_first_line(message)}")
    elif event.summary_event is not None:
        summary = event.summary_event
        report.summary_changes = {_op(op): int(n) for op, n in (summary.resource_changes or {}).items()}
        report.duration_seconds = summary.duration_seconds
        report.policy_packs = dict(summary.policy_packs or {})
    return lines


def _resource_done(report: RunReport, metadata, show_diff: bool) -> list[str]:
    if metadata.urn in report._seen:
        return []
    step = ResourceStep(op=_op(metadata.op), type=metadata.type, urn=metadata.urn, properties=_properties(metadata))
    report._seen.add(step.urn)
    report.steps.append(step)
    return [progress_line(report, step, show_diff=show_diff)]


def cli_stderr(error: BaseException, lines: int = 25) -> str:
    """The CLI's stderr from an Automation API ``CommandError`` (its text ends with `` stderr: ...``)."""
    text = str(error)
    _, marker, stderr = text.rpartition(" stderr: ")
    return "\n".join((stderr if marker else error_tail(error, lines)).strip().splitlines()[-lines:])


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def replay(report: RunReport, events: Iterable, *, show_diff: bool = False) -> list[str]:
    """All lines a sequence of events prints (recorded sequences in tests, or a log)."""
    lines: list[str] = []
    for event in events:
        lines += handle_event(report, event, show_diff=show_diff)
    return lines


# ---------------------------------------------------------------------------------------
# Decisions: exit code, protected resources.
# ---------------------------------------------------------------------------------------

def exit_code(report: RunReport, *, failed: bool) -> int:
    """1 on a mandatory violation or a failed operation; 3 when a refresh found drift; else 0."""
    if report.mandatory_violations or failed:
        return EXIT_FAILED
    if report.command == "refresh" and report.has_drift():
        return EXIT_DRIFT
    return EXIT_OK


def outcome(report: RunReport, code: int) -> str:
    if code == EXIT_DRIFT:
        return f"drift: {len(report.drifted()) or 'some'} resource(s) differ from the state"
    if report.mandatory_violations:
        n = len(report.mandatory_violations)
        return f"failed: {n} mandatory policy violation{'s' if n != 1 else ''}"
    if code != EXIT_OK:
        return "failed"
    return "no drift" if report.command == "refresh" else "succeeded"


def protected_resources(deployment: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(urn, type) of every resource with ``protect: true`` in an exported deployment."""
    resources = (deployment or {}).get("resources") or []
    return [(r.get("urn", ""), r.get("type", "")) for r in resources if r.get("protect")]


def destroy_refusal(stack: str, protected: list[tuple[str, str]]) -> str:
    listed = "\n".join(f"  - {urn} ({rtype})" for urn, rtype in protected)
    return (
        f"destroy refused: stack {stack} holds {len(protected)} protected resource"
        f"{'s' if len(protected) != 1 else ''}:\n{listed}\n"
        "`--force` does not override `protect`. To destroy deliberately:\n"
        "  1. turn RDS deletion protection off: set aurora-platform:deletionProtection false (and "
        "aurora-platform:production false, which keeps it on) and run `python -m deploy up`;\n"
        f"  2. unprotect each resource: `pulumi state unprotect --stack {stack} '<urn>'` "
        f"(or all at once: `pulumi state unprotect --stack {stack} --all`);\n"
        f"  3. run `python -m deploy destroy --stack {stack} --force` again."
    )


SCALABLE_TARGET = "aws:appautoscaling/target:Target"
AUTOSCALED_READER_PREFIX = "application-autoscaling-"


def reader_scaling_targets(deployment: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(cluster identifier, region) of every Aurora cluster whose readers Application Auto Scaling
    manages, from an exported deployment (the scalable targets the stack registered)."""
    resources = (deployment or {}).get("resources") or []
    regions = {r.get("urn", ""): (r.get("inputs") or {}).get("region") or (r.get("outputs") or {}).get("region", "")
               for r in resources if str(r.get("type", "")).startswith("pulumi:providers:")}
    found = []
    for r in resources:
        state = {**(r.get("inputs") or {}), **(r.get("outputs") or {})}
        if r.get("type") != SCALABLE_TARGET or state.get("serviceNamespace") != "rds":
            continue
        region = regions.get(str(r.get("provider", "")).rsplit("::", 1)[0], "")
        found.append((str(state.get("resourceId", "")).removeprefix("cluster:"), region))
    return found


def autoscaled_readers_refusal(stack: str, targets: list[tuple[str, str]]) -> str:
    """Why destroy stops while reader auto scaling is on, and the steps that make it possible.

    Readers that auto scaling adds (``application-autoscaling-*``) are not in the stack: Pulumi
    does not delete them, and RDS refuses to delete a cluster that still has instances, so the
    destroy would fail half-way (instances gone, cluster left)."""
    clusters = "\n".join(f"  - {cluster} ({region or 'its region'})" for cluster, region in targets)
    cluster, region = targets[0]
    return (
        f"destroy refused: reader auto scaling is on for stack {stack}:\n{clusters}\n"
        f"Readers it added ({AUTOSCALED_READER_PREFIX}*) are not in the stack, and RDS refuses to delete a "
        "cluster that still has instances. First:\n"
        "  1. set aurora-platform:readerAutoScaling false and run `python -m deploy up`, which removes the "
        "scaling policy and target (nothing adds readers during the destroy);\n"
        "  2. delete the readers auto scaling added, e.g.\n"
        f"     aws rds describe-db-instances --region {region or '<region>'} "
        f"--filters Name=db-cluster-id,Values={cluster} "
        f"--query \"DBInstances[?starts_with(DBInstanceIdentifier, '{AUTOSCALED_READER_PREFIX}')].DBInstanceIdentifier\"\n"
        f"     aws rds delete-db-instance --region {region or '<region>'} --db-instance-identifier <each of them>;\n"
        f"  3. run `python -m deploy destroy --stack {stack}` again."
    )


# ---------------------------------------------------------------------------------------
# Summary: text and markdown.
# ---------------------------------------------------------------------------------------

def summary_text(report: RunReport, code: int) -> str:
    lines = [f"{report.command} on stack {report.stack}: {outcome(report, code)}"]
    changes = report.changes_by_kind()
    lines.append("  changes: " + (", ".join(f"{OP_SYMBOLS.get(op, '*').strip() or '='}{n} {op}"
                                            for op, n in changes.items()) or "none reported"))
    levels = report.violations_by_level()
    lines.append("  policy violations: " + (", ".join(f"{n} {level}" for level, n in levels.items()) or "none"))
    for v in report.violations:
        where = f" {urn_name(v.urn)}" if v.urn else ""
        lines.append(f"    [{v.level}] {v.policy}{where}: {_first_line(v.message)}")
    if report.command == "refresh":
        drifted = report.drifted()
        lines.append(f"  drifted resources: {len(drifted) if drifted else ('none' if not report.has_drift() else 'see changes')}")
        for step in drifted:
            props = f" ({', '.join(step.properties)})" if step.properties else ""
            lines.append(f"    {step.op} {step.type} {step.name}{props}")
    if report.failed:
        lines.append("  failed resources: " + ", ".join(f"{s.type} {s.name}" for s in report.failed))
    for error in report.errors:
        lines.append(f"  error: {_first_line(error)}")
    if report.duration_seconds is not None:
        lines.append(f"  duration: {report.duration_seconds}s")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return _first_line(text).replace("|", "\\|")


def summary_markdown(report: RunReport, code: int) -> str:
    icon = {EXIT_OK: "✅", EXIT_DRIFT: "⚠️"}.get(code, "❌")
    out = [f"### {icon} `{report.command}` on stack `{report.stack}`: {outcome(report, code)}", ""]
    changes = report.changes_by_kind()
    if changes:
        out += ["| change | resources |", "|---|---:|"]
        out += [f"| {op} | {n} |" for op, n in changes.items()]
        out.append("")
    levels = report.violations_by_level()
    if report.violations:
        out.append("**Policy violations:** " + ", ".join(f"{n} {level}" for level, n in levels.items()))
        out += ["", "| level | policy | resource | message |", "|---|---|---|---|"]
        out += [f"| {v.level} | `{v.policy}` | {_cell(urn_name(v.urn)) or '(stack)'} | {_cell(v.message)} |"
                for v in report.violations]
        out.append("")
    else:
        out += ["**Policy violations:** none", ""]
    if report.command == "refresh" and report.drifted():
        out += ["**Drifted resources:**", "", "| change | type | resource | properties |", "|---|---|---|---|"]
        out += [f"| {s.op} | `{s.type}` | {_cell(s.name)} | {_cell(', '.join(s.properties))} |"
                for s in report.drifted()]
        out.append("")
    for error in report.errors:
        out.append(f"> error: {_cell(error)}")
    return "\n".join(out).rstrip() + "\n"


def append_step_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> bool:
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown + "\n")
    return True


# ---------------------------------------------------------------------------------------
# The thin call into pulumi.automation.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    for command in COMMANDS:
        parser = subparsers.add_parser(command, help=HELP[command], description=HELP[command])
        add_stack(parser)
        parser.add_argument("--diff", action="store_true", help="show the changed properties of each resource")
        if command == "destroy":
            parser.add_argument("--force", action="store_true",
                                help="confirm destroying a production stack; never overrides `protect`")
        parser.set_defaults(func=run, engine_command=command)


def run(args) -> int:
    return _run(args.engine_command, args.stack, diff=args.diff, force=getattr(args, "force", False))


def _run(command: str, stack: str, *, diff: bool, force: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    settings = resolve_settings(stack)
    short = short_stack_name(stack)
    if command == "destroy" and settings.production and not force:
        raise CommandRefused(f"stack {short} is a production stack (aurora-platform:production: true): "
                             "pass --force to confirm destroying it", EXIT_USAGE)
    require_pulumi_cli()
    policies = policy_files(stack) if command in ("preview", "up") else None

    from pulumi import automation as auto

    method_name, create = STACK_METHODS[command]
    handle = open_stack(stack, create=create)
    if command == "destroy":
        deployment = handle.export_stack().deployment
        protected = protected_resources(deployment)
        if protected:
            raise CommandRefused(destroy_refusal(stack, protected), EXIT_FAILED)
        scaled = reader_scaling_targets(deployment)
        if scaled:
            raise CommandRefused(autoscaled_readers_refusal(short, scaled), EXIT_FAILED)

    report = RunReport(command=command, stack=short)
    lock = threading.Lock()

    def on_event(event) -> None:  # called from the Automation API's event threads
        with lock:
            for line in handle_event(report, event, show_diff=diff):
                print(line, file=out, flush=True)

    method = getattr(handle, method_name)
    kwargs = operation_kwargs(command, accepted_parameters(method), policies=policies, diff=diff,
                              on_event=on_event)
    attached = f" with policy pack {policies.pack} and config {policies.config}" if policies else ""
    print(f"{command} on stack {stack}{attached}", file=out, flush=True)
    failed = False
    try:
        method(**kwargs)
    except auto.CommandError as error:
        failed = True
        print(f"pulumi {command} failed:\n{cli_stderr(error)}", file=sys.stderr)
    code = exit_code(report, failed=failed)
    print(summary_text(report, code), file=out)
    append_step_summary(summary_markdown(report, code))
    return code
