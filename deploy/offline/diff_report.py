"""`deploy diff`'s text and pull-request (markdown) output; the JSON is ``DiffResult.to_json``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from deploy.offline.check import _md
from deploy.offline.diff_rules import ACTION_ORDER, describe_reasons, label

if TYPE_CHECKING:
    from deploy.offline.diff import Change, DiffResult

_SIGNS = {"replace": "+-", "update": "~", "create": "+", "delete": "-"}
_TITLES = {"replace": "Replace", "update": "Update", "create": "Create", "delete": "Delete"}


def sides(result: DiffResult) -> str:
    base, head = result.base, result.head
    base_text = f"{base.get('ref', '?')} ({str(base.get('commit', ''))[:12]})" if base.get("commit") else base.get("ref", "?")
    sets = " ".join(f"--set {k.split(':', 1)[-1]}={v}" for k, v in (head.get("set") or {}).items())
    return f"base {base_text} -> head {head.get('ref', 'working tree')}" + (f" with {sets}" if sets else "")


def counts_text(result: DiffResult) -> str:
    summary = result.summary()
    return ", ".join(f"{summary[a]} to {a}" for a in ACTION_ORDER) + f", {summary['same']} unchanged"


def _by_action(result: DiffResult, action: str) -> list[Change]:
    return sorted((c for c in result.changes if c.action == action), key=lambda c: (c.type, c.name))


def _marks(change: Change) -> str:
    marks = []
    if change.action == "replace":
        marks.append("delete first" if change.delete_before_replace else "create first")
    marks += [m for m, on in (("stateful", change.stateful), ("protected", change.protect)) if on]
    return f"  [{', '.join(marks)}]" if marks else ""


def _settings_changed(result: DiffResult) -> list[tuple[str, str | None, str | None]]:
    return [(k, old, new) for k, (old, new) in (result.head.get("settingsChanged") or {}).items()]


def print_text(result: DiffResult, out=None) -> None:
    out = out or sys.stdout
    stack = result.base.get("stack") or result.head.get("stack", "?")
    print(f"Diff of stack {stack}: {sides(result)} (offline mock engine, update mode)", file=out)
    if result.base.get("missing"):
        print(f"  the stack does not exist at {result.base.get('ref')}: every resource is new", file=out)
    for key, old, new in _settings_changed(result):
        print(f"  setting {key}: {old if old is not None else '(unset)'} -> {new if new is not None else '(unset)'}",
              file=out)
    print(f"\nChanges: {counts_text(result)}", file=out)
    for action in ACTION_ORDER:
        changes = _by_action(result, action)
        if not changes:
            continue
        print(f"\n{_TITLES[action]} ({len(changes)}):", file=out)
        for change in changes:
            print(f"  {_SIGNS[action]:<2} {label(change.urn)}{_marks(change)}", file=out)
            if action == "replace":
                print(f"       forced by {describe_reasons(change, change.replace_reasons)}", file=out)
            others = [p for p in change.properties if p not in change.replace_reasons]
            if others:
                print(f"       {'also ' if action == 'replace' else ''}changes {describe_reasons(change, others)}", file=out)
    errors, warnings = len(result.errors), len(result.findings) - len(result.errors)
    print(f"\nFindings: {errors} errors, {warnings} warnings", file=out)
    for finding in result.findings:
        print(f"  [{finding.level}] {finding.message}", file=out)
    verdict = ("FAILED: the change would lose data or fail in AWS; see the errors above" if errors
               else "OK: no stateful or protected resource replaced or deleted, no name clash")
    print(f"\n{verdict}", file=out)


def render_markdown(result: DiffResult) -> str:
    """A pull-request comment: verdict, counts, replacements and findings first, then the rest."""
    stack = result.base.get("stack") or result.head.get("stack", "?")
    status = (f"❌ {len(result.errors)} error(s): this change would lose data or fail in AWS" if result.errors
              else "✅ no stateful or protected resource replaced or deleted, no name clash")
    summary = result.summary()
    lines = [f"### aurora-platform diff: stack `{stack}`", "", f"{_md(sides(result))}", "", status, "",
             "| replace | update | create | delete | unchanged |", "|---:|---:|---:|---:|---:|",
             f"| {summary['replace']} | {summary['update']} | {summary['create']} | {summary['delete']} | {summary['same']} |"]
    if result.base.get("missing"):
        lines += ["", f"The stack does not exist at `{result.base.get('ref')}`: every resource is new."]
    settings = _settings_changed(result)
    if settings:
        lines += ["", "| setting | base | head |", "|---|---|---|"]
        lines += [f"| `{k}` | {_md(str(old))} | {_md(str(new))} |" for k, old, new in settings]
    replaced = _by_action(result, "replace")
    if replaced:
        lines += ["", "#### Replacements", "", "| resource | forced by | delete first | stateful |", "|---|---|---|---|"]
        lines += [f"| `{_md(label(c.urn))}` | {_md(describe_reasons(c, c.replace_reasons))} | "
                  f"{'yes' if c.delete_before_replace else 'no'} | {'**yes**' if c.stateful else 'no'} |" for c in replaced]
    if result.findings:
        lines += ["", "#### Findings", "", "| level | resource | what happens and what to do instead |", "|---|---|---|"]
        lines += [f"| {f.level} | `{_md(label(f.urn))}` | {_md(f.message)} |" for f in result.findings]
    for action in ("update", "create", "delete"):
        changes = _by_action(result, action)
        if changes:
            lines += ["", f"<details><summary>{_TITLES[action]} ({len(changes)})</summary>", ""]
            lines += [f"- `{_md(label(c.urn))}`" + (f": {_md(describe_reasons(c, c.properties))}" if c.properties else "")
                      for c in changes]
            lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
