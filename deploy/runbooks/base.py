"""What every runbook (and the engine commands) share: the stack's validated settings from
``--stack``, the Pulumi CLI and the stack through the Automation API, the stack's outputs, the
one writer of stack config; and for the commands that call AWS, the one client factory
(``Clients``: ``clients(service, region)``), one ``paginate``, one wait (``Wait`` on ``poll_until``)
and the test of a resource being the stack's.

Every refusal here is a ``deploy.errors.CommandRefused`` carrying its exit code and one message.
Heavy imports (``pulumi.automation``, boto3, the settings module) happen inside the functions.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from components.naming import PROJECT, short_stack_name, stack_tags
from deploy.args import OutputsFile
from deploy.errors import EXIT_FAILED, EXIT_USAGE, CommandRefused
from deploy.offline.stack_config import PROJECT_DIR, UnknownStackError, load_stack_config

INSTALL_HINT = (
    "the Pulumi CLI is not installed: there is no `pulumi` on PATH, and this command drives it "
    "through the Automation API. Install it as described at https://www.pulumi.com/docs/install/ "
    "(for example `curl -fsSL https://get.pulumi.com | sh`, then add ~/.pulumi/bin to PATH), "
    "log in to your state backend (`pulumi login`), and run the command again. "
    "`python -m deploy check` needs no CLI."
)


# ---------------------------------------------------------------------------------------
# The stack: settings, the Pulumi CLI, outputs, config.
# ---------------------------------------------------------------------------------------


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


def stack_outputs(stack: str, outputs_file: OutputsFile | None) -> dict[str, Any]:
    """Outputs from ``--outputs-file`` when given (read and shape-checked by ``deploy.args`` when the command
    line was read), else from the stack through the Automation API."""
    if outputs_file is not None:
        return outputs_file.outputs
    handle = open_stack(stack)
    from pulumi import automation as auto

    try:
        outputs = handle.outputs()
    except auto.CommandError as error:
        raise CommandRefused(f"could not read the outputs of stack {stack}:\n{error_tail(error)}", EXIT_FAILED) from None
    return {key: value.value for key, value in outputs.items()}


def write_stack_config(stack: str, values: Mapping[str, str], *, remove: Iterable[str] = (), path: bool = False,
                       secret: bool = False, failed: Callable[[str], str], work_dir: Path = PROJECT_DIR) -> None:
    """The one writer of stack config: set ``values`` (``path``: keys are property paths such as
    ``globalDatabase.writerRegion``) and remove the ``remove`` keys, through the Automation API; a
    ``secret`` value goes through ``pulumi config set --secret`` with the value on stdin, so that it is
    not in any process's argv (``/proc/<pid>/cmdline``), where the Automation API's ``set_config`` puts
    it. A failure is exit 1 with ``failed(what the CLI said)``."""
    if secret:
        cli = require_pulumi_cli()
        for key, value in values.items():
            result = subprocess.run([cli, "config", "set", "--secret", "--non-interactive", "--stack", stack, key],
                                    input=value, text=True, capture_output=True, cwd=str(work_dir), check=False)
            if result.returncode != 0:
                tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-10:])
                raise CommandRefused(failed(tail), EXIT_FAILED)
        return
    from pulumi import automation as auto

    handle = open_stack(stack)
    try:
        for key, value in values.items():
            handle.set_config(key, auto.ConfigValue(value=value), path=path)
        for key in remove:
            handle.remove_config(key)
    except auto.CommandError as error:
        raise CommandRefused(failed(error_tail(error)), EXIT_FAILED) from None


# ---------------------------------------------------------------------------------------
# AWS: clients, pages, tags.
# ---------------------------------------------------------------------------------------

class Clients:
    """The one client factory: ``clients(service, region)``, one boto3 client per (service, region) of a
    run, all on ``endpoint_url`` when given, from a session of their own (credentials are resolved now,
    not cached by boto3's default session from an earlier call). Tests pass any callable of that shape."""

    def __init__(self, endpoint_url: str | None = None):
        import boto3

        self._session = boto3.session.Session()
        self._endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str):
        if (service, region) not in self._clients:
            self._clients[(service, region)] = self._session.client(service, region_name=region,
                                                                    endpoint_url=self._endpoint_url)
        return self._clients[(service, region)]

    def close(self) -> None:
        while self._clients:
            self._clients.popitem()[1].close()


def paginate(client, operation: str, key: str, **params) -> list[dict]:
    """Every item under ``key`` of every page of ``operation``."""
    items: list[dict] = []
    for page in client.get_paginator(operation).paginate(**params):
        items.extend(page.get(key, []))
    return items


def described(call: Callable[..., dict], key: str, not_found: str, **params) -> list[dict]:
    """``call(**params)[key]``, or an empty list when AWS answers ``not_found`` (its error code for a name
    nobody holds, e.g. ``DBClusterNotFoundFault``)."""
    from botocore.exceptions import ClientError

    try:
        return call(**params)[key]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != not_found:
            raise
        return []


def arn_region(arn: str) -> str:
    """The region field of an ARN (``arn:aws:rds:us-west-2:...`` -> ``us-west-2``); empty if none."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else ""


def tag_map(tag_list: Iterable[dict] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """An AWS tag list (``[{"Key": ..., "Value": ...}]``; KMS says ``TagKey``/``TagValue``) as a dict."""
    return {t.get(key): t.get(value) for t in tag_list or []}


def is_stack_resource(tags: Mapping[str, str], stack: str) -> bool:
    """Tagged as this project's stack's: the ``project`` and ``stack`` tags the program's providers put
    on every resource (``components.naming.stack_tags``), so a command touches nothing the stack did not create."""
    wanted = stack_tags(stack)
    return all(tags.get(key) == wanted[key] for key in ("project", "stack"))


def stack_cluster(rds, identifier: str, stack: str, missing: str) -> dict:
    """The stack's cluster ``identifier``, ``available`` and tagged as the stack's; a refusal otherwise
    (``missing`` when it does not exist)."""
    found = described(rds.describe_db_clusters, "DBClusters", "DBClusterNotFoundFault", DBClusterIdentifier=identifier)
    if not found:
        raise CommandRefused(missing)
    cluster = found[0]
    tags = tag_map(cluster.get("TagList"))
    if not is_stack_resource(tags, stack):
        raise CommandRefused(f"cluster {identifier} is not tagged project={PROJECT}, stack={short_stack_name(stack)} "
                             f"(its tags: {tags or 'none'}); this command only touches clusters this program created")
    if cluster.get("Status") != "available":
        raise CommandRefused(f"cluster {identifier} is {cluster.get('Status')!r}, not 'available'; wait "
                             f"(`aws rds wait db-cluster-available --db-cluster-identifier {identifier}`) and run again")
    return cluster


def check_region(flag: str, regions: Iterable[str], settings, stack: str) -> None:
    """Every region given with ``flag`` is one of the stack's (exit 2 naming the others)."""
    unknown = [r for r in regions if r not in settings.regions]
    if unknown:
        raise CommandRefused(f"{flag} {', '.join(unknown)}: not a region of stack {short_stack_name(stack)} "
                             f"(regions: {', '.join(settings.regions)})", EXIT_USAGE)


def check_instance_class(value: str, engine: str) -> None:
    """``--instance-class``: a class Aurora offers for ``engine``, by the settings' own rule (components' AWS
    facts), before any call."""
    from components.setting_rules import check_instance_class as offered_class

    class Refuse:
        def fail(self, key: str, given: str, problem: str) -> None:
            raise CommandRefused(f"{key} {given}: {problem}")

    offered_class(Refuse(), "--instance-class", engine, value)


# ---------------------------------------------------------------------------------------
# Waiting.
# ---------------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """A moment as the UTC ISO 8601 text the runbooks write to tags and reports (2026-12-06T08:00:00Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


@dataclass
class Wait:
    """``poll_until`` with a command's ``--timeout``, ``--poll-interval``, clock and output."""

    timeout: float
    poll_interval: float
    clock: Clock
    out: TextIO

    def until(self, read: Callable[[], Any], done: Callable[[Any], bool], timed_out: Callable[[Any], str],
              progress: Callable[[float, Any], list[str]] = lambda elapsed, state: []) -> Any:
        return poll_until(read, done, progress, timeout=self.timeout, poll_interval=self.poll_interval,
                          clock=self.clock, out=self.out, timed_out=timed_out)

    def waiter_config(self) -> dict:
        """The same bounds for one of boto3's own waiters (whole seconds, at least one attempt)."""
        delay = max(int(self.poll_interval), 1)
        return {"Delay": delay, "MaxAttempts": max(int(self.timeout // delay), 1)}

    def aws_waiter(self, client, name: str, **params) -> None:
        """boto3's waiter ``name`` (e.g. ``db_cluster_available``, whose failure states it knows) within these bounds;
        botocore's ``WaiterError`` when it gives up."""
        client.get_waiter(name).wait(WaiterConfig=self.waiter_config(), **params)
