"""Master password rotation on the mock engine: the RDS-managed secret's schedule on regional
clusters, and the global database's password taken from the stack config once
`deploy rotate-password` has set it, so a later `pulumi up` does not put the generated one back."""

from __future__ import annotations

import json

import pytest

from components.settings import SettingsError
from deploy.offline.capture import Capture, run_program
from tests.conftest import captured

ROTATED = "R0tated-by-deploy_rotate-password!x9"


def plain(value):
    """A secret input as the mock engine records it, or a plain value."""
    return value.get("value") if isinstance(value, dict) and "value" in value else value


def secret_value(capture: Capture) -> dict:
    (version,) = capture.by_type("aws:secretsmanager/secretVersion:SecretVersion")
    return json.loads(plain(version.inputs["secretString"]))


def generated(capture: Capture) -> str:
    (password,) = capture.by_type("random:index/randomPassword:RandomPassword")
    return password.outputs["result"]


def test_global_database_uses_the_generated_password_until_a_rotation():
    capture = captured("prod", "update")
    primary = capture.one("aws:rds/cluster:Cluster", "aurora-us-east-1")
    assert plain(primary.inputs["masterPassword"]) == generated(capture) == secret_value(capture)["password"]


def test_after_a_rotation_the_next_up_writes_the_rotated_password_not_the_generated_one():
    capture = run_program("prod", "update", overrides={"aurora-platform:masterPassword": ROTATED})
    primary = capture.one("aws:rds/cluster:Cluster", "aurora-us-east-1")
    secondary = capture.one("aws:rds/cluster:Cluster", "aurora-us-west-2")
    assert plain(primary.inputs["masterPassword"]) == ROTATED
    assert secret_value(capture)["password"] == ROTATED
    assert "masterPassword" not in secondary.inputs
    assert generated(capture) != ROTATED  # the generated password stays in the state, unused
    # Everything else in the secret is what the program writes anyway.
    assert {k: v for k, v in secret_value(capture).items() if k != "password"} == {
        k: v for k, v in secret_value(captured("prod", "update")).items() if k != "password"}


def test_the_rotated_password_stays_secret_in_the_plan(capsys):
    from deploy import cli

    assert cli.main(["check", "--stack", "prod", "--json", "--set", f"masterPassword={ROTATED}"]) == 0
    assert ROTATED not in capsys.readouterr().out


def test_regional_cluster_rotates_its_managed_secret_every_seven_days_by_default(dev):
    (rotation,) = dev.by_type("aws:secretsmanager/secretRotation:SecretRotation")
    cluster = dev.one("aws:rds/cluster:Cluster", "aurora-us-east-2")
    assert rotation.inputs["secretId"] == cluster.outputs["masterUserSecrets"][0]["secretArn"]
    assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 7}
    assert "rotationLambdaArn" not in rotation.inputs  # RDS manages the secret: no Lambda function
    monthly = run_program("dev", "update", overrides={"aurora-platform:masterPasswordRotationDays": "30"})
    (rotation,) = monthly.by_type("aws:secretsmanager/secretRotation:SecretRotation")
    assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 30}


def test_global_database_has_no_managed_secret_schedule(prod):
    assert prod.by_type("aws:secretsmanager/secretRotation:SecretRotation") == []


@pytest.mark.parametrize(("stack", "overrides", "message"), [
    ("dev", {"masterPasswordRotationDays": "0"}, "masterPasswordRotationDays = 0: allowed: 1 to 1000"),
    ("dev", {"masterPassword": ROTATED}, "masterPassword: set, but the stack has no globalDatabase"),
    ("prod", {"masterPassword": "has a space and/slash"}, "masterPassword: (secret, not shown) must be 8-99 characters"),
])
def test_bad_rotation_settings_are_refused_without_showing_the_password(stack, overrides, message):
    with pytest.raises(SettingsError) as caught:
        run_program(stack, "preview", overrides={f"aurora-platform:{k}": v for k, v in overrides.items()})
    assert message in str(caught.value)
    assert ROTATED not in str(caught.value) and "has a space" not in str(caught.value)
