"""The driver under hostile input (issue classes 1-5), through ``deploy.cli.main`` as a user runs it:
exit 2 naming the flag for refused input, exit 1 with one line for an endpoint that is not AWS, no
traceback ever, and no AWS call before every input is known good."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from botocore.client import BaseClient

from deploy import cli
from deploy.offline.stack_config import PROJECT_DIR

DEV_OUTPUTS = {
    "clusterIdentifier": "aurora-platform-dev-us-east-2",
    "clusterArn": "arn:aws:rds:us-east-2:123456789012:cluster:aurora-platform-dev-us-east-2",
    "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:key/1",
    "regions": {"us-east-2": {
        "clusterIdentifier": "aurora-platform-dev-us-east-2",
        "clusterArn": "arn:aws:rds:us-east-2:123456789012:cluster:aurora-platform-dev-us-east-2",
        "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:key/1", "writer": True, "role": "primary",
        "parameterGroups": {"aurora-postgresql16": {"cluster": "c16", "instance": "i16"}}}},
}
PROD_OUTPUTS = {
    "globalClusterIdentifier": "aurora-platform-prod",
    "regions": {region: {"clusterIdentifier": f"aurora-platform-prod-{region}",
                         "clusterArn": f"arn:aws:rds:{region}:123456789012:cluster:aurora-platform-prod-{region}",
                         "writer": region == "us-east-1"} for region in ("us-east-1", "us-west-2")},
}


@pytest.fixture
def outputs(tmp_path) -> dict[str, str]:
    files = {}
    for stack, content in (("dev", DEV_OUTPUTS), ("prod", PROD_OUTPUTS)):
        path = tmp_path / f"{stack}-outputs.json"
        path.write_text(json.dumps(content))
        files[stack] = str(path)
    return files


def commands(outputs: dict[str, str]) -> dict[str, list[str]]:
    """A valid command line of each AWS command (before an endpoint is added)."""
    return {
        "verify": ["verify", "--stack", "dev", "--outputs-file", outputs["dev"]],
        "switchover": ["switchover", "--stack", "prod", "--to-region", "us-west-2", "--outputs-file", outputs["prod"]],
        "failover": ["failover", "--stack", "prod", "--to-region", "us-west-2", "--allow-data-loss",
                     "--outputs-file", outputs["prod"]],
        "preflight": ["preflight", "--stack", "dev"],
        "upgrade": ["upgrade", "--stack", "dev", "--engine-version", "16.8", "--outputs-file", outputs["dev"]],
        "bootstrap-users": ["bootstrap-users", "--stack", "prod"],
        "rotate-password": ["rotate-password", "--stack", "dev"],
        "restore-drill": ["restore-drill", "--stack", "dev"],
        "clone": ["clone", "--stack", "dev"],
    }


AWS_COMMANDS = ("verify", "switchover", "failover", "preflight", "upgrade", "bootstrap-users", "rotate-password",
                "restore-drill", "clone")
TIMED_COMMANDS = ("switchover", "failover", "upgrade", "rotate-password", "restore-drill", "clone")
OUTPUTS_COMMANDS = ("verify", "switchover", "failover", "upgrade")


@pytest.fixture
def aws_calls(monkeypatch, aws_env) -> list[str]:
    """Every AWS call a command makes is recorded and fails: a refusal must come before any."""
    calls: list[str] = []

    def record(_client, operation, _params):
        calls.append(operation)
        raise AssertionError(f"unexpected AWS call {operation}")

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return calls


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, out: str, err: str, flag: str) -> None:
    assert code == 2, (out, err)
    assert flag in err, err
    assert "Traceback" not in out + err


# ---------------------------------------------------------------------------------------
# Class 1: durations are finite positive numbers, checked before anything happens.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", TIMED_COMMANDS)
@pytest.mark.parametrize("flag", ["--timeout", "--poll-interval"])
@pytest.mark.parametrize("value", ["nan", "1e999", "inf", "-1", "0", "9" * 5000])
def test_a_duration_that_is_not_finite_and_positive_exits_2_before_any_aws_call(capsys, aws_calls, outputs, command,
                                                                                flag, value):
    code, out, err = run_cli(capsys, [*commands(outputs)[command], flag, value])
    assert_refused(code, out, err, f"argument {flag}")
    assert aws_calls == []


@pytest.mark.parametrize("value", ["nan", "1e999", "-1", "9" * 5000])
def test_verify_wait_that_is_not_a_finite_number_exits_2_before_any_aws_call(capsys, aws_calls, outputs, value):
    code, out, err = run_cli(capsys, [*commands(outputs)["verify"], "--wait", value])
    assert_refused(code, out, err, "argument --wait")
    assert aws_calls == []


# ---------------------------------------------------------------------------------------
# Class 2: every input is checked.
# ---------------------------------------------------------------------------------------

ALL_COMMANDS = ("check", "diff", "preview", "up", "refresh", "destroy", *AWS_COMMANDS)


@pytest.mark.parametrize("command", ALL_COMMANDS)
@pytest.mark.parametrize("stack", ["x" * 5000, "dev\n", "../dev", ""])
def test_a_stack_name_pulumi_refuses_exits_2_naming_stack(capsys, aws_calls, outputs, command, stack):
    argv = commands(outputs).get(command, [command, "--stack", "dev"])
    argv = [arg if arg not in ("dev", "prod") or argv[i - 1] != "--stack" else stack for i, arg in enumerate(argv)]
    code, out, err = run_cli(capsys, argv)
    assert_refused(code, out, err, "argument --stack")
    assert "OSError" not in err and aws_calls == []


@pytest.mark.parametrize("command", AWS_COMMANDS)
@pytest.mark.parametrize("url", ["127.0.0.1:5000", "", "not a url", "http://127.0.0.1:99999", "ftp://127.0.0.1",
                                 "http://", "http://127.0.0.1:0"])
def test_a_malformed_endpoint_url_exits_2_naming_it(capsys, aws_calls, outputs, command, url):
    code, out, err = run_cli(capsys, [*commands(outputs)[command], "--endpoint-url", url])
    assert_refused(code, out, err, "argument --endpoint-url")
    assert aws_calls == []


@pytest.mark.parametrize("region, says", [("us east 2", "argument --region"), ("eu-west-1", "--region 'eu-west-1'")])
def test_restore_drill_delete_in_a_region_outside_the_stack_exits_2(capsys, aws_calls, region, says):
    code, out, err = run_cli(capsys, ["restore-drill", "--stack", "dev", "--delete", "drill-dev-x", "--region", region])
    assert_refused(code, out, err, says)
    assert aws_calls == []


@pytest.mark.parametrize("flag", ["--to-time", "--from-vault"])
def test_restore_drill_empty_to_time_or_from_vault_exits_2(capsys, aws_calls, flag):
    code, out, err = run_cli(capsys, ["restore-drill", "--stack", "dev", flag, ""])
    assert_refused(code, out, err, f"argument {flag}")
    assert aws_calls == []


@pytest.mark.parametrize("argv, says", [
    (["--instance-class", "db.nonsense.huge"], "--instance-class"),
    (["--instance-class", ""], "--instance-class"),
    (["--from-vault", "us-east-2", "--vpc-security-group-ids", "not-a-group"], "--vpc-security-group-ids"),
    (["--to-time", "2026-12-01T20:15:00"], "--to-time"),
    (["--vpc-security-group-ids", "sg-0123456789abcdef0"], "--vpc-security-group-ids are for a --from-vault drill"),
    (["--db-subnet-group-name", "default"], "--db-subnet-group-name and"),
])
def test_restore_drill_refuses_an_unusable_drill_flag(capsys, aws_calls, argv, says):
    code, out, err = run_cli(capsys, ["restore-drill", "--stack", "dev", *argv])
    assert_refused(code, out, err, says)
    assert aws_calls == []


@pytest.mark.parametrize("version", ["16.8\n", "１６.8", "16.٨", " 16.8", "9" * 5000])
def test_upgrade_engine_version_with_a_newline_or_non_ascii_digits_exits_2(capsys, aws_calls, outputs, version):
    argv = [*commands(outputs)["upgrade"]]
    argv[argv.index("--engine-version") + 1] = version
    code, out, err = run_cli(capsys, argv)
    assert_refused(code, out, err, "--engine-version")
    assert aws_calls == []


def test_upgrade_blue_green_with_maintenance_window_is_refused_naming_the_flag(capsys, aws_calls, outputs):
    """Blue/Green is not offered (AWS refuses it with an RDS-managed master password): the flag is unknown."""
    code, out, err = run_cli(capsys, [*commands(outputs)["upgrade"], "--blue-green", "--in-maintenance-window"])
    assert_refused(code, out, err, "--blue-green")
    assert aws_calls == []


def test_check_set_with_the_project_namespace_in_the_wrong_case_exits_2_naming_the_key(capsys):
    code, out, err = run_cli(capsys, ["check", "--stack", "dev", "--set", "Aurora-Platform:readerCount=4"])
    assert_refused(code, out, err, "'Aurora-Platform:readerCount'")


def test_a_flag_prefix_is_not_taken_for_the_flag(capsys, aws_calls, outputs):
    code, out, err = run_cli(capsys, ["failover", "--stack", "prod", "--to-region", "us-west-2", "--allow",
                                      "--outputs-file", outputs["prod"]])
    assert_refused(code, out, err, "--allow")
    assert aws_calls == []


# ---------------------------------------------------------------------------------------
# Class 3: an endpoint that answers, but not as AWS.
# ---------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def html_endpoint(tmp_path_factory):
    """``python -m http.server`` on a free loopback port: it answers every request with an HTML page."""
    folder = tmp_path_factory.mktemp("html")
    (folder / "index.html").write_text("<!DOCTYPE html><html><body><h1>not AWS</h1></body></html>\n")
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("http.server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@pytest.mark.parametrize("command", AWS_COMMANDS)
def test_an_endpoint_answering_html_exits_1_with_one_line_and_no_traceback(capsys, aws_env, outputs, html_endpoint,
                                                                           command):
    code, out, err = run_cli(capsys, [*commands(outputs)[command], "--endpoint-url", html_endpoint])
    assert code == 1, (out, err)
    assert "Traceback" not in out + err
    if command == "preflight":  # it reports every check it could not make, one line each, and goes on
        findings = [line for line in out.splitlines() if line.startswith("not-checked")]
        assert findings and err == "" and all("no readable answer" in f or "AWS refused" in f for f in findings), out
        return
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and len(err.strip().splitlines()) == 1, err
    assert html_endpoint in errors[0] and "rds" in errors[0], err  # the service, the call and the endpoint


# ---------------------------------------------------------------------------------------
# Class 4: --outputs-file.
# ---------------------------------------------------------------------------------------

BROKEN_OUTPUTS = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff", "not UTF-8"),
    "utf16": (json.dumps(DEV_OUTPUTS).encode("utf-16"), "UTF-16"),
    "deep": (("[" * 200_000 + "]" * 200_000).encode(), "nested deeper"),
    "regions-list": (json.dumps({"regions": ["us-east-2"]}).encode(), "key 'regions'"),
    "regions-string": (json.dumps({"regions": "us-east-2"}).encode(), "key 'regions'"),
    "identifier-number": (json.dumps({"regions": {"us-east-2": {"clusterIdentifier": 7}}}).encode(),
                          "key 'regions.us-east-2.clusterIdentifier'"),
    "identifier-list": (json.dumps({"globalClusterIdentifier": ["g"]}).encode(), "key 'globalClusterIdentifier'"),
}


@pytest.mark.parametrize("command", OUTPUTS_COMMANDS)
@pytest.mark.parametrize("case", sorted(BROKEN_OUTPUTS))
def test_a_broken_outputs_file_exits_2_naming_the_file_and_key(capsys, aws_calls, outputs, tmp_path, command, case):
    content, says = BROKEN_OUTPUTS[case]
    path = tmp_path / f"{case}.json"
    path.write_bytes(content)
    argv = [*commands(outputs)[command]]
    argv[argv.index("--outputs-file") + 1] = str(path)
    code, out, err = run_cli(capsys, argv)
    assert_refused(code, out, err, "argument --outputs-file")
    assert says in err and str(path)[:50] in err
    assert aws_calls == []


@pytest.mark.parametrize("command", OUTPUTS_COMMANDS)
def test_outputs_file_dev_zero_is_refused_bounded(capsys, aws_calls, outputs, command):
    argv = [*commands(outputs)[command]]
    argv[argv.index("--outputs-file") + 1] = "/dev/zero"
    code, out, err = run_cli(capsys, argv)
    assert_refused(code, out, err, "argument --outputs-file")
    assert "larger than" in err and aws_calls == []


# ---------------------------------------------------------------------------------------
# Class 5: output.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["folder", "missing-folder"])
def test_check_sarif_to_a_path_it_cannot_write_exits_2_before_the_check_runs(capsys, monkeypatch, tmp_path, where):
    target = tmp_path if where == "folder" else tmp_path / "missing" / "out.sarif"
    ran = []
    monkeypatch.setattr("deploy.offline.check.run_program", lambda *a, **k: ran.append(1))
    code, out, err = run_cli(capsys, ["check", "--stack", "dev", "--sarif", str(target)])
    assert_refused(code, out, err, "argument --sarif")
    assert ran == []


def test_check_json_into_a_closed_pipe_exits_quietly():
    command = f"{sys.executable} -m deploy check --stack prod --json | head -c 100"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=PROJECT_DIR, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode in (0, 1, 128 + signal.SIGPIPE), result.stderr  # 1: the boundary's quiet broken pipe
    assert len(result.stdout) == 100
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr


@pytest.mark.parametrize("pair, says", [
    ("tags={made: 2001-12-14}", None),
    ("x=a\x1bb", "control character"),
    ("x=" + "[" * 100_000, "longer than"),
    ("x=" + "[" * 1000, "nested deeper"),
    ("x=" + "y" * 100_000, "longer than"),
])
def test_check_set_values_that_cannot_reach_the_engine_exit_2_with_a_short_echo(capsys, pair, says):
    code, out, err = run_cli(capsys, ["check", "--stack", "dev", "--set", pair, "--json"])
    assert "Traceback" not in out + err
    if says is None:  # a date inside a value stays text: the check runs, and settings refuse the unknown key
        assert code == 2 and "tags" in err, err
        return
    assert_refused(code, out, err, "argument --set")
    assert says in err and len(err.splitlines()[-1]) < 300


# ---------------------------------------------------------------------------------------
# After the first change: a failure (here a bug, injected on the next call) cleans up or
# prints the exact commands to finish.
# ---------------------------------------------------------------------------------------

MUTATING = {"RestoreDBClusterToPointInTime", "StartRestoreJob", "SwitchoverGlobalCluster", "FailoverGlobalCluster",
            "ModifyDBCluster", "ModifyGlobalCluster", "CreateDBClusterSnapshot", "RotateSecret", "PutSecretValue"}


class FailAfterFirstChange:
    """Every AWS call goes through (to moto, or a Stubber), except ``answers`` given here for what moto
    lacks; the first call after the first mutating one raises, as a bug or an endpoint gone bad would."""

    def __init__(self, monkeypatch, answers: dict | None = None, is_change=lambda operation, params: operation in MUTATING):
        self.changed: str | None = None
        self.fired = False
        original = BaseClient._make_api_call

        def call(client, operation, params):
            if self.changed and not self.fired:
                self.fired = True
                raise RuntimeError(f"injected failure after {self.changed}")
            result = (answers or {}).get(operation) or original(client, operation, params)
            if is_change(operation, params):
                self.changed = operation
            return result

        monkeypatch.setattr(BaseClient, "_make_api_call", call)


def test_restore_drill_failing_after_its_restore_deletes_the_drill_cluster(moto, monkeypatch, capsys):
    from tests.deploy.test_restore_drill import cluster_ids, deployed

    deployed(moto, "dev")
    injected = FailAfterFirstChange(monkeypatch)
    code, out, err = run_cli(capsys, ["restore-drill", "--stack", "dev", "--endpoint-url", moto, "--poll-interval", "1"])
    assert injected.changed == "RestoreDBClusterToPointInTime" and injected.fired
    assert code == 1 and "Traceback" not in out + err
    assert "RuntimeError: injected failure after RestoreDBClusterToPointInTime" in out
    assert "deleted            yes" in out
    assert cluster_ids(moto, "us-east-2") == {"aurora-platform-dev-us-east-2"}


@pytest.mark.parametrize("kind, operation", [("switchover", "SwitchoverGlobalCluster"), ("failover", "FailoverGlobalCluster")])
def test_switchover_and_failover_failing_after_they_started_print_the_commands_to_finish(moto, monkeypatch, capsys, kind,
                                                                                         operation):
    from tests.deploy.aws_deployment import build
    from tests.test_settings import settings_of

    build(moto, settings_of("prod"))
    gid = "aurora-platform-prod"
    # moto implements neither call: answer it as RDS does, with the global cluster.
    injected = FailAfterFirstChange(monkeypatch, {operation: {"GlobalCluster": {"GlobalClusterIdentifier": gid}}})
    argv = [kind, "--stack", "prod", "--to-region", "us-west-2", "--global-cluster-id", gid, "--endpoint-url", moto]
    code, out, err = run_cli(capsys, argv + (["--allow-data-loss"] if kind == "failover" else []))
    assert injected.changed == operation and injected.fired
    assert code == 1 and "Traceback" not in out + err
    assert f"injected failure after {operation}" in err and f"the {kind} to us-west-2 was started" in err
    assert f"aws rds describe-global-clusters --global-cluster-identifier {gid} --region us-west-2" in err
    assert "pulumi config set --path globalDatabase.writerRegion us-west-2 --stack prod" in err


def test_rotate_password_failing_after_the_cluster_took_the_new_password_says_how_to_finish(moto, monkeypatch, capsys):
    from tests.deploy.test_rotate_password import moto_global

    rds, secrets, before = moto_global(moto)
    injected = FailAfterFirstChange(monkeypatch)
    # --endpoint-url makes it a rehearsal: the stack's config is not written, so no Pulumi CLI is needed.
    code, out, err = run_cli(capsys, ["rotate-password", "--stack", "prod", "--endpoint-url", moto, "--poll-interval", "1"])
    assert injected.changed == "ModifyDBCluster" and injected.fired
    assert code == 1 and "Traceback" not in out + err
    assert "injected failure after ModifyDBCluster" in err
    assert f"a rehearsal against {moto}: the stack's config was not written; run it again" in err


def test_upgrade_failing_after_its_modify_says_how_to_finish(monkeypatch, tmp_path, capsys):
    from tests.deploy.test_upgrade import DEV, Regions, db_cluster, expect_dev_state, expect_offered, expect_versions
    from tests.deploy.test_upgrade import outputs_file as upgrade_outputs

    rds = Regions()
    stub = rds["us-east-2"]
    expect_dev_state(rds, managed_secret=True)
    expect_versions(stub, "16.6", "16.8", [("16.8", False)])
    expect_offered(stub, "16.8", "db.t4g.medium")
    stub.add_response("modify_db_cluster", {"DBCluster": db_cluster("us-east-2", DEV, status="upgrading")},
                      {"DBClusterIdentifier": DEV, "EngineVersion": "16.8", "AllowMajorVersionUpgrade": False,
                       "ApplyImmediately": True})
    monkeypatch.setattr("deploy.runbooks.upgrade.Clients", lambda endpoint_url: lambda service, region: rds.clients[region])
    injected = FailAfterFirstChange(monkeypatch)
    try:
        code, out, err = run_cli(capsys, ["upgrade", "--stack", "dev", "--engine-version", "16.8", "--outputs-file",
                                          upgrade_outputs(tmp_path, "dev")])
    finally:
        rds.close()  # every stubbed answer was used: nothing after the injected failure ran
    assert injected.changed == "ModifyDBCluster" and injected.fired
    assert code == 1 and "Traceback" not in out + err
    assert "injected failure after ModifyDBCluster" in err and "the upgrade to 16.8 may be under way" in err
    assert f"aws rds describe-db-clusters --db-cluster-identifier {DEV} --region us-east-2" in err


def test_bootstrap_users_failing_after_its_first_statement_prints_the_statements_left(moto, monkeypatch, capsys):
    from tests.deploy.test_bootstrap_users import CREATE_APP, Stubs, make_master_secret

    secret_arn = make_master_secret(moto)
    stubs = Stubs(moto)
    stubs.expect_read(secret_arn, [])
    stubs.expect_statement(secret_arn, CREATE_APP[0])
    clients = {"rds": stubs.rds, "secretsmanager": stubs.secrets, "rds-data": stubs.data}
    monkeypatch.setattr("deploy.runbooks.bootstrap_users.Clients", lambda endpoint_url: lambda service, region: clients[service])
    injected = FailAfterFirstChange(monkeypatch, is_change=lambda operation, params: (
        operation == "ExecuteStatement" and "parameters" not in params))  # the read passes parameters, a change none
    with stubs.rds_stub, stubs.data_stub:
        code, out, err = run_cli(capsys, ["bootstrap-users", "--stack", "prod"])
        stubs.data_stub.assert_no_pending_responses()
    assert injected.changed == "ExecuteStatement" and injected.fired
    assert code == 1 and "Traceback" not in out + err
    assert "injected failure after ExecuteStatement" in err and "stopped after 1 of 6 statements" in err
    assert all(f"  {sql};" in err for sql in CREATE_APP[1:])
