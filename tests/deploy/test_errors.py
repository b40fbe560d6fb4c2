"""The one error boundary (``deploy.errors.run_guarded``, run by ``deploy.cli.main``): every escape
becomes an exit code and at most one line on stderr, never a traceback unless ``--debug``.

The endpoint that is not AWS is a real HTTP server on loopback answering an HTML page to every
request, as a proxy, a captive portal or an emulator's "not implemented" page does; botocore's
``ResponseParserError`` that follows is not a ``BotoCoreError``."""

from __future__ import annotations

import http.server
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest

from deploy import cli
from deploy.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CommandRefused, run_guarded
from deploy.runbooks import verify

PROJECT_DIR = Path(__file__).resolve().parents[2]


class _HtmlPage(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        body = b"<html><body><h1>Welcome</h1><p>This is not AWS.</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(params=["html-page", "python-http-server"])
def html_endpoint(request, tmp_path):
    """An HTML page to every request; or ``python -m http.server``'s handler (a directory listing for
    GET, an HTML 501 page for AWS's POST)."""
    handler = _HtmlPage
    if request.param == "python-http-server":
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        def handler(*args, **kwargs):
            return Quiet(*args, directory=str(tmp_path), **kwargs)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def guarded(func, **kwargs) -> tuple[int, str]:
    err = io.StringIO()
    return run_guarded(func, stderr=err, **kwargs), err.getvalue()


def test_an_endpoint_that_answers_html_is_exit_1_with_one_line_naming_service_call_and_endpoint(html_endpoint,
                                                                                                  credentials):
    rds = boto3.client("rds", region_name="us-east-2", endpoint_url=html_endpoint)
    code, err = guarded(lambda: rds.describe_db_clusters())
    assert code == EXIT_FAILED
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "DescribeDBClusters" in err and html_endpoint in err


def test_verify_against_an_html_endpoint_exits_1_without_a_traceback(html_endpoint, credentials, tmp_path, capsys):
    outputs = tmp_path / "outputs.json"
    outputs.write_text('{"regions": {"us-east-2": {"clusterIdentifier": "aurora-platform-dev-us-east-2"}}}')
    code = cli.main(["verify", "--stack", "dev", "--outputs-file", str(outputs), "--endpoint-url", html_endpoint])
    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "DescribeDBClusters" in err and html_endpoint in err


def test_an_aws_refusal_names_the_call_the_service_and_the_endpoint(html_endpoint, credentials):
    from botocore.stub import Stubber

    rds = boto3.client("rds", region_name="us-east-2")
    with Stubber(rds) as stub:
        stub.add_client_error("describe_db_clusters", "AccessDenied", "not authorized", 403)
        code, err = guarded(lambda: rds.describe_db_clusters())
    assert code == EXIT_FAILED
    assert err.startswith("error: AWS refused DescribeDBClusters: AccessDenied: not authorized (rds at https://")


def test_no_credentials_is_a_refusal(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    rds = boto3.session.Session().client("rds", region_name="us-east-2")
    code, err = guarded(lambda: rds.describe_db_clusters())
    assert code == EXIT_USAGE and err.startswith("error: no AWS credentials") and "Traceback" not in err


def test_a_refusal_prints_its_message_and_exits_with_its_code():
    def refuse():
        raise CommandRefused("--stack x: unknown", EXIT_USAGE)

    assert guarded(refuse) == (EXIT_USAGE, "error: --stack x: unknown\n")


def test_an_unexpected_exception_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    def broken(stack):
        raise RuntimeError("something the code did not expect\nsecond line")

    monkeypatch.setattr(verify, "resolve_settings", broken)
    assert cli.main(["verify", "--stack", "dev"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == ("internal error: RuntimeError: something the code did not expect "
                   "(run again with --debug to see the traceback)\n")
    for argv in (["--debug", "verify", "--stack", "dev"], ["verify", "--stack", "dev", "--debug"]):
        assert cli.main(argv) == EXIT_FAILED
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "in broken" in err
        assert err.rstrip().endswith("internal error: RuntimeError: something the code did not expect")


def test_a_keyboard_interrupt_no_runbook_handled_exits_130():
    def interrupted():
        raise KeyboardInterrupt

    assert guarded(interrupted) == (EXIT_INTERRUPTED, "interrupted\n")


def test_a_closed_stdout_pipe_exits_quietly(monkeypatch):
    read_end, write_end = os.pipe()
    os.close(read_end)
    stdout = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", stdout)

    def prints_a_lot() -> int:
        for _ in range(10_000):
            print("x" * 100)
        return 0

    try:
        code, err = guarded(prints_a_lot)
    finally:
        monkeypatch.undo()
        stdout.close()  # its descriptor points at devnull now: closing it flushes nothing into a pipe
    assert (code, err) == (EXIT_FAILED, "")


def test_check_json_into_head_exits_quietly():
    result = subprocess.run(f"{sys.executable} -m deploy check --stack dev --json | head -c 100",
                            shell=True, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert result.stdout.startswith("{") and len(result.stdout) == 100
    assert result.stderr == ""


@pytest.mark.parametrize("argv, flag", [
    (["failover", "--stack", "prod", "--to-region", "us-west-2", "--allow"], "--allow"),
    (["verify", "--stack", "dev", "--end", "http://127.0.0.1:1"], "--end"),
    (["check", "--sta", "dev"], "--sta"),
])
def test_a_prefix_of_a_flag_is_not_taken_for_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(argv)
    assert exited.value.code == EXIT_USAGE
    assert flag in capsys.readouterr().err


def test_every_parser_refuses_abbreviations():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    assert parser.allow_abbrev is False
    assert all(command.allow_abbrev is False for command in subparsers.choices.values())


@pytest.mark.parametrize("command", [
    ["restore-drill", "--stack", "dev"],
    ["switchover", "--stack", "prod", "--to-region", "us-west-2"],
    ["failover", "--stack", "prod", "--to-region", "us-west-2", "--allow-data-loss"],
    ["upgrade", "--stack", "dev", "--engine-version", "16.8"],
    ["rotate-password", "--stack", "dev"],
    ["clone", "--stack", "dev"],
])
@pytest.mark.parametrize("flag, value", [("--timeout", "nan"), ("--timeout", "1e999"), ("--poll-interval", "nan"),
                                         ("--poll-interval", "-inf"), ("--timeout", "0")])
def test_a_duration_that_is_not_finite_and_positive_is_refused_before_any_call(command, flag, value, monkeypatch, capsys):
    def no_aws(*args, **kwargs):
        raise AssertionError("an AWS client was made")

    monkeypatch.setattr("deploy.runbooks.base.Clients", no_aws)
    with pytest.raises(SystemExit) as exited:  # refused by its type (deploy.args) when the command line is read
        cli.main([*command, f"{flag}={value}"])
    assert exited.value.code == EXIT_USAGE
    assert f"argument {flag}: {value!r}" in capsys.readouterr().err


def test_a_failure_after_the_switchover_started_says_how_to_finish(monkeypatch, tmp_path, capsys):
    """A bug (or an answer that is not AWS's) after the first mutating call: exit 1, one message that
    says the operation was started and how to watch and record it; --debug shows the cause."""
    from botocore.stub import Stubber

    from deploy.runbooks import switchover

    gid, east, west = ("aurora-platform-prod", "arn:aws:rds:us-east-1:123456789012:cluster:aurora-platform-prod-us-east-1",
                       "arn:aws:rds:us-west-2:123456789012:cluster:aurora-platform-prod-us-west-2")
    members = [{"DBClusterArn": east, "IsWriter": True}, {"DBClusterArn": west, "IsWriter": False}]
    rds = boto3.client("rds", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(f'{{"globalClusterIdentifier": "{gid}"}}')

    def broken_wait(*args):
        raise RuntimeError("a bug in the wait")

    monkeypatch.setattr(switchover, "wait_for_writer", broken_wait)
    monkeypatch.setattr("deploy.runbooks.switchover.Clients", lambda endpoint_url: lambda service, region: rds)
    with Stubber(rds) as stub:
        stub.add_response("describe_global_clusters", {"GlobalClusters": [
            {"GlobalClusterIdentifier": gid, "Status": "available", "GlobalClusterMembers": members}]})
        stub.add_response("switchover_global_cluster", {"GlobalCluster": {"GlobalClusterIdentifier": gid}})
        code = cli.main(["switchover", "--stack", "prod", "--to-region", "us-west-2", "--outputs-file", str(outputs)])
    err = capsys.readouterr().err
    assert code == EXIT_FAILED and "Traceback" not in err
    assert err.startswith("error: internal error: RuntimeError: a bug in the wait; the switchover to us-west-2 was started")
    assert "aws rds describe-global-clusters --global-cluster-identifier aurora-platform-prod --region us-west-2" in err
    assert "pulumi config set --path globalDatabase.writerRegion us-west-2 --stack prod" in err
