"""The AWS Backup policies through the real pack: backup-vault-customer-managed-key (resource),
rds-cluster-backup-plan and backup-vault-locked (stack), on small graphs built in update mode
(references by known value) and preview mode (references unknown, linked by dependencies)."""

from __future__ import annotations

import pytest
from policy_fixtures import KEY_ARN, UNKNOWN, WEST_KEY_ARN, Resource, StackPack, aws_provider, expected_level, of, resource
from test_policy_pack_stack_rules import MODES, Graph

CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
VAULT = "aws:backup/vault:Vault"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"


def arn(region: str, kind: str, name: str) -> str:
    return f"arn:aws:{'rds' if kind == 'cluster' else 'backup'}:{region}:123456789012:{kind}:{name}"


def backed_up(mode: str, *, copy_to: str | None = "west", selected: bool = True, locked: bool = True,
              lock_min: int | None = 7, headless_secondary: bool = False) -> tuple[Graph, dict[str, Resource]]:
    """A cluster in us-east-1 whose plan copies to a vault in ``copy_to`` ("west", "east" or None)."""
    g = Graph(mode)
    east, west = aws_provider("east", "us-east-1"), aws_provider("west", "us-west-2")
    g.resources += [east, west]
    made: dict[str, Resource] = {}
    made["cluster"] = g.add(CLUSTER, "orders", {"engine": "aurora-postgresql"},
                            outputs={"arn": arn("us-east-1", "cluster", "orders")}, provider=east)
    g.add(CLUSTER_INSTANCE, "orders-1", refs={"clusterIdentifier": made["cluster"]}, provider=east)
    vaults = {}
    for region, provider, key in (("east", east, KEY_ARN), ("west", west, WEST_KEY_ARN)):
        name = f"orders-{region}"
        vaults[region] = made[f"vault-{region}"] = g.add(
            VAULT, name, {"name": name, "kmsKeyArn": key}, provider=provider,
            outputs={"arn": arn(provider.inputs["region"], "backup-vault", name), "name": name})
        if locked:
            made[f"lock-{region}"] = g.add(LOCK, f"{name}-lock", {"minRetentionDays": lock_min, "maxRetentionDays": 365},
                                           refs={"backupVaultName": (vaults[region], "name")}, provider=provider)
    copy_actions = []
    rule_refs = [(vaults["east"], "name")]
    if copy_to:
        copy_actions = [{"destinationVaultArn": g._value((vaults[copy_to], "arn")), "lifecycle": {"deleteAfter": 35}}]
        rule_refs.append((vaults[copy_to], "arn"))
    made["plan"] = g.add(PLAN, "orders-plan", {"rules": [{
        "ruleName": "daily", "targetVaultName": g._value((vaults["east"], "name")), "copyActions": copy_actions,
        "lifecycle": {"deleteAfter": 35}}]}, provider=east)
    if mode == "preview":
        made["plan"].property_dependencies["rules"] = [target.urn for target, _ in rule_refs]
    if selected:
        made["selection"] = g.add(SELECTION, "orders-clusters", refs={"planId": made["plan"],
                                                                      "resources": [(made["cluster"], "arn")]},
                                  provider=east)
    if headless_secondary:
        global_cluster = g.add(GLOBAL_CLUSTER, "orders-global", {"engine": "aurora-postgresql"})
        made["secondary"] = g.add(CLUSTER, "orders-west", {"engine": "aurora-postgresql"},
                                  refs={"globalClusterIdentifier": global_cluster},
                                  outputs={"arn": arn("us-west-2", "cluster", "orders-west")}, provider=west)
    return g, made


# --- rds-cluster-backup-plan ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_cluster_in_a_plan_copying_to_another_region_passes(pack: StackPack, mode: str) -> None:
    g, _ = backed_up(mode)

    assert of(pack.analyze_stack("prod", *g.resources), "rds-cluster-backup-plan") == []


@pytest.mark.parametrize("mode", MODES)
def test_cluster_in_no_selection_is_reported_mandatory_in_prod(pack: StackPack, mode: str) -> None:
    g, made = backed_up(mode, selected=False)

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "rds-cluster-backup-plan")
    assert violation.urn == made["cluster"].urn and violation.level == "mandatory"
    assert "'orders' can hold the writer but no AWS Backup selection names it" in violation.message


@pytest.mark.parametrize("mode", MODES)
def test_plan_without_a_copy_action_is_reported(pack: StackPack, mode: str) -> None:
    g, made = backed_up(mode, copy_to=None)

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "rds-cluster-backup-plan")
    assert violation.urn == made["cluster"].urn
    assert "no rule of its plan copies the recovery points to a vault in another region" in violation.message


@pytest.mark.parametrize("mode", MODES)
def test_copy_into_a_vault_of_the_same_region_is_reported(pack: StackPack, mode: str) -> None:
    g, made = backed_up(mode, copy_to="east")

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "rds-cluster-backup-plan")
    assert violation.urn == made["cluster"].urn and violation.level == "mandatory"
    says = "cannot be confirmed" if mode == "preview" else "no rule of its plan copies"
    assert says in violation.message


def test_copy_to_a_literal_arn_of_another_region_passes(pack: StackPack) -> None:
    g, made = backed_up("update", copy_to=None)
    made["plan"].inputs["rules"][0]["copyActions"] = [{"destinationVaultArn": arn("eu-west-1", "backup-vault", "dr")}]
    made["plan"].outputs["rules"] = made["plan"].inputs["rules"]

    assert of(pack.analyze_stack("prod", *g.resources), "rds-cluster-backup-plan") == []


def test_copy_destination_unknown_and_unlinked_fails_closed(pack: StackPack) -> None:
    g, made = backed_up("preview", copy_to=None)
    made["plan"].inputs["rules"][0]["copyActions"] = [{"destinationVaultArn": UNKNOWN}]

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "rds-cluster-backup-plan")
    assert violation.level == "mandatory" and "unknown during preview" in violation.message


def test_headless_global_secondary_needs_no_backup_plan(pack: StackPack) -> None:
    g, made = backed_up("update", headless_secondary=True)

    assert of(pack.analyze_stack("prod", *g.resources), "rds-cluster-backup-plan") == []
    g.add(CLUSTER_INSTANCE, "orders-west-1", refs={"clusterIdentifier": made["secondary"]})
    (violation,) = of(pack.analyze_stack("prod", *g.resources), "rds-cluster-backup-plan")
    assert violation.urn == made["secondary"].urn  # with an instance it can take the writer


# --- backup-vault-locked ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_locked_vaults_pass(pack: StackPack, mode: str) -> None:
    g, _ = backed_up(mode)

    assert of(pack.analyze_stack("prod", *g.resources), "backup-vault-locked") == []


@pytest.mark.parametrize("mode", MODES)
def test_vault_without_a_lock_is_reported(pack: StackPack, mode: str) -> None:
    g, made = backed_up(mode, locked=False)

    violations = of(pack.analyze_stack("prod", *g.resources), "backup-vault-locked")
    assert sorted(v.urn for v in violations) == sorted([made["vault-east"].urn, made["vault-west"].urn])
    assert {v.level for v in violations} == {"mandatory"}
    assert "'orders-east' has no vault lock" in next(v.message for v in violations if v.urn == made["vault-east"].urn)


@pytest.mark.parametrize("lock_min,says", [(None, "minRetentionDays not set"), (3, "minRetentionDays 3")])
def test_lock_below_the_configured_minimum_is_reported(pack: StackPack, lock_min, says: str) -> None:
    g, made = backed_up("update", lock_min=lock_min)

    violations = of(pack.analyze_stack("prod", *g.resources), "backup-vault-locked")  # prod's minimumDays: 7
    assert len(violations) == 2 and all(says in v.message and "at least 7" in v.message for v in violations)


def test_lock_minimum_comes_from_the_stack_config(pack: StackPack) -> None:
    g, _ = backed_up("update", lock_min=3)

    assert len(of(pack.analyze_stack("prod", *g.resources), "backup-vault-locked")) == 2  # prod: minimumDays 7
    assert of(pack.analyze_stack("dev", *g.resources), "backup-vault-locked") == []  # dev: minimumDays 1


@pytest.mark.parametrize("policy,build", [
    ("rds-cluster-backup-plan", lambda: backed_up("update", selected=False)[0]),
    ("backup-vault-locked", lambda: backed_up("update", locked=False)[0]),
])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_backup_stack_policies_report_at_the_stack_level(pack: StackPack, stack: str, policy: str, build) -> None:
    violations = of(pack.analyze_stack(stack, *build().resources), policy)

    assert violations and {v.level for v in violations} == {expected_level(stack, policy)}


# --- backup-vault-customer-managed-key -------------------------------------------------------------


@pytest.mark.parametrize("key,says", [
    (None, "kmsKeyArn is not set, so AWS Backup encrypts the vault with its AWS managed key aws/backup"),
    ("arn:aws:kms:us-east-1:123456789012:alias/aws/backup", "the AWS managed key of AWS Backup"),
])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_vault_without_a_customer_managed_key_is_mandatory_everywhere(pack: StackPack, stack: str, key, says: str) -> None:
    vault = resource(VAULT, "orders", {"name": "orders", **({"kmsKeyArn": key} if key else {})})

    (violation,) = of(pack.analyze(stack, vault), "backup-vault-customer-managed-key")
    assert violation.level == "mandatory" and violation.urn == vault.urn and says in violation.message
    assert "kms_key_arn" in violation.message


@pytest.mark.parametrize("key", [KEY_ARN, UNKNOWN])
def test_vault_on_a_customer_managed_key_passes(pack: StackPack, key: str) -> None:
    vault = resource(VAULT, "orders", {"name": "orders", "kmsKeyArn": key})

    assert of(pack.analyze("prod", vault), "backup-vault-customer-managed-key") == []


def test_descriptions_carry_the_external_ids(pack: StackPack) -> None:
    descriptions = {p.name: p.description for p in pack.analyzer.get_analyzer_info().policies}

    assert "CKV_AWS_166" in descriptions["backup-vault-customer-managed-key"]
    assert "aurora-resources-protected-by-backup-plan" in descriptions["rds-cluster-backup-plan"]
    assert "backup-recovery-point-minimum-retention-check" in descriptions["backup-vault-locked"]
