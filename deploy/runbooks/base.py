"""What the engine, verify and runbook commands share: turning ``--stack`` into the
stack's validated settings, finding the Pulumi CLI, opening the stack through the
Automation API and reading its outputs; and for the commands that call AWS, the RDS
client, pagination and the poll-until-done loop of their waits.

Every failure here is a ``CommandRefused`` carrying the exit code and one message; the
commands print it without a traceback. Heavy imports (``pulumi.automation``, the
settings module and with it the Pulumi SDK) happen inside the functions.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from components.project import PROJECT
from deploy.cli import EXIT_FAILED, EXIT_USAGE
from deploy.offline.stack_config import PROJECT_DIR, UnknownStackError, load_stack_config

INSTALL_HINT = (
    "the Pulumi CLI is not installed: there is no `pulumi` on PATH, and this command drives it "
    "through the Automation API. Install it as described at https://www.pulumi.com/docs/install/ "
    "(for example `curl -fsSL https://get.pulumi.com | sh`, then add ~/.pulumi/bin to PATH), "
    "log in to your state backend (`pulumi login`), and run the command again. "
    "`python -m deploy check` needs no CLI."
)


class CommandRefused(Exception):
    """A command stops with ``message`` and exit code ``code`` (2 usage/settings, 1 failure)."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def refused_by_aws(error) -> CommandRefused:
    """A botocore ``ClientError`` as a failure naming the call, AWS's error code and message."""
    info = error.response.get("Error", {})
    return CommandRefused(f"AWS refused {error.operation_name}: {info.get('Code')}: {info.get('Message')}", EXIT_FAILED)


def arn_region(arn: str) -> str:
    """The region field of an ARN (``arn:aws:rds:us-west-2:...`` -> ``us-west-2``); empty if none."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else ""


def short_stack_name(stack: str) -> str:
    """``org/project/prod`` and ``org/prod`` name the stack whose settings are ``Pulumi.prod.yaml``."""
    return stack.rsplit("/", 1)[-1]


def resolve_settings(stack: str):
    """The stack's validated settings (``components.settings.Settings``), or a refusal naming the problem."""
    from components.settings import SettingsError, parse_settings

    short = short_stack_name(stack)
    try:
        raw = load_stack_config(short)
    except UnknownStackError as error:
        raise CommandRefused(f"--stack {stack}: {error}", EXIT_USAGE) from None
    try:
        return parse_settings(raw, short)
    except SettingsError as error:
        raise CommandRefused(f"stack {short} (Pulumi.{short}.yaml): {error}", EXIT_USAGE) from None


def require_pulumi_cli() -> str:
    """Path of the ``pulumi`` binary the Automation API runs; a refusal saying how to install it."""
    path = shutil.which("pulumi")
    if path is None:
        raise CommandRefused(INSTALL_HINT, EXIT_USAGE)
    return path


def error_tail(error: BaseException, lines: int = 25) -> str:
    """The last lines of an Automation API error (its text holds the CLI's stdout and stderr)."""
    text = str(error).strip().splitlines()
    return "\n".join(text[-lines:])


def open_stack(stack: str, *, create: bool = False, work_dir: Path = PROJECT_DIR):
    """The stack on the local program in ``work_dir``: ``create_or_select_stack`` or ``select_stack``."""
    require_pulumi_cli()
    from pulumi import automation as auto

    select = auto.create_or_select_stack if create else auto.select_stack
    try:
        return select(stack, work_dir=str(work_dir))
    except auto.StackNotFoundError:
        raise CommandRefused(
            f"--stack {stack}: the stack does not exist in the current Pulumi backend "
            f"(`pulumi whoami -v` shows which backend); create it with `python -m deploy up --stack {stack}`",
            EXIT_USAGE) from None
    except auto.CommandError as error:
        raise CommandRefused(f"could not open stack {stack}:\n{error_tail(error)}", EXIT_FAILED) from None


def _plain(value: Any) -> Any:
    """Outputs files may hold ``pulumi stack output --json`` values or ``{"value", "secret"}`` pairs."""
    if isinstance(value, dict) and set(value) <= {"value", "secret"} and "value" in value:
        return value["value"]
    return value


def read_outputs_file(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CommandRefused(f"--outputs-file {path}: no such file", EXIT_USAGE) from None
    except (OSError, json.JSONDecodeError) as error:
        raise CommandRefused(f"--outputs-file {path}: not a JSON file of stack outputs ({error})", EXIT_USAGE) from None
    if not isinstance(data, dict):
        raise CommandRefused(f"--outputs-file {path}: expected a JSON object of stack outputs, "
                             "as `pulumi stack output --json --show-secrets` prints", EXIT_USAGE)
    return {key: _plain(value) for key, value in data.items()}


def stack_outputs(stack: str, outputs_file: str | None) -> dict[str, Any]:
    """Outputs from ``--outputs-file`` when given, else from the stack through the Automation API."""
    if outputs_file:
        return read_outputs_file(outputs_file)
    handle = open_stack(stack)
    from pulumi import automation as auto

    try:
        outputs = handle.outputs()
    except auto.CommandError as error:
        raise CommandRefused(f"could not read the outputs of stack {stack}:\n{error_tail(error)}", EXIT_FAILED) from None
    return {key: value.value for key, value in outputs.items()}


def rds_client(region: str, endpoint_url: str | None):
    import boto3

    return boto3.client("rds", region_name=region, endpoint_url=endpoint_url)


def tag_map(tag_list: Iterable[dict] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """An AWS tag list (``[{"Key": ..., "Value": ...}]``; KMS says ``TagKey``/``TagValue``) as a dict."""
    return {t.get(key): t.get(value) for t in tag_list or []}


def is_stack_resource(tags: Mapping[str, str], stack: str) -> bool:
    """Tagged as this project's stack's: the ``project`` and ``stack`` tags the program's providers put
    on every resource (``__main__.py``), so a command touches nothing the stack did not create."""
    return tags.get("project") == PROJECT and tags.get("stack") == stack


def paginate(client, operation: str, key: str, **params) -> list[dict]:
    """Every item under ``key`` of every page of ``operation``."""
    items: list[dict] = []
    for page in client.get_paginator(operation).paginate(**params):
        items.extend(page.get(key, []))
    return items


@dataclass
class Clock:
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.monotonic


def poll_until(read: Callable[[], Any], done: Callable[[Any], bool], progress: Callable[[float, Any], list[str]], *,
               timeout: float, poll_interval: float, clock: Clock, out: TextIO, timed_out: Callable[[Any], str]) -> Any:
    """Read, print progress, stop when ``done``; after ``timeout`` a failure (exit 1) with ``timed_out``'s message."""
    start = clock.now()
    while True:
        state = read()
        elapsed = clock.now() - start
        for line in progress(elapsed, state):
            print(line, file=out, flush=True)
        if done(state):
            return state
        if elapsed >= timeout:
            raise CommandRefused(f"timed out after {timeout:g}s: {timed_out(state)}", EXIT_FAILED)
        clock.sleep(min(poll_interval, max(timeout - elapsed, 0)))


def run_refusable(func: Callable[[], int]) -> int:
    """Run a command body; a ``CommandRefused`` becomes its message on stderr and its exit code."""
    try:
        return func()
    except CommandRefused as refused:
        print(f"error: {refused}", file=sys.stderr)
        return refused.code
