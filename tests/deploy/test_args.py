"""The argument layer (deploy/args.py): each typed parser accepts what the driver can use and
refuses the rest with exit 2 and the flag named, never with another exception. Unit tests per
type, then property tests that feed generated text through a real argparse parser."""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import os
import string
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy import args as typed
from deploy.errors import CommandRefused


def parse_one(type_, text):
    """``type_(text)``, or the message of its ArgumentTypeError."""
    try:
        return type_(text)
    except argparse.ArgumentTypeError as error:
        return f"refused: {error}"


def refused(type_, text) -> str:
    result = parse_one(type_, text)
    assert isinstance(result, str) and result.startswith("refused: "), f"{text!r} was accepted as {result!r}"
    return result


# ---------------------------------------------------------------------------------------
# Durations and integers.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("30", 30.0), ("2.5", 2.5), ("0.001", 0.001), ("604800", 604800.0)])
def test_a_duration_is_a_positive_decimal_number_of_seconds(text, value):
    assert typed.seconds(text) == value


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "1e3", "0", "0.0", "-1", "",
                                  " 30", "30\n", "604801", "9" * 5000, "٣٠", "３０", "0x10", "30s", "1_000"])
def test_a_duration_refuses_what_is_not_a_finite_positive_number_of_bounded_size(text):
    message = refused(typed.seconds, text)
    assert "seconds" in message and len(message) < 300


def test_a_poll_interval_is_at_most_an_hour_and_a_wait_may_be_zero():
    assert typed.poll_seconds("3600") == 3600
    refused(typed.poll_seconds, "3601")
    assert typed.wait_seconds("0") == 0
    refused(typed.wait_seconds, "nan")


def test_a_bounded_integer_never_converts_an_unbounded_digit_string():
    count = typed.positive_int(100)
    assert count("1") == 1 and count("100") == 100
    for text in ("0", "101", "-1", "1.0", "9" * 100_000, "١٢", "", "1 "):
        refused(count, text)


# ---------------------------------------------------------------------------------------
# Names.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["us-east-1", "eu-west-2", "us-gov-west-1", "ap-southeast-4"])
def test_a_region_name_is_accepted(text):
    assert typed.aws_region(text) == text


@pytest.mark.parametrize("text", ["", "us east 2", "US-EAST-1", "us-east-1\n", "us-east-١", "us-east", "x" * 10_000])
def test_a_region_name_of_the_wrong_shape_is_refused(text):
    assert "region" in refused(typed.aws_region, text)


def test_a_region_outside_the_stack_is_refused_naming_the_flag():
    assert typed.check_region_of_stack("--region", "us-west-2", ["us-east-1", "us-west-2"]) == "us-west-2"
    with pytest.raises(CommandRefused) as caught:
        typed.check_region_of_stack("--region", "eu-west-1", ["us-east-1", "us-west-2"])
    assert caught.value.code == 2
    assert str(caught.value).startswith("--region 'eu-west-1'") and "us-east-1, us-west-2" in str(caught.value)


@pytest.mark.parametrize("text", ["dev", "prod", "org/dev", "org/aurora-platform/prod", "a.b_c-1", "x" * 100])
def test_a_stack_name_follows_pulumis_rule(text):
    assert typed.stack_name(text) == text


@pytest.mark.parametrize("text", ["", "x" * 101, "x" * 100_000, "dev\n", "d e v", "dev/", "/dev", "a/b/c/d", "dév",
                                  "../etc/passwd", "dev;rm"])
def test_a_stack_name_that_pulumi_refuses_is_refused_with_a_short_message(text):
    message = refused(typed.stack_name, text)
    assert "100 characters" in message and len(message) < 400


@pytest.mark.parametrize("text", ["16.6", "8.0.mysql_aurora.3.08.2", "17.4"])
def test_an_engine_version_is_accepted(text):
    assert typed.engine_version(text) == text


@pytest.mark.parametrize("text", ["", "16.6\n", "１６.6", "16.٦", " 16.6", "16.6 ", "v16", "1" * 65])
def test_an_engine_version_with_a_newline_or_non_ascii_digits_is_refused(text):
    refused(typed.engine_version, text)


@pytest.mark.parametrize("text", ["", "   ", "a\x00b", "a\x1bb", "a\u0085b"])
def test_non_empty_refuses_an_empty_value_instead_of_reading_it_as_not_given(text):
    refused(typed.non_empty, text)


def test_security_group_ids_and_instance_classes_have_their_aws_shape():
    assert typed.security_group_id("sg-0123456789abcdef0") == "sg-0123456789abcdef0"
    assert typed.security_group_id("sg-01234567") == "sg-01234567"
    for text in ("", "sg-", "sg-0123", "not-a-group", "sg-0123456789ABCDEF0", "sg-01234567\n"):
        refused(typed.security_group_id, text)
    for text in ("db.r7g.large", "db.serverless", "db.t4g.medium", "db.x2g.16xlarge"):
        assert typed.instance_class(text) == text
    for text in ("", "r7g.large", "db.R7G.large", "db.r7g.large ", "db." + "x" * 100):
        refused(typed.instance_class, text)


def test_the_shared_flags_carry_their_types_and_defaults():
    parser = argparse.ArgumentParser(allow_abbrev=False)
    typed.add_stack(parser)
    typed.add_endpoint_url(parser)
    typed.add_outputs_file(parser)
    typed.add_waiting(parser, timeout=7200, poll_interval=30)
    parsed = parser.parse_args(["--stack", "dev"])
    assert (parsed.stack, parsed.endpoint_url, parsed.outputs_file, parsed.timeout, parsed.poll_interval) == (
        "dev", None, None, 7200, 30)
    for argv in (["--stack", "x" * 300], ["--stack", "dev", "--timeout", "nan"], ["--stack", "dev", "--poll-interval", "0"],
                 ["--stack", "dev", "--endpoint-url", "127.0.0.1:5000"], ["--stack", "dev", "--outputs-file", "/dev/zero"]):
        _, code, err = run_parser(argv, parser)
        assert code == 2 and f"argument {argv[-2]}:" in err, err


# ---------------------------------------------------------------------------------------
# Endpoint URLs and times.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["http://127.0.0.1:5000", "https://rds.us-east-1.amazonaws.com", "http://[::1]:80/",
                                  "http://localhost:65535/path"])
def test_an_endpoint_url_is_accepted(text):
    assert typed.endpoint_url(text) == text


@pytest.mark.parametrize("text, problem", [
    ("127.0.0.1:5000", "no scheme"), ("localhost:5000", "no scheme"), ("", "empty"), ("not a url", "whitespace"),
    ("http://h:99999", "not a URL"), ("http://h:0", "port 0"), ("http://h:abc", "not a URL"), ("ftp://h", "scheme 'ftp'"),
    ("http://", "no host"), ("http://[::1", "not a URL"), ("http://h\n", "control"), ("http://hé", "non-ASCII"),
    ("http://user:pw@h", "user info"), ("http://h/?a=1", "query"), ("http://" + "h" * 5000, "2048"),
])
def test_a_malformed_endpoint_url_is_refused_saying_why(text, problem):
    message = refused(typed.endpoint_url, text)
    assert problem in message and "http://127.0.0.1:5000" in message


def test_an_iso_time_must_carry_its_zone():
    assert typed.iso_time("2026-12-01T20:15:00Z") == datetime(2026, 12, 1, 20, 15, tzinfo=UTC)
    assert typed.iso_time("2026-12-01T22:15:00+02:00") == datetime(2026, 12, 1, 20, 15, tzinfo=UTC)
    assert "no zone" in refused(typed.iso_time, "2026-12-01T20:15:00")
    assert "no zone" in refused(typed.iso_time, "2026-12-01")
    for text in ("", "yesterday", "2026-13-01T00:00:00Z", "２０２６-12-01T20:15:00Z", "2026-12-01T20:15:00Z\n", "9" * 1000):
        refused(typed.iso_time, text)


def test_a_time_outside_the_window_is_refused_naming_the_flag():
    early, late = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
    inside = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert typed.check_time_in_window("--to-time", inside, early, late) == inside
    assert typed.check_time_in_window("--to-time", inside, None, None) == inside
    with pytest.raises(CommandRefused) as caught:
        typed.check_time_in_window("--to-time", datetime(2026, 11, 1, tzinfo=UTC), early, late)
    assert caught.value.code == 2 and str(caught.value).startswith("--to-time 2026-11-01T00:00:00Z: outside")


# ---------------------------------------------------------------------------------------
# Files.
# ---------------------------------------------------------------------------------------

def test_an_output_path_must_be_a_writable_file_in_an_existing_folder(tmp_path):
    assert typed.output_path(str(tmp_path / "out.sarif")) == tmp_path / "out.sarif"
    assert "folder" in refused(typed.output_path, str(tmp_path))
    assert "does not exist" in refused(typed.output_path, str(tmp_path / "missing" / "out.sarif"))
    assert "255 bytes" in refused(typed.output_path, str(tmp_path / ("x" * 300)))
    assert "cannot be used" in refused(typed.output_path, str(tmp_path / "/".join(["x" * 250] * 20)) + "/f")
    refused(typed.output_path, "")
    refused(typed.output_path, "a\x00b")


def test_an_output_path_in_a_read_only_folder_is_refused(tmp_path, monkeypatch):
    # The permission bits cannot stop root, who runs CI here: the folder's access answer is replaced.
    folder = tmp_path / "ro"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(folder) else real_access(path, mode))
    assert "not writable" in refused(typed.output_path, str(folder / "out.sarif"))


def write(tmp_path: Path, content, name="outputs.json") -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_an_outputs_file_is_read_once_and_its_secret_pairs_unwrapped(tmp_path):
    outputs = {"clusterIdentifier": "c", "secretArn": {"value": "arn", "secret": True},
               "regions": {"us-east-1": {"clusterIdentifier": "c", "writer": True,
                                         "parameterGroups": {"aurora-postgresql16": {"cluster": "a", "instance": "b"}}}},
               "port": 5432, "applicationUsers": ["app"], "backupVaultNames": {"us-east-1": "v"}, "extra": [[1]]}
    read = typed.outputs_file(write(tmp_path, outputs))
    assert read.outputs["secretArn"] == "arn" and read.outputs["regions"] == outputs["regions"]
    assert bool(typed.outputs_file(write(tmp_path, {}, "empty.json")))  # an empty file is still "given"


@pytest.mark.parametrize("content, problem", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
    ('{"regions": {}}'.encode("utf-16"), "UTF-16"),
    ('{"regions": {}}'.encode("utf-16-le"), "UTF-16"),
    (b'{"a": "\xff"}', "not UTF-8 text (byte 0xff"),
    ("[" * 200_000 + "]" * 200_000, "nested deeper than 32"),
    ('{"a":' * 100 + "1" + "}" * 100, "nested deeper than 32"),
    ("{not json", "not JSON"),
    ('{"a": NaN}', "NaN is not a JSON value"),
    ('{"a": ' + "9" * 10_000 + "}", "more than 20 digits"),
    ("[]", "expected a JSON object"),
    ({"regions": []}, "key 'regions': expected an object of regions, got a list"),
    ({"regions": "us-east-1"}, "key 'regions': expected an object of regions, got a string"),
    ({"regions": {"us-east-1": "c"}}, "key 'regions.us-east-1': expected an object"),
    ({"regions": {"us-east-1": {"clusterIdentifier": 42}}}, "key 'regions.us-east-1.clusterIdentifier': expected a string"),
    ({"clusterIdentifier": ["c"]}, "key 'clusterIdentifier': expected a string, got a list"),
    ({"globalClusterIdentifier": {"value": 7}}, "key 'globalClusterIdentifier': expected a string, got a number"),
    ({"regions": {"r": {"parameterGroups": {"f": "x"}}}}, "key 'regions.r.parameterGroups.f': expected an object"),
    ({"regions": {"r": {"writer": "yes"}}}, "key 'regions.r.writer': expected true or false"),
    ({"applicationUsers": "app"}, "key 'applicationUsers': expected a list of strings"),
    ({"port": True}, "key 'port': expected a number"),
])
def test_a_broken_outputs_file_is_refused_naming_the_file_and_the_key(tmp_path, content, problem):
    path = write(tmp_path, content)
    message = refused(typed.outputs_file, path)
    assert problem in message and path[:40] in message and len(message) < 400


def test_an_outputs_file_is_read_bounded(tmp_path):
    assert "larger than 5 MiB" in refused(typed.outputs_file, "/dev/zero")
    assert "no such file" in refused(typed.outputs_file, str(tmp_path / "missing.json"))
    assert "folder" in refused(typed.outputs_file, str(tmp_path))
    assert "empty" in refused(typed.outputs_file, "")
    assert "larger than 5 MiB" in refused(typed.outputs_file, write(tmp_path, b" " * (5 * 1024 * 1024 + 1)))


# ---------------------------------------------------------------------------------------
# check --set KEY=VALUE.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("pair, expected", [
    ("readerCount=4", ("aurora-platform:readerCount", "4")),
    ("aurora-platform:readerCount=4", ("aurora-platform:readerCount", "4")),
    ("aws:region=us-west-2", ("aws:region", "us-west-2")),
    ("preUpgradeSnapshot=", ("aurora-platform:preUpgradeSnapshot", "")),
    ("deletionProtection=false", ("aurora-platform:deletionProtection", "false")),
    ("snapshotDate=2001-12-14", ("aurora-platform:snapshotDate", "2001-12-14")),
    ("tags={made: 2001-12-14t21:59:43.10-05:00}", ("aurora-platform:tags", '{"made": "2001-12-14t21:59:43.10-05:00"}')),
    ("globalDatabase={secondaryRegions: [{region: us-west-2}]}",
     ("aurora-platform:globalDatabase", '{"secondaryRegions": [{"region": "us-west-2"}]}')),
])
def test_a_set_override_is_read_as_yaml_with_dates_kept_as_text(pair, expected):
    assert typed.setting_override(pair) == expected


@pytest.mark.parametrize("pair, problem", [
    ("Aurora-Platform:readerCount=4", "'Aurora-Platform:readerCount': the namespace is 'aurora-platform'"),
    ("AURORA-PLATFORM:readerCount=4", "case-sensitive"),
    ("readerCount", "expected KEY=VALUE"),
    ("=4", "expected KEY=VALUE"),
    ("reader count=4", "expected KEY=VALUE"),
    ("x=a\x00b", "control character"),
    ("x=a\x1b[2Jb", "control character"),
    ("x=" + "[" * 4000, "nested deeper than 16"),
    ("x=" + "[" * 100_000, "longer than 4096"),
    ("x=" + "[" * 17 + "]" * 17, "nested deeper than 16"),
    ("x=" + "a" * 100_000, "longer than 4096"),
    ("x=[unclosed", "not valid YAML"),
    ("x=!!binary aGVsbG8=", "a YAML bytes"),
    ("x=!!set {a, b}", "a YAML set"),
    ("x=!!timestamp 2001-12-14", "a YAML date"),
    ("x=.nan", "not finite"),
    ("x={[1]: 2}", "not valid YAML"),
    ("x={1: 2}", "not a string"),
    ("x=!!python/object:os.system x", "not valid YAML"),
    ("x=" + "1" * 4097, "longer than 4096"),
])
def test_a_set_override_that_cannot_reach_the_engine_is_refused(pair, problem):
    message = refused(typed.setting_override, pair)
    assert problem in message
    assert len(message) < 300  # the value is echoed back cut short


def test_a_set_value_of_many_aliases_is_refused_before_it_is_expanded():
    bomb = "[" + ", ".join(f"&a{i} [*a{i - 1}, *a{i - 1}]" if i else "&a0 [x]" for i in range(12)) + "]"
    assert "more than 1000 values" in refused(typed.setting_override, "x=" + bomb)


# ---------------------------------------------------------------------------------------
# Property tests: generated text through a real argparse parser.
# ---------------------------------------------------------------------------------------

FLAGS = {
    "--timeout": typed.seconds,
    "--poll-interval": typed.poll_seconds,
    "--wait": typed.wait_seconds,
    "--count": typed.positive_int(1000),
    "--region": typed.aws_region,
    "--stack": typed.stack_name,
    "--engine-version": typed.engine_version,
    "--endpoint-url": typed.endpoint_url,
    "--to-time": typed.iso_time,
    "--from-vault": typed.non_empty,
    "--vpc-security-group-ids": typed.security_group_id,
    "--instance-class": typed.instance_class,
    "--set": typed.setting_override,
    "--sarif": typed.output_path,
    "--outputs-file": typed.outputs_file,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy", allow_abbrev=False)
    for flag, type_ in FLAGS.items():
        parser.add_argument(flag, type=type_)
    return parser


PARSER = build_parser()

HOSTILE = st.sampled_from([
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "1e-999", "0", "-0", "0.0", "-1", "1e3",
    "9" * 5000, "9" * 100_000, "٣٠", "３０", "𝟑𝟎", "²", "½", "30\n", "\n", " ", "", "\x00", "\x1b[2J", "\u202e",
    "us east 2", "us-east-1\n", "127.0.0.1:5000", "ftp://h", "http://h:99999", "http://[::1", "/dev/zero", "/", ".",
    "Aurora-Platform:readerCount=4", "x=" + "[" * 50_000, "x=2001-12-14", "x=!!set {a}", "a" * 100_000,
    "2026-12-01T20:15:00", "dev/" * 50, "x" * 101, "16.6\n", "١٦.٦", "=", "x=\x07",
])
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                    st.integers(min_value=-(10 ** 400), max_value=10 ** 400).map(str),
                    st.decimals(allow_nan=True, allow_infinity=True).map(str))
TEXT = st.one_of(st.text(max_size=200), st.text(alphabet=string.printable, max_size=80),
                 st.text(alphabet=st.characters(categories=("Nd", "No", "Cc", "Zs")), max_size=20))
VALUES = st.one_of(HOSTILE, NUMBERS, TEXT)


def run_parser(argv: list[str], parser: argparse.ArgumentParser | None = None):
    """(namespace or None, exit code or None, stderr) of parsing ``argv``."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return (parser or PARSER).parse_args(argv), None, err.getvalue()
        except SystemExit as exit_:
            return None, exit_.code, err.getvalue()


def assert_valid(flag: str, value) -> None:
    """What an accepted value of each flag must be."""
    if flag in ("--timeout", "--poll-interval"):
        assert math.isfinite(value) and 0 < value <= typed.MAX_DURATION
    elif flag == "--wait":
        assert math.isfinite(value) and 0 <= value <= typed.MAX_DURATION
    elif flag == "--count":
        assert 1 <= value <= 1000
    elif flag == "--to-time":
        assert value.utcoffset() is not None
    elif flag in ("--region", "--stack", "--engine-version", "--endpoint-url", "--from-vault"):
        assert value and value.isascii() or flag == "--from-vault"
        assert "\n" not in value
    elif flag == "--set":
        key, text = value
        assert key.split(":")[0] == "aurora-platform" or key.split(":")[0].lower() != "aurora-platform"


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(flag=st.sampled_from(sorted(FLAGS)), text=VALUES)
def test_every_generated_value_is_accepted_or_refused_with_exit_2_naming_the_flag(flag, text):
    if "\x00" in text and flag in ("--outputs-file",):
        text = text.replace("\x00", "")  # open() itself refuses NUL; covered by the unit tests of output_path
    namespace, code, err = run_parser([f"{flag}={text}"])
    if namespace is None:
        assert code == 2, err
        assert f"argument {flag}:" in err, err
        assert "Traceback" not in err
        assert len(err.splitlines()[-1]) < 1000
    else:
        assert_valid(flag, getattr(namespace, flag.lstrip("-").replace("-", "_")))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["regions", "us-east-1", "clusterIdentifier", "parameterGroups", "writer", "port",
                         "applicationUsers", "value", "secret", "globalClusterIdentifier", "x"]), children, max_size=4),
    max_leaves=20)


@settings(max_examples=100, deadline=None, database=None)
@given(content=st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200),
                         st.text(max_size=200).map(lambda t: t.encode("utf-16"))))
def test_every_generated_outputs_file_is_accepted_or_refused_with_exit_2(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "outputs.json"
        path.write_bytes(content)
        namespace, code, err = run_parser(["--outputs-file", str(path)])
    if namespace is None:
        assert code == 2 and "argument --outputs-file:" in err and "Traceback" not in err, err
    else:
        assert isinstance(namespace.outputs_file.outputs, dict)


def test_argparse_does_not_take_a_prefix_for_a_flag():
    _, code, err = run_parser(["--time=30"])
    assert code == 2 and "unrecognized arguments" in err



# The driver's own parser: each command's typed flags, fed the same generated values.
DRIVER_FLAGS = [
    (["restore-drill", "--stack", "dev"], flag) for flag in
    ("--timeout", "--poll-interval", "--to-time", "--from-vault", "--instance-class", "--vpc-security-group-ids",
     "--db-subnet-group-name", "--delete", "--restore-job-id", "--region", "--endpoint-url")
] + [
    (["switchover", "--stack", "prod", "--to-region", "us-west-2"], flag)
    for flag in ("--timeout", "--poll-interval", "--global-cluster-id", "--outputs-file", "--to-region")
] + [
    (["upgrade", "--stack", "dev", "--engine-version", "16.8"], flag) for flag in ("--engine-version", "--timeout")
] + [
    (["verify", "--stack", "dev"], flag) for flag in ("--wait", "--region", "--endpoint-url", "--outputs-file")
] + [
    (["check", "--stack", "dev"], flag) for flag in ("--set", "--sarif", "--stack")
] + [(["rotate-password", "--stack", "dev"], "--poll-interval"), (["preflight", "--stack", "dev"], "--region")]


@functools.cache
def driver_parser() -> argparse.ArgumentParser:
    from deploy import cli

    return cli.build_parser()


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(DRIVER_FLAGS), text=VALUES)
def test_the_drivers_parser_accepts_or_refuses_every_generated_value_naming_the_flag(case, text):
    argv, flag = case
    if flag == "--outputs-file":
        text = text.replace("\x00", "")
    namespace, code, err = run_parser([*argv, f"{flag}={text}"], driver_parser())
    if namespace is None:
        assert code == 2 and f"argument {flag}:" in err and "Traceback" not in err, err
