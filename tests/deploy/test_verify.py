"""`deploy verify` against a real moto server process (see conftest.py), plus botocore
Stubber where moto cannot produce the AWS answer (noted per test)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from deploy import cli
from deploy.runbooks import verify
from deploy.runbooks.base import resolve_settings
from tests.deploy import aws_deployment as aws
from tests.deploy.aws_deployment import Drift


@pytest.fixture(scope="module")
def prod_settings():
    return resolve_settings("prod")


@pytest.fixture(scope="module")
def dev_settings():
    return resolve_settings("dev")


def run_verify(capsys, tmp_path, endpoint: str, outputs: dict, stack: str = "prod", *extra: str) -> tuple[int, dict]:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    code = cli.main(["verify", "--stack", stack, "--outputs-file", str(path), "--endpoint-url", endpoint,
                     "--json", *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)


def checks(report: dict) -> set[str]:
    return {finding["check"] for finding in report["findings"]}


def findings(endpoint: str, settings, outputs: dict, regions=None) -> list[verify.Finding]:
    """The checks without the command line, on the session's clients (creating clients costs more than a call)."""
    return verify.verify(settings, outputs, aws.Aws(endpoint), regions)


def test_prod_settings_describe_what_the_checks_rely_on(prod_settings):
    # The drift cases below are meaningful only for these intents.
    assert prod_settings.production and prod_settings.database.deletion_protection
    assert prod_settings.database.iam_authentication
    assert prod_settings.database.backup_retention_days > 1
    assert prod_settings.global_database and len(prod_settings.regions) >= 2
    assert prod_settings.writer_region == prod_settings.primary_region


def test_compliant_prod_deployment_passes(moto, prod_settings, tmp_path, capsys):
    outputs = aws.build(moto, prod_settings)
    code, report = run_verify(capsys, tmp_path, moto, outputs)
    assert report == {"stack": "prod", "clean": True, "findings": []}
    assert code == 0


def test_compliant_prod_deployment_table_output(moto, prod_settings, tmp_path, capsys):
    outputs = aws.build(moto, prod_settings)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({k: {"value": v, "secret": False} for k, v in outputs.items()}))
    code = cli.main(["verify", "--stack", "prod", "--outputs-file", str(path), "--endpoint-url", moto, "--wait", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "no findings" in out and "us-east-1, us-west-2" in out


def test_compliant_dev_deployment_passes(moto, dev_settings, tmp_path, capsys):
    outputs = aws.build(moto, dev_settings)
    code, report = run_verify(capsys, tmp_path, moto, outputs, "dev")
    assert (code, report["findings"]) == (0, [])


def test_single_az_is_a_finding_only_for_production(moto, dev_settings, tmp_path, capsys):
    outputs = aws.build(moto, dev_settings, Drift(single_az=True))
    assert findings(moto, dev_settings, outputs) == []


BUILT_DRIFT = {
    "unencrypted cluster": (Drift(encrypted=False), "cluster-encrypted"),
    "wrong key": (Drift(foreign_key=True), "cluster-kms-key"),
    "public instance at creation": (Drift(public_instance=True), "instance-public"),
    "single AZ": (Drift(single_az=True), "multi-az"),
    "IAM auth off": (Drift(iam_auth=False), "iam-auth"),
    "secondary not a member": (Drift(detached_secondary=True), "global-membership"),
    "writer in another region": (Drift(writer_region="us-west-2"), "global-writer-region"),
}


@pytest.mark.parametrize("case", BUILT_DRIFT, ids=list(BUILT_DRIFT))
def test_drift_made_at_creation_is_reported(case, moto, prod_settings, tmp_path, capsys):
    drift, check = BUILT_DRIFT[case]
    outputs = aws.build(moto, prod_settings, drift)
    found = findings(moto, prod_settings, outputs)
    assert {f.check for f in found} == {check}, found


CHANGED_DRIFT = {
    "deletion protection off": (aws.drift_deletion_protection_off, "deletion-protection"),
    "short backups": (aws.drift_short_backups, "backup-retention"),
    "instance made public": (aws.drift_public_instance, "instance-public"),
    "DB SG open to 0.0.0.0/0": (aws.drift_open_db_sg, "sg-open-to-internet"),
    "fleet SG open to ::/0": (aws.drift_open_fleet_sg_ipv6, "sg-open-to-internet"),
    "IMDSv1 fleet instance": (aws.drift_imdsv1, "fleet-imdsv2"),
    "public IP on a fleet instance": (aws.drift_public_ip, "fleet-public-ip"),
}


@pytest.mark.parametrize("case", CHANGED_DRIFT, ids=list(CHANGED_DRIFT))
def test_drift_made_afterwards_is_reported(case, moto, prod_settings, tmp_path, capsys):
    change, check = CHANGED_DRIFT[case]
    outputs = aws.build(moto, prod_settings)
    assert findings(moto, prod_settings, outputs) == []
    change(moto, outputs)
    found = findings(moto, prod_settings, outputs)
    assert {f.check for f in found} == {check}, found


def test_findings_name_the_resource_and_region(moto, prod_settings, tmp_path, capsys):
    outputs = aws.build(moto, prod_settings)
    aws.drift_open_db_sg(moto, outputs)
    aws.drift_short_backups(moto, outputs)
    _, report = run_verify(capsys, tmp_path, moto, outputs)
    by_check = {f["check"]: f for f in report["findings"]}
    assert by_check["sg-open-to-internet"]["resource"] == outputs["dbSecurityGroupId"]
    assert "0.0.0.0/0" in by_check["sg-open-to-internet"]["message"]
    assert by_check["backup-retention"] == {
        "check": "backup-retention", "region": "us-east-1", "resource": outputs["clusterIdentifier"],
        "message": f"backups kept 1 days; settings say backupContinuousRetentionDays: "
                   f"{prod_settings.backup.continuous_retention_days} (AWS Backup's continuous rule sets it)"}


def test_region_option_limits_the_checks(moto, prod_settings, tmp_path, capsys):
    outputs = aws.build(moto, prod_settings)
    aws.drift_short_backups(moto, outputs)  # primary region only
    assert run_verify(capsys, tmp_path, moto, outputs, "prod", "--region", "us-west-2") == \
        (0, {"stack": "prod", "clean": True, "findings": []})
    code, report = run_verify(capsys, tmp_path, moto, outputs, "prod", "--region", "us-east-1")
    assert (code, checks(report)) == (1, {"backup-retention"})


def test_missing_cluster_and_missing_region_outputs(moto, prod_settings, tmp_path, capsys):
    outputs = aws.build(moto, prod_settings)
    outputs["regions"]["us-east-1"]["clusterIdentifier"] = "no-such-cluster"
    del outputs["regions"]["us-west-2"]
    code, report = run_verify(capsys, tmp_path, moto, outputs)
    assert code == 1
    assert {(f["check"], f["region"]) for f in report["findings"]} == {
        ("cluster-missing", "us-east-1"), ("stack-outputs", "us-west-2")}


# ---------------------------------------------------------------------------------------
# Usage errors: exit 2 with a message, no traceback.
# ---------------------------------------------------------------------------------------

def test_unknown_region_option_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "x.json").write_text("{}")
    code = cli.main(["verify", "--stack", "prod", "--outputs-file", str(tmp_path / "x.json"), "--region", "eu-west-1"])
    err = capsys.readouterr().err
    assert code == 2 and "--region eu-west-1: not a region of stack prod" in err


def test_unreadable_outputs_file_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "outputs.json"
    path.write_text("[1, 2]")
    for argv, says in (([str(path)], "expected a JSON object of stack outputs"), ([str(tmp_path / "missing.json")], "no such file")):
        with pytest.raises(SystemExit) as exit_:  # refused when the command line is read
            cli.main(["verify", "--stack", "dev", "--outputs-file", *argv])
        assert exit_.value.code == 2
        assert "argument --outputs-file" in (err := capsys.readouterr().err) and says in err


def test_without_outputs_file_and_without_pulumi_cli(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi binary here
    assert cli.main(["verify", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "https://www.pulumi.com/docs/install/" in err and "Traceback" not in err


def test_without_credentials_is_a_usage_error(moto_server, monkeypatch, tmp_path, capsys, dev_settings):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"clusterIdentifier": "c", "kmsKeyArn": "k"}))
    assert cli.main(["verify", "--stack", "dev", "--outputs-file", str(path), "--endpoint-url", moto_server]) == 2
    assert "no AWS credentials" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Stubber: answers moto does not give.
# ---------------------------------------------------------------------------------------

def _stubbed_rds(region: str = "us-east-1"):
    client = boto3.client("rds", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_global_cluster_not_found_is_a_membership_finding(prod_settings):
    """moto ignores GlobalClusterIdentifier in DescribeGlobalClusters and never answers
    GlobalClusterNotFoundFault; AWS does, for a deleted or renamed global cluster."""
    rds, stub = _stubbed_rds()
    stub.add_client_error("describe_global_clusters", "GlobalClusterNotFoundFault", "not found", 404,
                          expected_params={"GlobalClusterIdentifier": "aurora-platform-prod"})
    intents, _ = verify.region_intents(prod_settings, {"regions": {
        "us-east-1": {"clusterArn": "arn:aws:rds:us-east-1:1:cluster:a"},
        "us-west-2": {"clusterArn": "arn:aws:rds:us-west-2:1:cluster:b"}}})
    with stub:
        findings = verify.check_global(prod_settings, intents, {"globalClusterIdentifier": "aurora-platform-prod"}, rds)
    stub.assert_no_pending_responses()
    assert [(f.check, f.resource) for f in findings] == [("global-membership", "aurora-platform-prod")]


def test_writer_moved_by_a_switchover_is_reported_until_settings_follow(prod_settings):
    """After a real switchover AWS reports the former secondary as writer (moto cannot switch)."""
    rds, stub = _stubbed_rds()
    response = {"GlobalClusters": [{"GlobalClusterIdentifier": "g", "Status": "available", "GlobalClusterMembers": [
        {"DBClusterArn": "arn:aws:rds:us-east-1:1:cluster:a", "IsWriter": False},
        {"DBClusterArn": "arn:aws:rds:us-west-2:1:cluster:b", "IsWriter": True}]}]}
    stub.add_response("describe_global_clusters", response, {"GlobalClusterIdentifier": "g"})
    intents, _ = verify.region_intents(prod_settings, {"regions": {
        "us-east-1": {"clusterArn": "arn:aws:rds:us-east-1:1:cluster:a"},
        "us-west-2": {"clusterArn": "arn:aws:rds:us-west-2:1:cluster:b"}}})
    with stub:
        findings = verify.check_global(prod_settings, intents, {"globalClusterIdentifier": "g"}, rds)
    assert [(f.check, f.region) for f in findings] == [("global-writer-region", "us-west-2")]
    assert "pulumi config set --path globalDatabase.writerRegion" in findings[0].message


def test_kms_key_comparison():
    arn = "arn:aws:kms:us-east-1:123456789012:key/1111"
    assert verify.same_kms_key(arn, arn)
    assert verify.same_kms_key("1111", arn)
    assert not verify.same_kms_key("arn:aws:kms:us-west-2:123456789012:key/1111", arn)
    assert not verify.same_kms_key(None, arn)
    assert verify.arn_region("arn:aws:rds:us-west-2:1:cluster:b") == "us-west-2"
    assert verify.arn_region("not-an-arn") == ""
