"""`deploy bootstrap-users` on the moto server, with botocore's Stubber where moto lacks an answer.

What moto has and lacks (moto/rds/models.py, moto/rdsdata/models.py): it answers
DescribeDBClusters, but reports ``HttpEndpointEnabled`` false for every provisioned cluster
(it enables the Data API on a few Serverless v1 versions only), so a cluster with the Data API
on is a Stubber answer. Its rds-data ExecuteStatement runs no SQL: it returns the results queued
through ``/moto-api/static/rds-data/statement-results`` (or no records) and keeps no record a
test could read back, so the statements the command runs are asserted with a Stubber on the
rds-data client. Secrets Manager is moto's.
"""

from __future__ import annotations

import dataclasses
import io
import json
import urllib.request
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import ANY, Stubber

from components.settings import parse_settings
from deploy import cli
from deploy.offline.stack_config import load_stack_config
from deploy.runbooks import bootstrap_users
from deploy.runbooks.base import CommandRefused
from deploy.runbooks.bootstrap_users import PGAUDIT_STATEMENTS, bootstrap, existing_users_sql

ACCOUNT = "123456789012"
PROD_CLUSTER = "aurora-platform-prod-us-east-1"
PROD_ARN = f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:{PROD_CLUSTER}"
TAGS = [{"Key": "project", "Value": "aurora-platform"}, {"Key": "stack", "Value": "prod"}]


def args(stack: str = "prod", dry_run: bool = False, endpoint_url: str | None = None):
    return SimpleNamespace(stack=stack, dry_run=dry_run, endpoint_url=endpoint_url)


def cluster_answer(**overrides) -> dict:
    cluster = {"DBClusterIdentifier": PROD_CLUSTER, "DBClusterArn": PROD_ARN, "Status": "available",
               "HttpEndpointEnabled": True, "TagList": TAGS, "Engine": "aurora-postgresql"}
    return {"DBClusters": [{**cluster, **overrides}]}


def make_master_secret(moto: str) -> str:
    secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto)
    return secrets.create_secret(Name="aurora-platform-prod/master", SecretString=json.dumps({"password": "x"}))["ARN"]


class Stubs:
    """Stubbed RDS and rds-data clients plus moto's Secrets Manager, as the command's clients."""

    def __init__(self, moto: str, rds_answer: dict | None = None):
        self.rds = boto3.client("rds", region_name="us-east-1")
        self.data = boto3.client("rds-data", region_name="us-east-1")
        self.secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto)
        self.rds_stub, self.data_stub = Stubber(self.rds), Stubber(self.data)
        self.rds_stub.add_response("describe_db_clusters", rds_answer or cluster_answer(),
                                   {"DBClusterIdentifier": PROD_CLUSTER})

    def expect_read(self, secret_arn: str, records: list) -> None:
        self.data_stub.add_response("execute_statement", {"records": records}, {
            "resourceArn": PROD_ARN, "secretArn": secret_arn, "database": "app",
            "sql": existing_users_sql("aurora-postgresql"),
            "parameters": [{"name": "names", "value": {"stringValue": "app"}}]})

    def expect_statement(self, secret_arn: str, sql: str) -> None:
        self.data_stub.add_response("execute_statement", {"numberOfRecordsUpdated": 0},
                                    {"resourceArn": PROD_ARN, "secretArn": secret_arn, "database": "app", "sql": sql})

    def run(self, **kwargs) -> tuple[int, str]:
        out = io.StringIO()
        with self.rds_stub, self.data_stub:
            code = bootstrap(args(**kwargs), clients=lambda service, region: {'rds': self.rds, 'secretsmanager': self.secrets, 'rds-data': self.data}[service], out=out)
            self.data_stub.assert_no_pending_responses()
        return code, out.getvalue()


CREATE_APP = [
    'CREATE ROLE "app" LOGIN',
    'GRANT rds_iam TO "app"',
    'GRANT CONNECT ON DATABASE "app" TO "app"',
    'GRANT USAGE, CREATE ON SCHEMA public TO "app"',
]
# prod has auditLogging on (production requires it): pgaudit's role and extension follow the users, on every run.
AUDIT = [sql for sql, _ in PGAUDIT_STATEMENTS]
AUDIT_OUT = ["role rds_pgaudit (pgaudit.role) in place", "extension pgaudit in place"]


def test_creates_the_missing_user_with_rds_iam_and_prints_each_change(moto):
    secret_arn = make_master_secret(moto)
    stubs = Stubs(moto)
    stubs.expect_read(secret_arn, [])
    for sql in CREATE_APP + AUDIT:
        stubs.expect_statement(secret_arn, sql)

    code, out = stubs.run()

    assert code == 0
    assert out.splitlines() == [
        "created role app (LOGIN, no password)", "granted rds_iam to app (IAM authentication)",
        "granted CONNECT on database app to app", "granted USAGE, CREATE on schema public to app", *AUDIT_OUT]


def test_second_run_creates_nothing_and_issues_the_grants_again(moto):
    secret_arn = make_master_secret(moto)
    stubs = Stubs(moto)
    stubs.expect_read(secret_arn, [[{"stringValue": "app"}, {"booleanValue": True}]])
    for sql in CREATE_APP[2:] + AUDIT:
        stubs.expect_statement(secret_arn, sql)

    code, out = stubs.run()

    assert code == 0
    assert out.splitlines() == ["role app exists and holds rds_iam; its grants are issued again (no change if held)",
                                "granted CONNECT on database app to app", "granted USAGE, CREATE on schema public to app",
                                *AUDIT_OUT]


def test_a_run_after_one_stopped_half_way_finishes_the_grants(moto):
    """The first run created the role and granted rds_iam, then CONNECT was refused: the next run grants the rest."""
    secret_arn = make_master_secret(moto)
    first = Stubs(moto)
    first.expect_read(secret_arn, [])
    for sql in CREATE_APP[:2]:
        first.expect_statement(secret_arn, sql)
    first.data_stub.add_client_error("execute_statement", "BadRequestException", "could not connect", 400)
    with pytest.raises(CommandRefused) as refused:
        first.run()
    assert "run the command again (it creates what is missing and issues every GRANT again)" in str(refused.value)

    second = Stubs(moto)
    second.expect_read(secret_arn, [[{"stringValue": "app"}, {"booleanValue": True}]])
    for sql in CREATE_APP[2:] + AUDIT:
        second.expect_statement(secret_arn, sql)
    code, out = second.run()
    assert code == 0 and "granted CONNECT on database app to app" in out


def test_existing_role_without_rds_iam_gets_the_grants(moto):
    secret_arn = make_master_secret(moto)
    stubs = Stubs(moto)
    stubs.expect_read(secret_arn, [[{"stringValue": "app"}, {"booleanValue": False}]])
    for sql in CREATE_APP[1:] + AUDIT:
        stubs.expect_statement(secret_arn, sql)

    code, out = stubs.run()
    assert code == 0 and out.splitlines()[0] == "granted rds_iam to existing role app"


def test_dry_run_reads_and_prints_the_sql_only(moto):
    secret_arn = make_master_secret(moto)
    stubs = Stubs(moto)
    stubs.expect_read(secret_arn, [])

    code, out = stubs.run(dry_run=True)

    assert code == 0
    assert out.splitlines() == [f"would run on {PROD_CLUSTER}/app: {sql}" for sql in CREATE_APP + AUDIT]


def test_a_statement_refused_half_way_says_what_is_left(moto):
    secret_arn = make_master_secret(moto)
    stubs = Stubs(moto)
    stubs.expect_read(secret_arn, [])
    stubs.expect_statement(secret_arn, CREATE_APP[0])
    stubs.data_stub.add_client_error("execute_statement", "BadRequestException", "permission denied", 400)

    with pytest.raises(CommandRefused) as refused:
        stubs.run()

    assert refused.value.code == 1
    message = str(refused.value)
    assert "stopped after 1 of 6 statements" in message and "permission denied" in message
    assert all(f"  {sql};" in message for sql in CREATE_APP[1:] + AUDIT) and f"  {CREATE_APP[0]};" not in message


def test_an_unreachable_data_api_is_a_failure_not_a_traceback(moto):
    from botocore.config import Config

    secret_arn = make_master_secret(moto)
    rds = boto3.client("rds", region_name="us-east-1")
    secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto)
    nowhere = boto3.client("rds-data", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",  # discard port: refused
                           config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    with Stubber(rds) as rds_stub:
        rds_stub.add_response("describe_db_clusters", cluster_answer(), {"DBClusterIdentifier": PROD_CLUSTER})
        with pytest.raises(CommandRefused) as refused:
            bootstrap(args(), clients=lambda service, region: {'rds': rds, 'secretsmanager': secrets, 'rds-data': nowhere}[service], out=io.StringIO())
    assert refused.value.code == 1 and "could not reach AWS" in str(refused.value) and "nothing has changed" in str(refused.value)
    assert secret_arn


def test_the_read_query_through_moto_rds_data(moto):
    """rds-data is moto's here: the command's read gets the result queued in the emulator."""
    secret_arn = make_master_secret(moto)
    queued = {"region": "us-east-1", "results": [{"records": [[{"stringValue": "app"}, {"booleanValue": True}]]}]}
    request = urllib.request.Request(f"{moto}/moto-api/static/rds-data/statement-results", method="POST",
                                     data=json.dumps(queued).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    rds = boto3.client("rds", region_name="us-east-1")
    secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto)
    data = boto3.client("rds-data", region_name="us-east-1", endpoint_url=moto)
    out = io.StringIO()
    with Stubber(rds) as rds_stub:
        rds_stub.add_response("describe_db_clusters", cluster_answer(), {"DBClusterIdentifier": PROD_CLUSTER})
        code = bootstrap(args(), clients=lambda service, region: {'rds': rds, 'secretsmanager': secrets, 'rds-data': data}[service], out=out)
    assert code == 0 and "role app exists and holds rds_iam" in out.getvalue()
    assert secret_arn.startswith("arn:aws:secretsmanager:us-east-1:")


# ---- refusals: exit 2 before any statement ------------------------------------------------------


def refused(capsys, *argv: str) -> str:
    assert cli.main(["bootstrap-users", *argv]) == 2
    return capsys.readouterr().err


def test_unknown_stack_is_refused(capsys):
    assert "--stack staging" in refused(capsys, "--stack", "staging")


@pytest.fixture
def dev_on_r_class(monkeypatch):
    """dev with a writer class that has the Data API (dev's own db.t4g.medium has none)."""
    raw = {**load_stack_config("dev"), "aurora-platform:instanceClass": "db.r7g.large"}
    monkeypatch.setattr(bootstrap_users, "resolve_settings", lambda stack: parse_settings(raw, "dev"))


def test_a_t_class_writer_is_refused_naming_instance_class(capsys):
    """dev as committed: db.t4g.medium, and the Data API "isn't supported on T DB instance classes"."""
    err = refused(capsys, "--stack", "dev")
    assert "instanceClass db.t4g.medium is a T (burstable) class" in err
    assert "data-api.limitations.html" in err and "README: Application users" in err


def test_missing_cluster_is_refused(moto, capsys, dev_on_r_class):
    err = refused(capsys, "--stack", "dev", "--endpoint-url", moto)
    assert "cluster aurora-platform-dev-us-east-2 does not exist in us-east-2" in err


def test_cluster_without_the_data_api_is_refused(moto, capsys, dev_on_r_class):
    """moto reports HttpEndpointEnabled false for a provisioned cluster, as AWS does before `pulumi up` enables it."""
    rds = boto3.client("rds", region_name="us-east-2", endpoint_url=moto)
    rds.create_db_cluster(DBClusterIdentifier="aurora-platform-dev-us-east-2", Engine="aurora-postgresql",
                          EngineVersion="16.6", MasterUsername="dbadmin", ManageMasterUserPassword=True,
                          EnableHttpEndpoint=True, Tags=[{"Key": "project", "Value": "aurora-platform"},
                                                         {"Key": "stack", "Value": "dev"}])
    err = refused(capsys, "--stack", "dev", "--endpoint-url", moto)
    assert "has no Data API (HttpEndpointEnabled is false)" in err and "python -m deploy up --stack dev" in err


def test_cluster_not_created_by_this_stack_is_refused(moto, capsys, dev_on_r_class):
    rds = boto3.client("rds", region_name="us-east-2", endpoint_url=moto)
    rds.create_db_cluster(DBClusterIdentifier="aurora-platform-dev-us-east-2", Engine="aurora-postgresql",
                          EngineVersion="16.6", MasterUsername="dbadmin", MasterUserPassword="not-ours-123")
    err = refused(capsys, "--stack", "dev", "--endpoint-url", moto)
    assert "is not tagged project=aurora-platform, stack=dev" in err and "only touches clusters this program created" in err


def test_no_credentials_is_refused(moto, monkeypatch, capsys, dev_on_r_class):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    err = refused(capsys, "--stack", "dev", "--endpoint-url", moto)
    assert "no AWS credentials" in err


@pytest.mark.parametrize(("engine", "version"), [("aurora-postgresql", "16.0"), ("aurora-postgresql", "13.9"),
                                                  ("aurora-mysql", "8.0.mysql_aurora.3.06.0")])
def test_engine_version_without_the_data_api_is_refused(monkeypatch, capsys, engine, version):
    raw = {**load_stack_config("dev"), "aurora-platform:engine": engine, "aurora-platform:engineVersion": version}
    if engine == "aurora-mysql":
        raw["aurora-platform:instanceClass"] = "db.r7g.large"
    monkeypatch.setattr(bootstrap_users, "resolve_settings", lambda stack: parse_settings(raw, "dev"))
    err = refused(capsys, "--stack", "dev")
    assert f"{engine} {version} has no RDS Data API" in err and "README: Application users" in err


def test_after_a_switchover_it_runs_on_the_writer_in_the_new_region(monkeypatch):
    """Stubber: the writer moved to us-west-2; the command goes to the cluster there (whose Data API the
    program enables too), here one that does not have it yet."""
    prod = parse_settings(load_stack_config("prod"), "prod")
    moved = dataclasses.replace(prod, global_database=dataclasses.replace(prod.global_database, writer_region="us-west-2"))
    monkeypatch.setattr(bootstrap_users, "resolve_settings", lambda stack: moved)
    west = "aurora-platform-prod-us-west-2"
    rds = boto3.client("rds", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(rds)
    stub.add_response("describe_db_clusters", cluster_answer(DBClusterIdentifier=west, HttpEndpointEnabled=False),
                      {"DBClusterIdentifier": west})
    asked = []
    with stub, pytest.raises(CommandRefused, match=f"cluster {west} has no Data API"):
        bootstrap(args(), clients=lambda service, region: asked.append((service, region)) or rds, out=io.StringIO())
    assert ("rds", "us-west-2") in asked


def test_mysql_statements_and_that_sql_is_built_from_validated_names_only():
    plan = bootstrap_users.plan_for("aurora-mysql", "app", ["app", "reporting"], {"reporting": True})
    assert [sql for sql, _ in plan.statements] == [
        "CREATE USER 'app'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON `app`.* TO 'app'@'%'",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON `app`.* TO 'reporting'@'%'"]  # an existing user's grant again
    assert plan.unchanged == ["user reporting@% exists with AWSAuthenticationPlugin; its grant is issued again (no change if held)"]
    with pytest.raises(CommandRefused, match="logs in with a password plugin"):
        bootstrap_users.plan_for("aurora-mysql", "app", ["app"], {"app": False})
    with pytest.raises(CommandRefused, match="not a plain identifier"):
        bootstrap_users.quoted_identifier("aurora-postgresql", 'app"; DROP TABLE x; --')


def test_stubbed_calls_name_the_cluster_and_secret(moto):
    """The read names the writer cluster's ARN and the global secret's ARN in that region."""
    secret_arn = make_master_secret(moto)
    stubs = Stubs(moto)
    stubs.data_stub.add_response("execute_statement", {"records": []}, {
        "resourceArn": PROD_ARN, "secretArn": secret_arn, "database": "app", "sql": ANY, "parameters": ANY})
    code, out = stubs.run(dry_run=True)
    assert code == 0 and out.count("would run on") == len(CREATE_APP + AUDIT)


@pytest.mark.parametrize(("engine", "version", "supported"), [
    ("aurora-postgresql", "16.6", True), ("aurora-postgresql", "16.0", False), ("aurora-postgresql", "13.11", True),
    ("aurora-postgresql", "13.10", False), ("aurora-postgresql", "17.4", True), ("aurora-postgresql", "17.2", False),
    ("aurora-mysql", "8.0.mysql_aurora.3.07.0", True), ("aurora-mysql", "8.0.mysql_aurora.3.06.1", False),
])
def test_data_api_versions(engine, version, supported):
    from components.aws_facts import data_api_supported

    assert data_api_supported(engine, version) is supported


@pytest.mark.parametrize(("instance_class", "supported"), [
    ("db.t4g.medium", False), ("db.t3.medium", False), ("db.r7g.large", True), ("db.serverless", True)])
def test_data_api_instance_classes(instance_class, supported):
    from components.aws_facts import data_api_supported

    assert data_api_supported("aurora-postgresql", "16.6", instance_class) is supported


def test_the_program_enables_the_data_api_on_every_writer_capable_member():
    from tests.conftest import captured

    prod, dev = captured("prod"), captured("dev")
    assert {c.name: c.inputs.get("enableHttpEndpoint") for c in prod.by_type("aws:rds/cluster:Cluster")} == {
        "aurora-us-east-1": True, "aurora-us-west-2": True}
    assert [c.inputs.get("enableHttpEndpoint") for c in dev.by_type("aws:rds/cluster:Cluster")] == [None]  # db.t4g.medium
    from deploy.offline.capture import run_program

    r_class = run_program("dev", "update", overrides={"aurora-platform:instanceClass": "db.r7g.large"})
    assert [c.inputs.get("enableHttpEndpoint") for c in r_class.by_type("aws:rds/cluster:Cluster")] == [True]

    old = run_program("dev", "update", overrides={"aurora-platform:engineVersion": "15.2",
                                                   "aurora-platform:instanceClass": "db.r7g.large"})
    assert [c.inputs.get("enableHttpEndpoint") for c in old.by_type("aws:rds/cluster:Cluster")] == [None]


# ---- audit logging: pgaudit's role and extension -----------------------------------------------


def test_pgaudit_role_and_extension_come_last_and_only_with_audit_logging_on_postgresql():
    with_audit = bootstrap_users.plan_for("aurora-postgresql", "app", ["app"], {"app": True}, audit=True)
    assert [sql for sql, _ in with_audit.statements] == CREATE_APP[2:] + AUDIT
    assert AUDIT == ["DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_pgaudit') THEN "
                     "CREATE ROLE rds_pgaudit; END IF; END $$", "CREATE EXTENSION IF NOT EXISTS pgaudit"]
    without = bootstrap_users.plan_for("aurora-postgresql", "app", ["app"], {"app": True}, audit=False)
    assert [sql for sql, _ in without.statements] == CREATE_APP[2:]
    mysql = bootstrap_users.plan_for("aurora-mysql", "app", ["app"], {"app": True}, audit=True)
    assert not any("pgaudit" in sql for sql, _ in mysql.statements)


def test_a_cluster_that_has_not_loaded_pgaudit_yet_leaves_the_extension_to_run_after_the_reboot(moto):
    """Stubber: the Data API answers CREATE EXTENSION as PostgreSQL does before a reboot loads the library."""
    secret_arn = make_master_secret(moto)
    stubs = Stubs(moto)
    stubs.expect_read(secret_arn, [[{"stringValue": "app"}, {"booleanValue": True}]])
    for sql in CREATE_APP[2:] + AUDIT[:1]:
        stubs.expect_statement(secret_arn, sql)
    stubs.data_stub.add_client_error("execute_statement", "BadRequestException",
                                     "ERROR: pgaudit must be loaded via shared_preload_libraries", 400)

    with pytest.raises(CommandRefused) as refused:
        stubs.run()

    message = str(refused.value)
    assert refused.value.code == 1 and "pgaudit must be loaded via shared_preload_libraries" in message
    assert "stopped after 3 of 4 statements" in message and message.endswith(f"  {AUDIT[1]};")
