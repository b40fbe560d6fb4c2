"""Day-2 safety: changes to a deployed stack that would break it or lose data, run through `deploy
diff` (the committed stack as the base, a setting changed on the head), and the program's answer to
each: placement and names that stay, a refusal that says how, or a warning naming the runbook."""

from __future__ import annotations

import functools
import json

from deploy.offline.capture import Capture, CapturedResource, run_program
from deploy.offline.diff import diff_captures, make_urn
from tests.conftest import captured

INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
SUBNET = "aws:ec2/subnet:Subnet"
PROXY = "aws:rds/proxy:Proxy"
ENDPOINT = "aws:rds/proxyEndpoint:ProxyEndpoint"
TARGET = "aws:rds/proxyTarget:ProxyTarget"
POOL = "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup"


@functools.cache
def what_if(stack: str, overrides: tuple[tuple[str, str], ...]):
    """(base capture, head capture, diff) of the committed ``stack`` with ``overrides`` on the head."""
    head = run_program(stack, "update", overrides={f"aurora-platform:{k}": v for k, v in overrides})
    return captured(stack, "update"), head, diff_captures(captured(stack, "update"), head)


def changed(result, type_: str, action: str | None = None):
    return [c for c in result.changes if c.type == type_ and (action is None or c.action == action)]


# --- 1. fixed names and unique values that settings force to be replaced ----------------------------

def test_reordering_availability_zones_changes_nothing():
    """Subnets keep their CIDRs (slot from the zone, not its position) and instances keep their zone."""
    _, _, result = what_if("prod", (("availabilityZones", '["us-east-1b", "us-east-1a", "us-east-1c"]'),))
    assert [(c.action, c.name) for c in result.changes] == []


def test_adding_a_zone_before_another_keeps_every_subnet_where_it_is():
    """Slots come from the region's zone table, not from the place in the list: a zone added between
    two others takes its own slot, and the zone after it keeps its CIDRs (no clash, nothing replaced)."""
    from components.network import zone_slots
    from deploy.offline.diff import diff_captures

    def zones(*letters: str):
        return captured("dev", "update", {"aurora-platform:availabilityZones": json.dumps([f"us-east-2{x}" for x in letters])})

    result = diff_captures(zones("a", "c"), zones("a", "b", "c"))
    assert [c.name for c in result.changes if c.type == SUBNET] == [
        f"network-us-east-2-{tier}-us-east-2b" for tier in ("database", "private", "public")]
    assert {c.action for c in result.changes if c.type == SUBNET} == {"create"}
    assert result.errors == []
    assert zone_slots(["us-east-1a", "us-east-1f", "us-east-1e"]) == {"us-east-1a": 0, "us-east-1f": 4, "us-east-1e": 5}
    assert zone_slots(["us-east-2a", "us-east-2z"]) == {"us-east-2a": 0, "us-east-2z": 1}  # past the slots: the lowest free


def test_removing_a_zone_an_instance_runs_in_is_refused_saying_how():
    _, _, result = what_if("prod", (("azCount", "2"),))
    assert changed(result, INSTANCE) == []  # no instance moves to another zone
    errors = [f.message for f in result.errors]
    assert len(errors) == 1, errors
    assert "aurora-platform-prod-us-east-1-3 run in us-east-1c" in errors[0] and "lower readerCount" in errors[0]
    assert not [m for m in errors if "AWS refuses the duplicate" in m]  # no create-before-delete clash


def test_a_replaced_proxy_takes_its_endpoint_delete_first_and_its_pool_and_target_along():
    _, head, result = what_if("prod", (("azCount", "2"),))
    proxies = {c.urn for c in changed(result, PROXY, "replace")}
    assert len(proxies) == 2
    for type_ in (ENDPOINT, TARGET, POOL):
        replaced = changed(result, type_, "replace")
        assert len(replaced) == 2 and all("replaceWith" in c.replace_reasons for c in replaced), type_
        assert all(set(head.by_urn()[c.urn].replace_with) & proxies for c in replaced), type_
    assert all(c.delete_before_replace for c in changed(result, ENDPOINT))


def _resource(type_: str, name: str, inputs: dict, **options) -> CapturedResource:
    root = "urn:pulumi:dev::aurora-platform::pulumi:pulumi:Stack::aurora-platform-dev"
    return CapturedResource(type=type_, name=name, urn=make_urn(("dev", "aurora-platform"), root, type_, name),
                            custom=True, parent=root, inputs=inputs, outputs={}, protect=False, ignore_changes=[],
                            delete_before_replace=False, provider=None, dependencies=[], property_dependencies={},
                            **options)


def test_replace_with_replaces_a_target_whose_inputs_stay_the_same():
    """What the real engine sees once the new proxy exists: the same proxy name, so no input of the
    target changes; only replace_with replaces it."""
    def stack(subnets: list[str]) -> Capture:
        proxy = _resource(PROXY, "proxy", {"name": "p", "engineFamily": "POSTGRESQL", "vpcSubnetIds": subnets})
        target = _resource(TARGET, "target", {"dbProxyName": "p", "targetGroupName": "default"}, replace_with=[proxy.urn])
        return Capture(stack="dev", mode="update", resources=[proxy, target], outputs={}, warnings=[])

    result = diff_captures(stack(["subnet-a", "subnet-b"]), stack(["subnet-a", "subnet-c"]))
    assert [(c.name, c.action) for c in result.changes] == [("proxy", "replace"), ("target", "replace")]


# --- 2. vault lock -----------------------------------------------------------------------------------

def test_a_vault_lock_retention_change_replaces_no_lock_and_says_how_to_make_it():
    _, head, result = what_if("prod", (("backupVaultLockMinRetentionDays", "14"),))
    lock = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
    assert changed(result, lock) == [] and result.errors == []
    assert all({"minRetentionDays", "maxRetentionDays", "changeableForDays"} <= set(r.ignore_changes)
               for r in head.by_type(lock))
    warnings = [f.message for f in result.findings if f.level == "warning"]
    assert len(warnings) == 2 and all("`minRetentionDays` 7 -> 14" in w and "put-backup-vault-lock-configuration" in w
                                      for w in warnings), warnings


# --- 7. the managed secret's rotation ---------------------------------------------------------------

def test_the_managed_secret_rotates_on_its_schedule_not_at_once_and_a_schedule_change_is_in_place():
    (rotation,) = captured("dev", "update").by_type("aws:secretsmanager/secretRotation:SecretRotation")
    assert rotation.inputs.get("rotateImmediately") is False
    _, _, result = what_if("dev", (("masterPasswordRotationDays", "30"),))
    (change,) = changed(result, "aws:secretsmanager/secretRotation:SecretRotation")
    assert (change.action, change.properties) == ("update", ["rotationRules"])


# --- 3. continuous backup takes over the cluster's retention -----------------------------------------

def test_a_cluster_retention_other_than_the_continuous_rules_is_refused():
    import pytest

    from components.settings import SettingsError, parse_settings
    from deploy.offline.stack_config import load_stack_config

    raw = {**load_stack_config("prod"), "aurora-platform:backupRetentionDays": "21"}
    with pytest.raises(SettingsError, match=r"backupRetentionDays = 21: with backupContinuous, AWS Backup manages .*"
                                            r"backupContinuousRetentionDays \(14\)"):
        parse_settings(raw, "prod")
    parse_settings({**raw, "aurora-platform:backupContinuous": "false"}, "prod")  # no continuous rule: any retention


def test_verify_expects_the_retention_aws_backup_sets():
    import dataclasses

    from components.settings import parse_settings
    from deploy.offline.stack_config import load_stack_config
    from deploy.runbooks.verify import RegionIntent, check_cluster

    settings = parse_settings(load_stack_config("prod"), "prod")
    # As AWS Backup leaves it: the cluster keeps the continuous rule's days (here 21, the settings' backupRetentionDays 14).
    settings = dataclasses.replace(settings, backup=dataclasses.replace(settings.backup, continuous_retention_days=21))

    class Rds:
        def describe_db_clusters(self, **_):
            return {"DBClusters": [{"StorageEncrypted": True, "KmsKeyId": "k", "DeletionProtection": True,
                                    "BackupRetentionPeriod": 21, "IAMDatabaseAuthenticationEnabled": True}]}

        def get_paginator(self, _):
            return type("Pages", (), {"paginate": lambda self, **_: [{"DBInstances": []}]})()

    intent = RegionIntent(region="us-east-1", role="writer", outputs={"clusterIdentifier": "c", "kmsKeyArn": "k"},
                          instance_count=0)
    assert [f.check for f in check_cluster(settings, intent, Rds())] == []


# --- 6. operator roles of another account ------------------------------------------------------------

OTHER_ACCOUNT_ROLE = "arn:aws:iam::444455556666:role/dba-break-glass"


def test_a_role_of_another_account_is_refused_offline_where_the_account_is_configured():
    import json

    import pytest

    from components.settings import SettingsError, parse_settings
    from deploy.offline.stack_config import load_stack_config

    raw = {**load_stack_config("dev"), "aws:allowedAccountIds": '["111122223333"]',
           "aurora-platform:operatorRoleArns": json.dumps([OTHER_ACCOUNT_ROLE])}
    with pytest.raises(SettingsError, match=r"a role of account 444455556666, but the stack deploys into 111122223333"):
        parse_settings(raw, "dev")
    parse_settings({**raw, "aurora-platform:operatorRoleArns": '["arn:aws:iam::111122223333:role/dba"]'}, "dev")


def test_a_role_of_another_account_is_refused_when_the_program_deploys(monkeypatch):
    """At deploy time the account is the provider's (sts:GetCallerIdentity), here 111122223333."""
    import subprocess
    import sys

    from deploy.offline import capture
    from deploy.offline.stack_config import PROJECT_DIR

    monkeypatch.setattr(capture, "offline_account", lambda config: "111122223333")
    same = run_program("dev", "update", overrides={"aurora-platform:operatorRoleArns": '["arn:aws:iam::111122223333:role/dba"]'})
    assert [r.inputs["role"] for r in same.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if r.name.startswith("break-glass")] == ["dba"]
    # A failed run leaves the SDK's runtime to its own process: this one runs in another.
    code = ("import json, pulumi; from deploy.offline import capture\n"
            "capture.offline_account = lambda config: '111122223333'\n"
            "try:\n"
            f"    capture.run_program('dev', 'update', overrides={{'aurora-platform:operatorRoleArns': "
            f"json.dumps([{OTHER_ACCOUNT_ROLE!r}])}})\n"
            "except pulumi.RunError as error:\n"
            "    print(error)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR).stdout
    assert ("444455556666:role/dba-break-glass is a role of account 444455556666, but the stack deploys into account "
            "111122223333") in out, out


# --- 4. a regional major upgrade by editing engineVersion --------------------------------------------

def test_a_regional_major_upgrade_by_settings_without_apply_immediately_is_refused_naming_deploy_upgrade():
    _, _, result = what_if("dev", (("engineVersion", "17.4"),))
    (error,) = [f.message for f in result.errors]
    assert "applyImmediately false" in error and "`deploy upgrade --engine-version 17.4`" in error
    _, _, now = what_if("dev", (("engineVersion", "17.4"), ("applyImmediately", "true")))
    assert now.errors == [] and any("`deploy upgrade" in f.message for f in now.findings)


# --- 5. a global stack's engineVersion edited -------------------------------------------------------

def test_a_global_stacks_engine_version_edit_is_a_warning_naming_deploy_upgrade():
    _, _, result = what_if("prod", (("engineVersion", "16.8"),))
    assert result.errors == [] and [c.name for c in result.changes] == []
    (warning,) = [f for f in result.findings if f.level == "warning"]
    assert warning.urn.endswith("globalCluster:GlobalCluster::global-aurora-platform-prod")
    assert "`engineVersion` 16.6 -> 16.8 does not reach AWS" in warning.message and "`deploy upgrade" in warning.message


# --- 8. smaller items --------------------------------------------------------------------------------
# (also: tests/deploy/test_preflight.py test_backup_opt_in_for_aurora and test_dev_clean_run_exits_0;
# tests/deploy/test_bootstrap_users.py test_the_program_enables_the_data_api_on_every_writer_capable_member and
# test_after_a_switchover_it_runs_on_the_writer_in_the_new_region)

def test_the_read_only_proxy_endpoint_waits_for_the_proxy_target():
    prod = captured("prod", "update")
    for region in ("us-east-1", "us-west-2"):
        endpoint = prod.one(ENDPOINT, f"proxy-{region}-read-only")
        target = prod.one(TARGET, f"proxy-{region}-cluster")
        assert target.urn in endpoint.dependencies


def test_the_proxy_and_backup_roles_trust_their_service_only_for_this_account():
    import json

    prod = captured("prod", "update")
    trusts = {r.name: json.loads(r.inputs["assumeRolePolicy"])["Statement"][0] for r in prod.by_type("aws:iam/role:Role")}
    for region in ("us-east-1", "us-west-2"):
        assert trusts[f"proxy-{region}-proxy"]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    (backup,) = [t for t in trusts.values() if t["Principal"] == {"Service": "backup.amazonaws.com"}]
    assert backup["Condition"] == {"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}}
