"""The change matrix: what each setting's example change does to each committed stack, offline.

For every committed stack and every setting that declares an example change (components/settings.py),
the program runs on the mock engine with the example laid over the stack's config (the head) and is
diffed against the committed stack (the base, captured once per stack) as `deploy diff` diffs them.
Each change is one of:

- ``in-place``: resources updated or created, none replaced or deleted;
- ``replaces-stateless``: stateless resources replaced or deleted, and nothing `deploy diff` refuses;
- ``refused``: the stack's settings refuse the value (a SettingsError), or `deploy diff` would exit 1
  (an error finding: a stateful resource replaced or deleted, a name clash, a protected resource).

An example equal to the stack's current value is swapped for the setting's default. What a change
should do is declared beside the example (``change``, ``change_on``; a production stack refuses a
value its production rule forbids); ``problems`` says where an outcome departs from it.
``scripts/change-matrix`` writes docs/changing-settings.md from the matrix; tests/test_change_matrix.py
holds each outcome to its declaration.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from components.naming import PROJECT
from components.setting_rules import qualified
from components.settings import SETTINGS, SETTINGS_BY_KEY, Setting, SettingsError, parse_settings
from deploy.offline.capture import Capture, run_program
from deploy.offline.diff import diff_captures
from deploy.offline.diff_rules import label
from deploy.offline.stack_config import engine_form, load_stack_config

STACKS = ("dev", "prod")
CLASSES = {"in-place": "in place", "replaces-stateless": "replaces stateless resources", "refused": "refused offline"}
# How deploy diff words a new resource taking a name or unique value an old one still holds (diff_rules._clash_message).
CLASH = "AWS refuses the duplicate"
_PRODUCTION_REASON = "allowed in a production stack"


@dataclass
class Outcome:
    stack: str
    key: str
    before: str  # the stack's value, in the engine's string form
    after: str  # the value the change sets
    swapped: bool  # the stack already had the example: the change sets the default instead
    expected: str  # the declared class: in-place, replaces-stateless, or "refused: <words its message gives>"
    kind: str = "in-place"
    refused_by: str = ""  # "settings" or "deploy diff"
    messages: list[str] = field(default_factory=list)  # why it is refused: the settings' problems or diff's errors
    actions: dict[str, list[str]] = field(default_factory=dict)  # action -> "name (Type)" of each resource
    stateful: list[str] = field(default_factory=list)  # stateful resources replaced or deleted
    clashes: list[str] = field(default_factory=list)  # stateless resources in a create-before-delete clash
    warnings: list[str] = field(default_factory=list)  # the program's new warnings, diff's notes
    also: dict[str, str] = field(default_factory=dict)  # other settings the example changes with it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return cls(**data)


@functools.cache
def stack_config(stack: str) -> dict[str, str]:
    return load_stack_config(stack)


@functools.cache
def base_capture(stack: str) -> Capture:
    """The committed stack on the mock engine, in update mode (once per stack and process)."""
    return run_program(stack, "update", config=stack_config(stack), project=PROJECT)


def example_settings() -> list[Setting]:
    return [s for s in SETTINGS if s.example is not None]


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def change_of(stack: str, setting: Setting) -> tuple[str, str, bool, str]:
    """(the stack's value, the value the change sets, swapped, the declared class) of ``setting``'s example
    on ``stack``; values in the engine's form. A list example's ``{region}`` is the stack's region."""
    config = stack_config(stack)
    example = setting.example
    if isinstance(example, list):
        example = [item.format(region=config.get("aws:region", "")) if isinstance(item, str) else item for item in example]
    before = config.get(qualified(setting.key), engine_form(setting.default))
    after, swapped = engine_form(example), False
    if _value(after) == _value(before):
        after, swapped = engine_form(setting.default), True
    settings = parse_settings(config, stack)
    if stack in (setting.change_on or {}):
        expected = setting.change_on[stack]
    elif settings.production and setting.production is not None and _value(after) != setting.production:
        expected = f"refused: {_PRODUCTION_REASON}"
    else:
        expected = setting.change
    return before, after, swapped, expected


@functools.cache
def outcome(stack: str, key: str) -> Outcome:
    """What changing ``key`` as its declaration's example says does to ``stack`` (once per process)."""
    setting = SETTINGS_BY_KEY[key]
    before, after, swapped, expected = change_of(stack, setting)
    also = {k: engine_form(v) for k, v in (setting.example_with or {}).items()} if not swapped else {}
    result = Outcome(stack, key, before, after, swapped, expected, also=also)
    overrides = {qualified(key): after, **{qualified(k): v for k, v in also.items()}}
    base = base_capture(stack)
    try:
        head = run_program(stack, "update", config=stack_config(stack), overrides=overrides, project=PROJECT)
    except SettingsError as error:
        result.kind, result.refused_by, result.messages = "refused", "settings", list(error.problems)
        return result
    diff = diff_captures(base, head)
    components = {r.urn for capture in (base, head) for r in capture.resources if not r.custom}
    touched = set()
    for change in (c for c in diff.changes if c.urn not in components):  # what AWS sees: no component
        result.actions.setdefault(change.action, []).append(label(change.urn))
        if change.action in ("replace", "delete"):
            touched.add(change.urn)
            if change.stateful:
                result.stateful.append(label(change.urn))
    stateful_urns = {c.urn for c in diff.changes if c.stateful}
    result.clashes = sorted({label(f.urn) for f in diff.errors if CLASH in f.message and f.urn not in stateful_urns})
    result.warnings = sorted(w for w in head.warnings if w not in base.warnings)
    result.warnings += [f.message for f in diff.findings if f.level == "warning" and f.urn not in touched | components]
    if diff.errors:
        result.kind, result.refused_by, result.messages = "refused", "deploy diff", [f.message for f in diff.errors]
    elif touched:
        result.kind = "replaces-stateless"
    return result


def matrix(stacks: tuple[str, ...] = STACKS, jobs: int = 1) -> list[Outcome]:
    """Every (stack, setting with an example) outcome, in declaration order within each stack; ``jobs``
    processes share the work (each captures the bases it needs once)."""
    cases = [(stack, s.key) for stack in stacks for s in example_settings()]
    if jobs <= 1:
        return [outcome(*case) for case in cases]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [Outcome.from_json(data) for data in pool.map(_outcome_json, cases, chunksize=4)]


def _outcome_json(case: tuple[str, str]) -> dict[str, Any]:
    return outcome(*case).to_json()


def _normal(text: str) -> str:
    return re.sub(r"[\s`]+", " ", text).strip().lower()


def problems(result: Outcome) -> list[str]:
    """Where the outcome departs from its declaration, or from what no change may do at all: a
    stateless resource replaced create-before-delete under a value the old one still holds."""
    found = [f"stateless resources replaced create-before-delete under a value the old one holds: {', '.join(result.clashes)}"
             ] if result.clashes else []
    kind, _, reason = result.expected.partition(":")
    if result.kind != kind.strip():
        why = "; ".join(result.messages[:3]) or ", ".join(result.stateful) or _resources(result)
        found.append(f"declared {result.expected!r}, but the change is {CLASSES[result.kind]}: {why}")
    elif reason.strip() and not any(_normal(reason) in _normal(m) for m in result.messages):
        found.append(f"refused, but no message gives the declared reason {reason.strip()!r}: {result.messages[:3]}")
    return found


# ---------------------------------------------------------------------------------------------
# The document.

_ACTIONS = (("replace", "replaces"), ("delete", "deletes"), ("update", "updates"), ("create", "creates"))
_SHOWN_MESSAGES = 3


def _resources(result: Outcome) -> str:
    parts = []
    for action, verb in _ACTIONS:
        labels = result.actions.get(action, [])
        by_type: dict[str, list[str]] = {}
        for item in labels:
            name, _, type_ = item.rpartition(" (")
            by_type.setdefault(type_.rstrip(")"), []).append(f"`{name}`")
        if labels:
            groups = "; ".join(f"{t} {', '.join(names)}" for t, names in sorted(by_type.items()))
            parts.append(f"{verb} {len(labels)}: {groups}")
    return ". ".join(parts) if parts else "no resource changes"


def _shown(value: str) -> str:
    return f"`{value}`" if value != "" else '`""`'


def _line(result: Outcome) -> list[str]:
    change = f"{_shown(result.before)} → {_shown(result.after)}"
    if result.also:
        change += " with " + ", ".join(f"`{k}` {_shown(v)}" for k, v in result.also.items())
    if result.swapped:
        change += " (the stack already has the example: changed to the default instead)"
    by = {"settings": " by the stack's settings", "deploy diff": " by `deploy diff`"}.get(result.refused_by, "")
    lines = [f"- **{result.stack}**: {change}: **{CLASSES[result.kind]}**{by}."]
    reason = _normal(result.expected.partition(":")[2])
    shown = sorted(result.messages, key=lambda m: not reason or reason not in _normal(m))[:_SHOWN_MESSAGES]
    lines += [f"  - {'Why' if i == 0 else 'And'}: {m}" for i, m in enumerate(shown)]
    if len(result.messages) > len(shown):
        more = len(result.messages) - len(shown)
        lines.append(f"  - And {more} more finding{'s' if more > 1 else ''}.")
    if result.refused_by != "settings":
        lines.append(f"  - Plan: {_resources(result)}.")
    lines += [f"  - Warning: {w}" for w in result.warnings]
    lines += [f"  - **Not as declared** ({result.expected}): {p}" for p in problems(result)]
    return lines


def totals(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {kind: sum(1 for o in outcomes if o.kind == kind) for kind in CLASSES}
    counts["refused by settings"] = sum(1 for o in outcomes if o.refused_by == "settings")
    counts["swapped"] = sum(1 for o in outcomes if o.swapped)
    counts["not as declared"] = sum(1 for o in outcomes if problems(o))
    return counts


def render(outcomes: list[Outcome]) -> str:
    """docs/changing-settings.md."""
    by_key: dict[str, list[Outcome]] = {}
    for result in outcomes:
        by_key.setdefault(result.key, []).append(result)
    count = totals(outcomes)
    stacks = sorted({o.stack for o in outcomes})
    out = [
        "<!-- Generated by scripts/change-matrix from the example changes declared in components/settings.py. -->",
        "<!-- Never edit by hand: change the declarations or the program, then run scripts/change-matrix. -->",
        "# Changing a setting of a deployed stack", "",
        "What one realistic change of each setting does to the committed stacks "
        f"({', '.join(stacks)}), planned offline as `python -m deploy diff --stack S --set KEY=VALUE` plans it: "
        "the program runs on the mock engine with and without the change and the two are diffed per resource. "
        "Each change is **in place** (resources updated or created), **replaces stateless resources** (replaced "
        "or deleted, none of them holding data), or **refused offline**, by the stack's settings or by "
        "`deploy diff` (exit 1), with the message that says why and what to do instead. Where a stack already "
        "has the example value, the change sets the default instead. Each setting declares its example and "
        "what it should do (components/settings.py); tests/test_change_matrix.py holds every outcome to it.", "",
        f"**Totals: {len(outcomes)} changes: {count['in-place']} in place, {count['replaces-stateless']} replace "
        f"stateless resources, {count['refused']} refused offline** ({count['refused by settings']} by the stack's "
        f"settings, {count['refused'] - count['refused by settings']} by `deploy diff`); {count['swapped']} set the "
        f"default because the stack already had the example; {count['not as declared']} not as declared; "
        f"{sum(1 for s in SETTINGS if s.example is None)} settings without an example (listed at the end).", "",
    ]
    group = None
    for setting in SETTINGS:
        if setting.example is None:
            continue
        if setting.group != group:
            group = setting.group
            out += [f"## {group.capitalize()}", ""]
        out += [f"### `{setting.key}`", ""]
        for result in by_key.get(setting.key, []):
            out += _line(result)
        out.append("")
    out += ["## Settings without an example change", ""]
    out += [f"- `{s.key}`: {s.no_example}." for s in SETTINGS if s.example is None]
    return "\n".join(out) + "\n"
