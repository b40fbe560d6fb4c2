"""DatabaseBackup on the committed stacks (and --set variants): vaults per region on the region's key,
plans with copies to the other region, selections naming the clusters, vault locks, restore testing."""

from __future__ import annotations

import functools
import json

import pytest

from components.database_backup import MANAGED_POLICIES, daily_schedule_after
from components.naming import vault_name
from components.settings import SettingsError, parse_settings
from deploy.offline.capture import run_program
from deploy.offline.stack_config import load_stack_config
from deploy.runbooks.base import arn_region
from tests.conftest import captured, deploy_check
from tests.helpers import key_arns, region_of
from tests.test_settings import settings_of

VAULT = "aws:backup/vault:Vault"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
RESTORE_PLAN = "aws:backup/restoreTestingPlan:RestoreTestingPlan"
RESTORE_SELECTION = "aws:backup/restoreTestingSelection:RestoreTestingSelection"
CLUSTER = "aws:rds/cluster:Cluster"


def by_region(capture, type_):
    return {region_of(capture, r): r for r in capture.by_type(type_)}


@functools.cache
def dev_with(**overrides):
    return run_program("dev", "update", overrides={f"aurora-platform:{k}": v for k, v in overrides.items()})


def test_prod_has_a_vault_per_region_on_that_regions_key_protected():
    prod = captured("prod")
    vaults = by_region(prod, VAULT)
    assert set(vaults) == {"us-east-1", "us-west-2"}
    keys = key_arns(prod)
    for region, vault in vaults.items():
        assert vault.inputs["kmsKeyArn"] == keys[region]
        assert vault.inputs["name"] == vault_name("prod", region)
        assert vault.inputs["forceDestroy"] is False
        assert vault.protect
    assert prod.outputs["backupVaultArns"] == {r: v.outputs["arn"] for r, v in vaults.items()}


def test_prod_plans_copy_daily_snapshots_to_the_other_regions_vault():
    prod = captured("prod")
    vaults, plans = by_region(prod, VAULT), by_region(prod, PLAN)
    assert set(plans) == {"us-east-1", "us-west-2"}
    other = {"us-east-1": "us-west-2", "us-west-2": "us-east-1"}
    for region, plan in plans.items():
        rules = {rule["ruleName"]: rule for rule in plan.inputs["rules"]}
        assert set(rules) == {"daily", "continuous"}
        daily, continuous = rules["daily"], rules["continuous"]
        assert daily["targetVaultName"] == vaults[region].inputs["name"]
        assert daily["lifecycle"] == {"deleteAfter": 35}
        assert daily["schedule"] == "cron(0 5 ? * * *)"  # an hour after the 03:00-04:00 backup window
        assert daily["copyActions"] == [{"destinationVaultArn": vaults[other[region]].outputs["arn"],
                                         "lifecycle": {"deleteAfter": 35}}]
        assert continuous["enableContinuousBackup"] is True
        assert continuous["lifecycle"] == {"deleteAfter": 14}
        assert "copyActions" not in continuous or not continuous["copyActions"]
    assert prod.outputs["backupPlanIds"] == {r: p.id for r, p in plans.items()}


def test_selections_name_the_writer_capable_clusters_by_arn_with_the_backup_role():
    prod = captured("prod")
    plans, selections, clusters = by_region(prod, PLAN), by_region(prod, SELECTION), by_region(prod, CLUSTER)
    roles = [r for r in prod.by_type("aws:iam/role:Role") if "backup" in r.name]
    assert len(roles) == 1
    role = roles[0]
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "backup.amazonaws.com"}
    for region, selection in selections.items():
        assert selection.inputs["resources"] == [clusters[region].outputs["arn"]]
        assert selection.inputs["planId"] == plans[region].id
        assert selection.inputs["iamRoleArn"] == role.outputs["arn"]
    attached = sorted(a.inputs["policyArn"] for a in prod.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                      if a.inputs["role"] == role.outputs["name"])
    assert attached == sorted(f"arn:aws:iam::aws:policy/service-role/{p}" for p in MANAGED_POLICIES)
    assert not [p for p in prod.by_type("aws:iam/rolePolicy:RolePolicy") if p.inputs.get("role") == role.outputs["name"]]


def test_prod_vaults_are_locked_and_the_locks_protected():
    prod = captured("prod")
    vaults, locks = by_region(prod, VAULT), by_region(prod, LOCK)
    assert set(locks) == set(vaults)
    for region, lock in locks.items():
        assert lock.inputs["backupVaultName"] == vaults[region].inputs["name"]
        assert (lock.inputs["minRetentionDays"], lock.inputs["maxRetentionDays"], lock.inputs["changeableForDays"]) == (7, 365, 3)
        assert lock.protect


def test_prod_restore_testing_restores_each_cluster_into_its_own_network():
    prod = captured("prod")
    vaults, clusters = by_region(prod, VAULT), by_region(prod, CLUSTER)
    plans, selections = by_region(prod, RESTORE_PLAN), by_region(prod, RESTORE_SELECTION)
    assert set(plans) == set(selections) == {"us-east-1", "us-west-2"}
    for region, selection in selections.items():
        point = plans[region].inputs["recoveryPointSelection"]
        assert point["includeVaults"] == [vaults[region].outputs["arn"]]
        assert point["recoveryPointTypes"] == ["SNAPSHOT", "CONTINUOUS"]
        assert selection.inputs["protectedResourceType"] == "Aurora"
        assert selection.inputs["protectedResourceArns"] == [clusters[region].outputs["arn"]]
        assert selection.inputs["restoreTestingPlanName"] == plans[region].outputs["name"]
        overrides = selection.inputs["restoreMetadataOverrides"]
        assert overrides["dbsubnetgroupname"] == clusters[region].inputs["dbSubnetGroupName"]
        assert json.loads(overrides["vpcsecuritygroupids"]) == clusters[region].inputs["vpcSecurityGroupIds"]


def test_dev_is_minimal_one_vault_daily_rule_no_copy_no_lock_no_restore_testing():
    dev = captured("dev")
    vaults, plans = by_region(dev, VAULT), by_region(dev, PLAN)
    assert set(vaults) == set(plans) == {"us-east-2"}
    (rule,) = plans["us-east-2"].inputs["rules"]
    assert rule["ruleName"] == "daily" and rule["lifecycle"] == {"deleteAfter": 7}
    assert not rule.get("copyActions")
    assert not dev.by_type(LOCK) and not dev.by_type(RESTORE_PLAN) and not dev.by_type(RESTORE_SELECTION)
    assert not vaults["us-east-2"].protect


def test_backup_off_declares_nothing_and_exports_none():
    off = dev_with(backupPlan="false")
    assert not [r for r in off.resources if r.type.startswith("aws:backup/")]
    assert off.outputs["backupVaultArns"] is None and off.outputs["backupPlanIds"] is None


def test_single_region_copy_region_gets_its_own_provider_key_and_vault_but_no_network():
    copied = captured("regional-copy")  # us-east-2, backupCopyRegion: us-west-2
    vaults, keys = by_region(copied, VAULT), key_arns(copied)
    assert set(vaults) == {"us-east-2", "us-west-2"}
    assert vaults["us-west-2"].inputs["kmsKeyArn"] == keys["us-west-2"]
    assert set(by_region(copied, PLAN)) == {"us-east-2"}  # no cluster in the copy region
    rules = {rule["ruleName"]: rule for rule in by_region(copied, PLAN)["us-east-2"].inputs["rules"]}
    assert rules["daily"]["copyActions"][0]["destinationVaultArn"] == vaults["us-west-2"].outputs["arn"]
    assert not rules["continuous"].get("copyActions")
    assert set(by_region(copied, "aws:ec2/vpc:Vpc")) == {"us-east-2"}
    assert set(by_region(copied, CLUSTER)) == {"us-east-2"}


def test_region_keys_let_aws_backup_of_this_account_and_region_use_them():
    prod = captured("prod")
    for key in prod.by_type("aws:kms/key:Key"):
        region = region_of(prod, key)
        statement = next(s for s in json.loads(key.inputs["policy"])["Statement"]
                         if s["Sid"] == "ServicesOfThisAccountAndRegion")
        assert f"backup.{region}.amazonaws.com" in statement["Condition"]["StringEquals"]["kms:ViaService"]
        assert statement["Condition"]["StringEquals"]["kms:CallerAccount"] == "123456789012"


def test_daily_schedule_starts_an_hour_after_the_backup_window():
    assert daily_schedule_after("03:00-04:00") == "cron(0 5 ? * * *)"
    assert daily_schedule_after("22:30-23:30") == "cron(30 0 ? * * *)"
    assert dev_with(preferredBackupWindow="07:15-08:00").by_type(PLAN)[0].inputs["rules"][0]["schedule"] == "cron(0 9 ? * * *)"


def test_prod_defaults_copy_region_to_the_first_secondary():
    assert settings_of("prod").backup.copy_region == "us-west-2"
    assert settings_of("dev").backup.copy_region == ""


@pytest.mark.parametrize("stack,overrides,allowed", [
    ("dev", {"backupCopyRegion": "us-east-2"}, "backupCopyRegion = 'us-east-2': equals the primary region"),
    ("dev", {"backupCopyRegion": "west"}, "expected an AWS region name"),
    ("dev", {"backupDailyRetentionDays": "36501"}, "backupDailyRetentionDays = 36501: allowed: 1 to 36500"),
    ("dev", {"backupContinuousRetentionDays": "36"}, "backupContinuousRetentionDays = 36: allowed: 1 to 35"),
    ("dev", {"backupCopyRetentionDays": "0"}, "backupCopyRetentionDays = 0: allowed: 1 to 36500"),
    ("dev", {"backupVaultLockChangeableDays": "2"}, "allowed: 0 (governance mode) or 3 to 36500"),
    ("dev", {"backupVaultLock": "true", "backupVaultLockMinRetentionDays": "30", "backupVaultLockMaxRetentionDays": "10"},
     "backupVaultLockMinRetentionDays = 30: must not exceed backupVaultLockMaxRetentionDays (10)"),
    ("dev", {"backupVaultLock": "true", "backupVaultLockMinRetentionDays": "14"},
     "backupDailyRetentionDays = 7: the vault lock admits retentions of 14 to 365 days"),
    ("prod", {"backupVaultLockMaxRetentionDays": "30"},
     "backupDailyRetentionDays = 35: the vault lock admits retentions of 7 to 30 days"),
    ("prod", {"backupVaultLock": "false"}, "backupVaultLock = false: allowed in a production stack"),
    ("prod", {"backupPlan": "false"}, "backupPlan = false: allowed in a production stack"),
])
def test_bad_backup_settings_are_refused_naming_the_key(stack, overrides, allowed):
    with pytest.raises(SettingsError) as caught:
        settings_of(stack, **overrides)
    assert allowed in str(caught.value), caught.value.problems


def test_production_single_region_stack_must_copy_elsewhere():
    raw = load_stack_config("prod")
    del raw["aurora-platform:globalDatabase"]
    with pytest.raises(SettingsError, match="backupCopyRegion = '': a production stack copies its backups to another region"):
        parse_settings(raw, "prod")
    raw["aurora-platform:backupCopyRegion"] = "us-east-2"
    assert parse_settings(raw, "prod").backup_only_regions == ("us-east-2",)


@pytest.mark.parametrize("mode", ["preview", "update"])
def test_deploy_check_prod_json_lists_locked_vaults_in_two_regions_a_copying_plan_and_the_selections(mode):
    result = deploy_check("--stack", "prod", "--json", "--mode", mode)
    assert result.returncode == 0, result.stderr
    resources = json.loads(result.stdout)["resources"]

    def of_type(type_):
        return [r for r in resources if r["type"] == type_]

    vaults = {r["inputs"]["name"]: r["inputs"] for r in of_type(VAULT)}
    assert set(vaults) == {"aurora-platform-prod-us-east-1", "aurora-platform-prod-us-west-2"}
    assert all("kmsKeyArn" in inputs for inputs in vaults.values())
    assert {r["inputs"]["backupVaultName"] for r in of_type(LOCK)} == set(vaults)
    assert all(r["inputs"]["resources"] for r in of_type(SELECTION)) and len(of_type(SELECTION)) == 2
    plans = {r["name"]: r["inputs"] for r in of_type(PLAN)}
    east = plans["backup-aurora-platform-prod-us-east-1-plan"]["rules"][0]
    assert east["copyActions"] and east["copyActions"][0]["lifecycle"] == {"deleteAfter": 35.0}
    if mode == "update":
        assert {arn_region(v["kmsKeyArn"]) for v in vaults.values()} == {"us-east-1", "us-west-2"}
        assert east["copyActions"][0]["destinationVaultArn"] == (
            "arn:aws:backup:us-west-2:123456789012:backup-vault:aurora-platform-prod-us-west-2")
        assert {r["inputs"]["resources"][0] for r in of_type(SELECTION)} == {
            f"arn:aws:rds:{region}:123456789012:cluster:aurora-platform-prod-{region}" for region in ("us-east-1", "us-west-2")}
