"""The driver's argument layer: one typed parser per kind of value a command takes.

Each ``type=`` callable here turns the text of a flag into a checked value or raises
``argparse.ArgumentTypeError`` with a message that says what is wrong and what is allowed;
argparse then names the flag and exits 2, before a command reads a file or calls AWS.
Echoed values are shortened (``shown``) and printed with ``repr``, so a 100,000-character
or control-character value never floods or garbles the terminal.

The checks that need the stack (a region among the stack's regions, a time inside a
restore window) are helpers the command calls once it knows the stack; they raise the
driver's usage refusal, naming the flag.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from components.aws_facts import REGION_RE, SECURITY_GROUP_ID_RE

SHOWN_CHARS = 60
MAX_DURATION = 7 * 24 * 3600  # a week: longer than any wait of a runbook, short enough to be a mistake beyond
MAX_POLL_INTERVAL = 3600


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` for an error message: quoted with escapes, cut after ``limit`` characters."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _refuse(text: str, problem: str, expected: str = "") -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{shown(text)}: {problem}" + (f"; expected {expected}" if expected else ""))


def _named(name: str, parse: Callable) -> Callable:
    parse.__name__ = name  # argparse shows a type's name when it fails with ValueError instead of our message
    return parse


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)


# ---------------------------------------------------------------------------------------
# Numbers. Only ASCII digits are accepted, and the length is bounded before any
# conversion: no NaN, no infinity, no '1e999', no Unicode digits, no 5,000-digit int().
# ---------------------------------------------------------------------------------------

_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")


def duration(maximum: float = MAX_DURATION, *, allow_zero: bool = False) -> Callable[[str], float]:
    """Seconds as a finite decimal number: above 0 (or 0 with ``allow_zero``) and at most ``maximum``."""
    lowest = "0 or more" if allow_zero else "more than 0"
    expected = f"a number of seconds, {lowest} and at most {maximum:g}, e.g. 30 or 2.5"

    def parse(text: str) -> float:
        if not _DECIMAL.fullmatch(text):
            raise _refuse(text, "not a plain decimal number", expected)
        value = float(text)
        if value > maximum or value < 0 or (value == 0 and not allow_zero):
            raise _refuse(text, "out of range", expected)
        return value

    return _named("seconds", parse)


seconds = duration()
poll_seconds = duration(MAX_POLL_INTERVAL)
wait_seconds = duration(allow_zero=True)


_LIFETIME = re.compile(r"([0-9]{1,6})([smhd]?)")
_LIFETIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def lifetime(maximum: float) -> Callable[[str], float]:
    """A lifetime such as ``24h``, ``90m``, ``2d`` or ``3600`` (seconds): above 0 and at most ``maximum`` seconds."""
    expected = f"a whole number with s, m, h or d (e.g. 24h, 90m, 2d), more than 0 and at most {maximum / 86400:g}d"

    def parse(text: str) -> float:
        match = _LIFETIME.fullmatch(text)
        if not match:
            raise _refuse(text, "not a duration", expected)
        value = int(match[1]) * _LIFETIME_UNITS[match[2]]
        if not 0 < value <= maximum:
            raise _refuse(text, "out of range", expected)
        return float(value)

    return _named("duration", parse)


def positive_int(maximum: int) -> Callable[[str], int]:
    """An integer from 1 to ``maximum``, written in ASCII digits."""
    expected = f"a whole number from 1 to {maximum}"
    digits = re.compile(rf"[0-9]{{1,{len(str(maximum))}}}")

    def parse(text: str) -> int:
        if not digits.fullmatch(text):
            raise _refuse(text, "not a whole number in range", expected)
        value = int(text)
        if not 1 <= value <= maximum:
            raise _refuse(text, "out of range", expected)
        return value

    return _named("integer", parse)


# ---------------------------------------------------------------------------------------
# Names.
# ---------------------------------------------------------------------------------------



def matching(pattern: re.Pattern, name: str, what: str, expected: str) -> Callable[[str], str]:
    """A type accepting the text that ``pattern`` matches whole (``fullmatch``: no trailing newline slips by)."""
    def parse(text: str) -> str:
        if not pattern.fullmatch(text):
            raise _refuse(text, "empty" if not text else f"not {what}", expected)
        return text

    return _named(name, parse)


aws_region = matching(REGION_RE, "region", "an AWS region name", "a region such as us-east-1 or eu-west-2")


def check_region_of_stack(flag: str, value: str, regions: Iterable[str]) -> str:
    """``value`` if it is one of the stack's ``regions``; otherwise the driver's usage refusal naming ``flag``."""
    from deploy.errors import CommandRefused

    known = list(regions)
    if value not in known:
        raise CommandRefused(f"{flag} {shown(value)}: not a region of the stack; its regions: {', '.join(known)}")
    return value


# Pulumi's stack name rule: ASCII letters, digits, '-', '_' and '.', at most 100 characters
# (pulumi/pulumi sdk/go/common/tokens: ParseStackName refuses `len(s) > 100` and any character
# outside [A-Za-z0-9_.-]), optionally qualified as org/stack or org/project/stack (pkg/backend/diy
# store.go ParseReference); an org or project here starts with a letter or digit, so no '..'.
STACK_NAME_MAX = 100
_QUALIFIER = rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{STACK_NAME_MAX - 1}}}"
STACK_NAME_PATTERN = re.compile(rf"(?:{_QUALIFIER}/){{0,2}}[A-Za-z0-9_.-]{{1,{STACK_NAME_MAX}}}")


stack_name = matching(STACK_NAME_PATTERN, "stack", "a Pulumi stack name",
                      f"letters, digits, '-', '_' or '.', at most {STACK_NAME_MAX} characters, "
                      "optionally as org/stack or org/project/stack (e.g. dev)")


# Engine versions as RDS spells them (16.6, 8.0.mysql_aurora.3.08.2). The per-engine rule is
# the command's; this refuses what no engine has: non-ASCII, whitespace, a trailing newline.
ENGINE_VERSION_PATTERN = re.compile(r"\A[0-9][0-9A-Za-z._-]{0,63}\Z")
engine_version = matching(ENGINE_VERSION_PATTERN, "version", "an engine version",
                          "ASCII digits, letters and dots, e.g. 16.6 or 8.0.mysql_aurora.3.08.2")


# Shapes of AWS identifiers a command passes on: a security group (aws_facts, as the settings check it) and an
# RDS instance class (db.r7g.large, db.serverless); which classes an engine offers is the command's check.
security_group_id = matching(SECURITY_GROUP_ID_RE, "group", "a security group id",
                             "sg- and 8 or 17 hex digits, e.g. sg-0123456789abcdef0")
INSTANCE_CLASS_PATTERN = re.compile(r"db\.[a-z0-9]{2,12}(?:\.[a-z0-9]{2,12})?")
instance_class = matching(INSTANCE_CLASS_PATTERN, "class", "an RDS instance class",
                          "a class such as db.r7g.large or db.serverless")


# An AWS tag value: up to 256 letters, digits, spaces and _ . : / = + - @ (the characters every service allows).
TAG_VALUE_PATTERN = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,256}")
tag_value = matching(TAG_VALUE_PATTERN, "value", "a tag value",
                     "up to 256 letters, digits, spaces and _ . : / = + - @, e.g. test or load-test")


def non_empty(text: str) -> str:
    """Any text but an empty one, blanks only, or one holding control characters."""
    if not text.strip():
        raise _refuse(text, "empty", "a value (an empty string is not the same as leaving the flag out)")
    if _has_control(text):
        raise _refuse(text, "holds a control character")
    return text


# ---------------------------------------------------------------------------------------
# Endpoint URLs and times.
# ---------------------------------------------------------------------------------------

MAX_URL_CHARS = 2048


def endpoint_url(text: str) -> str:
    """An http(s) URL with a host and, if given, a port from 1 to 65535 (botocore's ``endpoint_url``)."""
    expected = "http://HOST[:PORT] or https://HOST[:PORT] with PORT from 1 to 65535, e.g. http://127.0.0.1:5000"
    if not text:
        raise _refuse(text, "empty", expected)
    if len(text) > MAX_URL_CHARS or not text.isascii() or any(c.isspace() for c in text) or _has_control(text):
        raise _refuse(text, f"holds whitespace, a control or non-ASCII character, or is over {MAX_URL_CHARS} characters",
                      expected)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise _refuse(text, f"not a URL ({error})", expected) from None
    if "://" not in text:
        raise _refuse(text, "no scheme", expected)
    if parts.scheme.lower() not in ("http", "https"):
        raise _refuse(text, f"scheme {parts.scheme!r} is not http or https", expected)
    if not parts.hostname:
        raise _refuse(text, "no host", expected)
    if port == 0:
        raise _refuse(text, "port 0", expected)
    if parts.username is not None or parts.query or parts.fragment:
        raise _refuse(text, "user info, a query or a fragment, which an AWS endpoint does not take", expected)
    return text


def iso_time(text: str) -> datetime:
    """An ISO 8601 time that carries its zone (``2026-12-01T20:15:00Z``, ``...+02:00``)."""
    expected = "an ISO 8601 time with a zone, e.g. 2026-12-01T20:15:00Z"
    if not text:
        raise _refuse(text, "empty", expected)
    if len(text) > 64 or not text.isascii() or _has_control(text):
        raise _refuse(text, "not an ISO 8601 time", expected)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _refuse(text, "not an ISO 8601 time", expected) from None
    if moment.utcoffset() is None:
        raise _refuse(text, "no zone", expected + " (Z for UTC)")
    return moment


def check_time_in_window(flag: str, moment: datetime, earliest: datetime | None, latest: datetime | None,
                         what: str = "the restorable window") -> datetime:
    """``moment`` if it lies between ``earliest`` and ``latest`` (either may be unknown); else a usage refusal."""
    from deploy.errors import CommandRefused

    if (earliest and moment < earliest) or (latest and moment > latest):
        def utc(value: datetime | None) -> str:
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "?"

        raise CommandRefused(f"{flag} {utc(moment)}: outside {what}, {utc(earliest)} to {utc(latest)}")
    return moment


# ---------------------------------------------------------------------------------------
# Files.
# ---------------------------------------------------------------------------------------

NAME_MAX_BYTES = 255


def output_path(text: str) -> Path:
    """A file to write: its folder exists and is writable, it is no folder itself, it is writable if it exists.
    Checked when the command line is read, so a long command never runs for a file it cannot write."""
    if not text:
        raise _refuse(text, "empty", "a file path")
    if "\0" in text or _has_control(text):
        raise _refuse(text, "holds a control character", "a file path")
    path = Path(text)
    try:
        if len(os.fsencode(path.name)) > NAME_MAX_BYTES:
            raise _refuse(text, f"a file name longer than {NAME_MAX_BYTES} bytes")
        if path.is_dir():
            raise _refuse(text, "is a folder", "a file path")
        folder = path.parent
        if not folder.is_dir():
            raise _refuse(text, f"the folder {shown(str(folder))} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _refuse(text, f"the folder {shown(str(folder))} is not writable")
        if path.exists() and not os.access(path, os.W_OK):
            raise _refuse(text, "the file exists and is not writable")
    except OSError as error:
        raise _refuse(text, f"cannot be used: {error.strerror or error}") from None
    except UnicodeError:
        raise _refuse(text, "not a valid file name") from None
    return path


MAX_OUTPUTS_BYTES = 5 * 1024 * 1024
MAX_OUTPUTS_DEPTH = 32
MAX_JSON_INT_DIGITS = 20


@dataclass(frozen=True)
class OutputsFile:
    """A stack's outputs read from ``--outputs-file``: the file's name and its checked outputs."""
    path: str
    outputs: dict[str, Any]


class OutputsFileError(ValueError):
    pass


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise OutputsFileError(f"a number of more than {MAX_JSON_INT_DIGITS} digits")
    return int(text)


def _no_constant(name: str):
    raise OutputsFileError(f"{name} is not a JSON value")


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, measured without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_OUTPUTS_DEPTH:
                break
            todo.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _read_bounded(path: str) -> bytes:
    with open(path, "rb") as handle:  # a FIFO or /dev/fd/N (a process substitution) is fine: read once, bounded
        data = handle.read(MAX_OUTPUTS_BYTES + 1)
    if len(data) > MAX_OUTPUTS_BYTES:
        raise OutputsFileError(f"larger than {MAX_OUTPUTS_BYTES // (1024 * 1024)} MiB, which no stack's outputs are")
    return data


def _decode_json(data: bytes) -> Any:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\0" in data:
        raise OutputsFileError("not UTF-8 text (UTF-16 or binary); write it with `pulumi stack output --json > FILE`")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise OutputsFileError(f"not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start})") from None
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError:
        raise OutputsFileError(f"JSON nested deeper than {MAX_OUTPUTS_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise OutputsFileError(f"not JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    if _depth(value) > MAX_OUTPUTS_DEPTH:
        raise OutputsFileError(f"JSON nested deeper than {MAX_OUTPUTS_DEPTH} levels")
    return value


def read_outputs(path: str) -> dict[str, Any]:
    """The outputs in ``path`` (``pulumi stack output --json [--show-secrets]``), read once and bounded,
    ``{"value", "secret"}`` pairs unwrapped, their shape checked; ``OutputsFileError`` naming the key otherwise."""
    try:
        data = _read_bounded(path)
    except FileNotFoundError:
        raise OutputsFileError("no such file") from None
    except IsADirectoryError:
        raise OutputsFileError("a folder, not a file") from None
    except OSError as error:
        raise OutputsFileError(f"cannot be read: {error.strerror or error}") from None
    value = _decode_json(data)
    if not isinstance(value, dict):
        raise OutputsFileError("expected a JSON object of stack outputs, as `pulumi stack output --json "
                               f"--show-secrets` prints; got {_kind(value)}")
    outputs = {key: _plain(item) for key, item in value.items()}
    check_outputs_shape(outputs)
    return outputs


def outputs_file(text: str) -> OutputsFile:
    """``--outputs-file FILE``: the file read and checked when the command line is read."""
    if not text:
        raise _refuse(text, "empty", "a JSON file of stack outputs")
    try:
        return OutputsFile(text, read_outputs(text))
    except OutputsFileError as error:
        raise argparse.ArgumentTypeError(f"{shown(text)}: {error}") from None


def _plain(value: Any) -> Any:
    """Outputs files may hold plain values or ``{"value", "secret"}`` pairs."""
    if isinstance(value, dict) and set(value) <= {"value", "secret"} and "value" in value:
        return value["value"]
    return value


# The outputs the driver reads (__main__.py exports them) and the shape each must have; any
# of them may be null (an output the stack does not have). Other outputs are not checked.
STRING_OUTPUTS = frozenset((
    "primaryRegion", "writerRegion", "vpcId", "clusterIdentifier", "clusterArn", "writerEndpoint", "readerEndpoint",
    "dbSecurityGroupId", "secretArn", "kmsKeyArn", "fleetAsgName", "fleetSecurityGroupId", "alarmTopicArn",
    "proxyEndpoint", "proxyReadOnlyEndpoint", "proxyArn", "breakGlassPolicyArn", "globalClusterIdentifier",
    "globalWriterEndpoint", "role",
))
STRING_LIST_OUTPUTS = frozenset(("privateSubnetIds", "databaseSubnetIds", "applicationUsers"))
STRING_MAP_OUTPUTS = frozenset(("backupVaultArns", "backupVaultNames", "backupPlanIds"))


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _check_entries(where: str, entries: Mapping[str, Any]) -> None:
    for key, value in entries.items():
        name = f"{where}{key}"
        if value is None:
            continue
        if key in STRING_OUTPUTS and not isinstance(value, str):
            raise OutputsFileError(f"key {shown(name)}: expected a string, got {_kind(value)}")
        if key in STRING_LIST_OUTPUTS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise OutputsFileError(f"key {shown(name)}: expected a list of strings, got {_kind(value)}")
        if key in STRING_MAP_OUTPUTS and not (isinstance(value, dict) and all(isinstance(v, str | None) for v in value.values())):
            raise OutputsFileError(f"key {shown(name)}: expected an object of strings per region, got {_kind(value)}")
        if key == "port" and (isinstance(value, bool) or not isinstance(value, int)):
            raise OutputsFileError(f"key {shown(name)}: expected a number, got {_kind(value)}")
        if key == "writer" and not isinstance(value, bool):
            raise OutputsFileError(f"key {shown(name)}: expected true or false, got {_kind(value)}")


def check_outputs_shape(outputs: Mapping[str, Any]) -> None:
    """Each output the driver reads has its type; ``regions`` is an object of objects, one per region."""
    _check_entries("", outputs)
    regions = outputs.get("regions")
    if regions is None:
        return
    if not isinstance(regions, dict):
        raise OutputsFileError(f"key 'regions': expected an object of regions, got {_kind(regions)}")
    for region, entry in regions.items():
        if not isinstance(entry, dict):
            raise OutputsFileError(f"key {shown(f'regions.{region}')}: expected an object, got {_kind(entry)}")
        _check_entries(f"regions.{region}.", entry)
        groups = entry.get("parameterGroups")
        if groups is None:
            continue
        where = f"regions.{region}.parameterGroups"
        if not isinstance(groups, dict):
            raise OutputsFileError(f"key {shown(where)}: expected an object of families, got {_kind(groups)}")
        for family, names in groups.items():
            if not (isinstance(names, dict) and all(isinstance(v, str) for v in names.values())):
                raise OutputsFileError(f"key {shown(f'{where}.{family}')}: expected an object of group names "
                                       f"(cluster, instance), got {_kind(names)}")


# ---------------------------------------------------------------------------------------
# `deploy check --set KEY=VALUE`.
# ---------------------------------------------------------------------------------------

SHOWN_VALUE_CHARS = 80
MAX_SET_VALUE_CHARS = 4096
MAX_SET_DEPTH = 16
MAX_SET_NODES = 1000
SET_KEY_PATTERN = re.compile(r"(?:([A-Za-z0-9_.-]{1,100}):)?([A-Za-z][A-Za-z0-9_.-]{0,99})")


@functools.cache
def _plain_yaml_loader():
    """YAML's safe loader without the timestamp rule: ``2001-12-14`` stays the string it was written as."""
    import yaml

    class PlainLoader(yaml.SafeLoader):
        pass

    PlainLoader.yaml_implicit_resolvers = {
        first: [(tag, rule) for tag, rule in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return PlainLoader


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _check_plain(value: Any) -> str | None:
    """What makes a parsed value unfit for the engine's config (JSON), or None; walked without recursion."""
    todo, count = [value], 0
    while todo:
        item = todo.pop()
        count += 1
        if count > MAX_SET_NODES:
            return f"more than {MAX_SET_NODES} values"
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return "an object key that is not a string"
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return "a number that is not finite"
        elif not isinstance(item, str | int | float | bool | None):
            return f"a YAML {type(item).__name__}, which a stack's config cannot hold"
    return None


def _set_value(pair: str, value: str) -> Any:
    import yaml

    def refuse(problem: str) -> argparse.ArgumentTypeError:
        return argparse.ArgumentTypeError(f"{shown(pair, SHOWN_VALUE_CHARS)}: {problem}")

    if len(value) > MAX_SET_VALUE_CHARS:
        raise refuse(f"the value is longer than {MAX_SET_VALUE_CHARS} characters")
    if _has_control(value):
        raise refuse("the value holds a control character")
    if _bracket_depth(value) > MAX_SET_DEPTH:
        raise refuse(f"the value is nested deeper than {MAX_SET_DEPTH} levels")
    try:
        parsed = yaml.load(value, Loader=_plain_yaml_loader())  # a SafeLoader without timestamps: no object tags
    except yaml.YAMLError as error:
        raise refuse(f"the value is not valid YAML ({getattr(error, 'problem', None) or 'syntax error'})") from None
    except (RecursionError, ValueError) as error:
        raise refuse(f"the value cannot be read ({type(error).__name__})") from None
    problem = _check_plain(parsed)
    if problem:
        raise refuse(f"the value holds {problem}")
    return "" if parsed is None else parsed


def setting_override(pair: str) -> tuple[str, str]:
    """``KEY=VALUE`` as (full config key, value in the engine's form). VALUE is read as YAML, with dates kept
    as text; KEY without a namespace is the project's; the project's namespace must be spelled as it is."""
    from components.naming import PROJECT
    from components.setting_rules import qualified
    from deploy.offline.stack_config import engine_form

    key, sep, value = pair.partition("=")
    match = SET_KEY_PATTERN.fullmatch(key) if sep else None
    if not match:
        raise argparse.ArgumentTypeError(f"{shown(pair, SHOWN_VALUE_CHARS)}: expected KEY=VALUE with KEY a setting "
                                         "(letters, digits, '-', '_', '.'), e.g. --set readerCount=4")
    namespace, name = match.groups()
    if namespace and namespace != PROJECT and namespace.lower() == PROJECT.lower():
        raise argparse.ArgumentTypeError(f"{shown(key)}: the namespace is {PROJECT!r} (keys are case-sensitive); "
                                         f"write {PROJECT}:{name} or just {name}")
    return qualified(key), engine_form(_set_value(pair, value))


# ---------------------------------------------------------------------------------------
# The flags several commands share, declared once with their types.
# ---------------------------------------------------------------------------------------

def add_stack(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, type=stack_name,
                        help="stack name (Pulumi.<stack>.yaml; org/stack and org/project/stack are accepted)")


def add_overrides(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE``, repeatable: each read by ``setting_override`` into (config key, engine-form value)."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        type=setting_override, help=help + "; repeatable; KEY without a namespace means aurora-platform:KEY")


def add_endpoint_url(parser: argparse.ArgumentParser, help: str = "AWS endpoint for every client, e.g. a local emulator") -> None:
    parser.add_argument("--endpoint-url", type=endpoint_url, metavar="URL", help=help)


def add_region_filter(parser: argparse.ArgumentParser) -> None:
    """``--region``, repeatable: limits a read-only command to some regions (the command checks they are the stack's)."""
    parser.add_argument("--region", action="append", default=[], type=aws_region, metavar="REGION",
                        help="check only this region of the stack (repeatable; default: every region)")


def add_outputs_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs-file", type=outputs_file, metavar="FILE.json",
                        help="stack outputs as JSON (`pulumi stack output --json --show-secrets`) instead of reading "
                             "them through the Automation API")


def add_waiting(parser: argparse.ArgumentParser, *, timeout: float, poll_interval: float, what: str = "waiting") -> None:
    """``--timeout`` and ``--poll-interval``: finite positive seconds, checked before anything happens."""
    parser.add_argument("--timeout", type=seconds, default=timeout, metavar="SECONDS",
                        help=f"give up {what} after SECONDS (default {timeout:g}; at most {MAX_DURATION:g})")
    parser.add_argument("--poll-interval", type=poll_seconds, default=poll_interval, metavar="SECONDS",
                        help=f"seconds between polls (default {poll_interval:g}; at most {MAX_POLL_INTERVAL:g})")
