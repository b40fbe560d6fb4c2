"""`python -m deploy diff --stack S [--base REF] [--set KEY=VALUE]`: what a change does to a deployed stack, offline.

The base is the program and stack config at git ref REF (default HEAD), read from a temporary
git worktree; the head is the working tree plus any --set. Both run on the mock engine in update
mode, the base in a process of its own (``deploy.offline.capture_json``) beside the head, and the
two captures are diffed per URN (aliases honoured) with the offline model's replacement table.
Each resource is created, updated (the changed properties), replaced (the properties that force
it, and whether the delete comes first) or deleted. Exit 1 when a stateful or protected resource
would be replaced or deleted, or a new resource would take a name or unique value that an old one
still holds (a create-before-delete clash); 2 on bad input (unknown ref, stack or setting).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.args import add_overrides, add_stack
from deploy.errors import EXIT_FAILED, EXIT_OK, CommandRefused
from deploy.offline import aws_model
from deploy.offline.capture import Capture, CapturedResource, DuplicateResourceError, run_program
from deploy.offline.diff_preview import propagate
from deploy.offline.diff_rules import ACTION_ORDER, STATEFUL_LOSS, Finding, StackFacts, find_problems, plain, unique_key
from deploy.offline.diff_rules import provider_urn as _urn_of
from deploy.offline.stack_config import PROJECT_DIR, UnknownStackError, load_stack_config

STATEFUL_TYPES = frozenset(STATEFUL_LOSS)  # the types whose replacement or deletion loses what STATEFUL_LOSS says
# A provider whose region changes is replaced, and every resource it manages with it.
PROVIDER_REPLACING = {"pulumi:providers:aws": frozenset({"region"})}


@dataclass
class Change:
    urn: str
    type: str
    name: str
    action: str  # create | update | replace | delete
    properties: list[str] = field(default_factory=list)
    replace_reasons: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    stateful: bool = False
    protect: bool = False
    base_urn: str | None = None  # the resource in the base (another URN when matched through an alias)
    # Property -> the replaced or created resource it depends on: unknown until that one exists.
    via: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "action": self.action,
                "properties": self.properties, "replaceReasons": self.replace_reasons,
                "deleteBeforeReplace": self.delete_before_replace, "stateful": self.stateful}


@dataclass
class DiffResult:
    changes: list[Change]
    findings: list[Finding]
    unchanged: int
    renames: list[tuple[str, str]] = field(default_factory=list)  # (deleted base URN, created head URN)
    base: dict[str, Any] = field(default_factory=dict)
    head: dict[str, Any] = field(default_factory=dict)
    # The mock monitor's URNs -> the engine's (see engine_urns), for the JSON.
    engine_urns: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    def summary(self) -> dict[str, int]:
        counts = {action: sum(1 for c in self.changes if c.action == action) for action in ACTION_ORDER}
        return {**counts, "same": self.unchanged, "errors": len(self.errors),
                "warnings": sum(1 for f in self.findings if f.level == "warning")}

    def to_json(self) -> dict[str, Any]:
        """URNs in the engine's form, so that a real preview's steps compare one to one."""
        urn = self.engine_urns.get
        return {"base": self.base, "head": self.head,
                "changes": [{**c.to_json(), "urn": urn(c.urn, c.urn)} for c in self.changes],
                "findings": [{"level": f.level, "urn": urn(f.urn, f.urn), "message": f.message} for f in self.findings],
                "summary": self.summary()}


# ---------------------------------------------------------------------------------------------
# The diff of two captures: pure, no I/O.

def diff_captures(base: Capture, head: Capture) -> DiffResult:
    """Classify every resource of ``head`` against ``base`` as the engine's update would."""
    base_by_urn = base.by_urn()
    matched = match_resources(base, head)
    changes: dict[str, Change] = {}
    for resource in head.resources:
        old = base_by_urn.get(matched.get(resource.urn, ""))
        if old is None:
            changes[resource.urn] = _change(resource, "create")
            continue
        properties, reasons = compare(old, resource, matched)
        if properties:
            change = _change(resource, "replace" if reasons else "update", old)
            change.properties, change.replace_reasons = properties, reasons
            changes[resource.urn] = change
    propagate(base, head, changes, matched, _change)
    kept = set(matched.values())
    deletes = [_change(r, "delete", r) for r in base.resources if r.urn not in kept]
    rank = {action: i for i, action in enumerate(ACTION_ORDER)}  # stable output: the SDK registers in no fixed order
    ordered = sorted([*changes.values(), *deletes], key=lambda c: (rank[c.action], c.urn))
    result = DiffResult(changes=ordered, findings=[], unchanged=len(head.resources) - len(changes),
                        renames=_renames(base, head, ordered), engine_urns={**engine_urns(base), **engine_urns(head)})
    result.findings = find_problems(ordered, result.renames, StackFacts(base), StackFacts(head))
    return result


def _change(resource: CapturedResource, action: str, old: CapturedResource | None = None) -> Change:
    return Change(urn=resource.urn, type=resource.type, name=resource.name, action=action,
                  stateful=resource.type in STATEFUL_TYPES,
                  protect=resource.protect or bool(old and old.protect),
                  base_urn=old.urn if old is not None else None)


def match_resources(base: Capture, head: Capture) -> dict[str, str]:
    """Head URN -> base URN: the same URN, or else the first of its aliases that names a base
    resource no head resource holds (as the engine matches aliases)."""
    base_urns = set(base.by_urn())
    head_by_urn = head.by_urn()
    matched: dict[str, str] = {}
    taken: set[str] = set()
    for resource in head.resources:
        if resource.urn in base_urns:
            matched[resource.urn] = resource.urn
            taken.add(resource.urn)
    memo: dict[str, list[str]] = {}
    for resource in head.resources:
        if resource.urn in matched:
            continue
        for alias in alias_urns(resource, head_by_urn, memo):
            if alias in base_urns and alias not in taken and alias not in head_by_urn:
                matched[resource.urn] = alias
                taken.add(alias)
                break
    return matched


def engine_urns(capture: Capture) -> dict[str, str]:
    """Each resource's URN as the engine forms it: the mock monitor puts the stack's type before a
    top-level resource's and only the parent's own type before a child's; the engine leaves the
    stack out and qualifies a child with its parent's whole chain of types."""
    by_urn = capture.by_urn()
    chains: dict[str, str] = {}

    def chain(resource: CapturedResource) -> str:
        if resource.urn not in chains:
            parent = by_urn.get(resource.parent or "")
            chains[resource.urn] = f"{chain(parent)}${resource.type}" if parent is not None else resource.type
        return chains[resource.urn]

    return {r.urn: "::".join([*r.urn.split("::")[:2], chain(r), r.name]) for r in capture.resources}


def make_urn(stack_project: tuple[str, str], parent: str | None, type_: str, name: str) -> str:
    """The URN the mock monitor gives (``pulumi.runtime.mocks.MockMonitor.make_urn``)."""
    if parent:
        type_ = parent.split("::")[2].split("$")[-1] + "$" + type_
    return "::".join([f"urn:pulumi:{stack_project[0]}", stack_project[1], type_, name])


def alias_urns(resource: CapturedResource, head_by_urn: dict[str, CapturedResource],
               memo: dict[str, list[str]]) -> list[str]:
    """Every URN ``resource`` answers to besides its own: its alias specs resolved against its
    parent (and its parent's aliases), and itself under each alias of its parent."""
    if resource.urn in memo:
        return memo[resource.urn]
    stack = resource.urn.split("::")[0].rsplit(":", 1)[-1]
    project = resource.urn.split("::")[1]
    parent = head_by_urn.get(resource.parent or "")
    parents = [resource.parent] + (alias_urns(parent, head_by_urn, memo) if parent is not None else [])
    urns: list[str] = []
    for alias in resource.aliases:
        if "urn" in alias:
            urns.append(alias["urn"])
            continue
        spec = alias.get("spec", alias)
        candidates = [None] if spec.get("noParent") else [spec["parentUrn"]] if spec.get("parentUrn") else parents
        where = (spec.get("stack") or stack, spec.get("project") or project)
        urns += [make_urn(where, p, spec.get("type") or resource.type, spec.get("name") or resource.name)
                 for p in candidates]
    urns += [make_urn((stack, project), p, resource.type, resource.name) for p in parents[1:]]
    memo[resource.urn] = [u for u in dict.fromkeys(urns) if u != resource.urn]
    return memo[resource.urn]


def compare(old: CapturedResource, new: CapturedResource, matched: dict[str, str]) -> tuple[list[str], list[str]]:
    """(changed top-level inputs, those of them that force a replacement), ``ignoreChanges`` left out."""
    olds, news = plain(old.inputs), plain(new.inputs)
    for path in new.ignore_changes:
        olds, news = _without(olds, _path(path)), _without(news, _path(path))
    properties = sorted(k for k in set(olds) | set(news) if olds.get(k) != news.get(k))
    replacing = aws_model.REPLACING_PROPERTIES.get(new.type) or PROVIDER_REPLACING.get(new.type, frozenset())
    reasons = [p for p in properties if p in replacing]
    if old.replacement_trigger is not None and old.replacement_trigger != new.replacement_trigger:
        properties.append("replacementTrigger")
        reasons.append("replacementTrigger")  # the engine replaces on a new trigger value
    old_provider, new_provider = _urn_of(old.provider), _urn_of(new.provider)
    if new_provider and matched.get(new_provider, new_provider) != old_provider:
        properties.append("provider")
        reasons.append("provider")  # another provider: the engine replaces the resource
    return properties, reasons


def _path(path: str) -> list[str | int]:
    """``a.b[0]["c.d"]`` -> ["a", "b", 0, "c.d"] (the engine's property path syntax)."""
    parts: list[str | int] = []
    token, i = "", 0
    while i < len(path):
        char = path[i]
        if char == "." or char == "[":
            if token:
                parts.append(token)
                token = ""
            if char == "[":
                end = path.index("]", i)
                inner = path[i + 1:end]
                parts.append(int(inner) if inner.isdigit() else inner.strip("\"'"))
                i = end
        else:
            token += char
        i += 1
    if token:
        parts.append(token)
    return parts


def _without(value: Any, path: list[str | int]) -> Any:
    """``value`` with the element at ``path`` dropped (a copy along the path only)."""
    if not path:
        return None
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and head in value:
        copy = dict(value)
        if rest:
            copy[head] = _without(value[head], rest)
        else:
            del copy[head]
        return copy
    if isinstance(value, list) and (head == "*" or isinstance(head, int) and head < len(value)):
        indexes = range(len(value)) if head == "*" else [head]
        return [(_without(v, rest) if rest else None) if i in indexes else v for i, v in enumerate(value)]
    return value


def _renames(base: Capture, head: Capture, changes: list[Change]) -> list[tuple[str, str]]:
    """Deleted/created pairs of one type that look like one resource under a new URN: the same
    logical name, the same name or unique value in AWS, or the same inputs."""
    base_by_urn, head_by_urn = base.by_urn(), head.by_urn()
    facts = StackFacts(base), StackFacts(head)
    created = [head_by_urn[c.urn] for c in changes if c.action == "create"]
    pairs: list[tuple[str, str]] = []
    for change in changes:
        if change.action != "delete":
            continue
        old = base_by_urn[change.urn]
        old_key = unique_key(old, facts[0])
        for new in created:
            if new.type == old.type and (new.name == old.name or plain(new.inputs) == plain(old.inputs)
                                         or old_key is not None and unique_key(new, facts[1]) == old_key):
                pairs.append((old.urn, new.urn))
                created.remove(new)
                break
    return pairs


# ---------------------------------------------------------------------------------------------
# The command.

def register(subparsers) -> None:
    parser = subparsers.add_parser("diff", help="offline: what a change (code or config, against a git ref) "
                                   "does to a deployed stack", description=__doc__.split("\n\n")[0])
    add_stack(parser)
    parser.add_argument("--base", default="HEAD", metavar="REF",
                        help="git ref whose program and stack config are deployed (default: HEAD)")
    add_overrides(parser, "what-if on the head: override a setting (as `deploy check --set`)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    output.add_argument("--markdown", action="store_true", help="a pull-request comment: replacements and findings first")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from components.naming import short_stack_name
    from deploy.offline import diff_report
    from deploy.offline.check import _skip_collection_at_exit

    _skip_collection_at_exit()
    overrides = dict(args.overrides)  # (key, value) pairs: deploy.args.setting_override read each --set
    # bad input (unknown ref, stack or setting, invalid settings on one side) is a CommandRefused, exit 2;
    # a program the engine would refuse exits 1: the driver's error boundary prints either
    result = run_diff(short_stack_name(args.stack), args.base, overrides)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        print()
    elif args.markdown:
        sys.stdout.write(diff_report.render_markdown(result))
    else:
        diff_report.print_text(result)
    return EXIT_FAILED if result.errors else EXIT_OK


def run_diff(stack: str, ref: str = "HEAD", overrides: dict[str, str] | None = None,
             project_dir: Path = PROJECT_DIR) -> DiffResult:
    """Run the base (at ``ref``, in a process of its own) and the head (here) at once; diff them."""
    from components.settings import SettingsError

    try:
        head_config = load_stack_config(stack, project_dir)  # an unknown stack fails here, before any work
    except UnknownStackError as error:
        raise CommandRefused(str(error)) from None
    head_config.update(overrides or {})
    with base_worktree(project_dir, ref) as (base_dir, commit):
        command = [sys.executable, "-m", "deploy.offline.capture_json", "--stack", stack, "--project-dir", str(base_dir)]
        base_run = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        try:
            head = run_program(stack, "update", project_dir=project_dir, config=head_config)
            stdout, stderr = base_run.communicate()
        except SettingsError as error:
            raise CommandRefused(f"head (working tree): {error}") from None
        except DuplicateResourceError as error:
            raise CommandRefused(f"head (working tree): the program is invalid: {error}", EXIT_FAILED) from None
        finally:
            if base_run.poll() is None:
                base_run.kill()
                base_run.wait()
    base_capture, base_config = _base_capture(stack, ref, commit, base_run.returncode, stdout, stderr)
    result = diff_captures(base_capture, head)
    result.base = {"ref": ref, "commit": commit, "stack": stack}
    settings = {k: [base_config.get(k), head_config.get(k)] for k in sorted(set(base_config) | set(head_config))
                if base_config.get(k) != head_config.get(k)}
    result.head = {"ref": "working tree", "stack": stack, "set": dict(overrides or {}), "settingsChanged": settings}
    if not base_config and base_capture.resources == []:
        result.base["missing"] = True
    return result


def _base_capture(stack: str, ref: str, commit: str, returncode: int, stdout: str, stderr: str
                  ) -> tuple[Capture, dict[str, str]]:
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"the base program at {ref} ({commit[:12]}) failed (exit {returncode}):\n"
                           f"{stderr[-3000:]}") from None
    error = data.get("error")
    if error is None:
        return Capture.from_dict(data["capture"]), data["config"]
    if error["kind"] == "stack":  # a stack the base does not have yet: everything is new
        return Capture(stack=stack, mode="update", resources=[], outputs={}, warnings=[]), {}
    if error["kind"] == "settings":
        raise CommandRefused(f"base ({ref}, {commit[:12]}): {error['message']}")
    raise CommandRefused(f"base ({ref}, {commit[:12]}): the program is invalid: {error['message']}", EXIT_FAILED)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


@contextlib.contextmanager
def base_worktree(project_dir: Path, ref: str) -> Iterator[tuple[Path, str]]:
    """The project as committed at ``ref``, in a temporary detached worktree removed afterwards
    (also on an error, Ctrl-C or SIGTERM, a cancelled CI job); yields (its project directory, the commit)."""
    top = _git(project_dir, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise CommandRefused(f"{project_dir} is not in a git repository: --base needs one")
    found = _git(project_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0 or not ref:
        raise CommandRefused(f"--base {ref!r}: no such commit in this repository (git rev-parse --verify failed)")
    commit = found.stdout.strip()
    repo = Path(top.stdout.strip())
    inside = project_dir.resolve().relative_to(repo.resolve())
    scratch = Path(tempfile.mkdtemp(prefix="deploy-diff-"))
    tree = scratch / "base"
    with _terminate_as_exit():
        try:
            added = _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
            if added.returncode != 0:
                raise RuntimeError(f"git worktree add {commit[:12]} failed: {added.stderr.strip()}")
            yield tree / inside, commit
        finally:
            _git(repo, "worktree", "remove", "--force", str(tree))
            shutil.rmtree(scratch, ignore_errors=True)
            _git(repo, "worktree", "prune")


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit meanwhile, so that cleanups run (only the main thread sets handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
