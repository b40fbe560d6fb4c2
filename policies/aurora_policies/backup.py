"""AWS Backup: vaults on customer managed keys, clusters in a plan that copies to another region,
vaults locked against early deletion."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._checks import customer_managed_key
from ._framework import HIGH, Rule, integer, resource_policies, settings, stack_policies_of
from ._props import PREVIEW_NOTE, arn_region, as_list, is_set, is_unknown, number, shown
from ._types import (
    BACKUP_PLAN,
    BACKUP_SELECTION,
    BACKUP_VAULT,
    BACKUP_VAULT_LOCK,
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
)
from ._views import ResourceView, StackView

Finding = tuple[str, str]


# --- backup-vault-customer-managed-key ----------------------------------------------------


_vault_customer_managed_key = customer_managed_key(
    "kmsKeyArn",
    "the AWS managed key of AWS Backup, whose key policy you cannot control and whose recovery points cannot be "
    "copied to another account. Set kms_key_arn to the ARN of the customer managed key (aws.kms.Key) of the "
    "vault's region.",
    "AWS Backup encrypts the vault with its AWS managed key aws/backup. Set kms_key_arn to the ARN of the customer "
    "managed key (aws.kms.Key) of the vault's region, whose key policy lets AWS Backup of this account use it.",
)


# --- rds-cluster-backup-plan ----------------------------------------------------------------


def _writer_capable(stack: StackView, cluster: ResourceView) -> bool:
    """A global member with no instance in the stack (a headless secondary) can never hold the
    writer; every other cluster can."""
    if not is_set(cluster.get("globalClusterIdentifier")):
        return True
    return bool(stack.referencing(cluster, [RDS_CLUSTER_INSTANCE], "clusterIdentifier",
                                  identities=("clusterIdentifier", "id")))


def _copies_elsewhere(stack: StackView, plan: ResourceView) -> bool | None:
    """Whether a rule of the plan copies to a vault of another region; None when undecidable."""
    plan_region = stack.region_of(plan)
    undecided = False
    rules = plan.get("rules")
    if is_unknown(rules):
        return None
    for rule in as_list(rules):
        if not isinstance(rule, dict):
            undecided = True
            continue
        for action in as_list(rule.get("copyActions")):
            if not isinstance(action, dict):
                undecided = True
                continue
            destination = action.get("destinationVaultArn")
            literal = arn_region(destination)
            if literal and plan_region:
                if literal != plan_region:
                    return True
                continue
            vaults = [v for v in stack.referenced(plan, "rules", [BACKUP_VAULT], identities=("arn",))
                      if destination in (v.props.get("arn"),) or is_unknown(destination)]
            regions = {stack.region_of(v) for v in vaults}
            if plan_region and any(region and region != plan_region for region in regions):
                return True
            if is_unknown(destination) or not plan_region:
                undecided = True
    return None if undecided else False


def _rds_cluster_backup_plan(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    for cluster in stack.of_type(RDS_CLUSTER):
        if not _writer_capable(stack, cluster):
            continue
        selections = stack.referencing(cluster, [BACKUP_SELECTION], "resources", identities=("arn",))
        if not selections:
            yield (
                f"{cluster.label} can hold the writer but no AWS Backup selection names it, so its only backups "
                "are its own automated backups, lost with its region or a deletion. Add it by ARN to the resources "
                "of an aws.backup.Selection whose plan copies to a vault in another region (DatabaseBackup).",
                cluster.urn,
            )
            continue
        verdicts = []
        for selection in selections:
            for plan in stack.referenced(selection, "planId", [BACKUP_PLAN], identities=("id",)):
                verdicts.append(_copies_elsewhere(stack, plan))
        if True in verdicts:
            continue
        if None in verdicts:
            yield (
                f"{cluster.label}: the destination of its backup plan's copy action is unknown during preview "
                f"({PREVIEW_NOTE}) and depends on no vault of this stack whose region is known, so a copy to "
                "another region cannot be confirmed. Set destination_vault_arn to the arn of an aws.backup.Vault "
                "created with another region's provider.",
                cluster.urn,
            )
            continue
        yield (
            f"{cluster.label} is in an AWS Backup selection, but no rule of its plan copies the recovery points to "
            "a vault in another region, so losing the cluster's region loses its backups too. Add a copy_actions "
            "entry whose destination_vault_arn is a vault of another region, with its own lifecycle.",
            cluster.urn,
        )


# --- backup-vault-locked --------------------------------------------------------------------


def _backup_vault_locked(stack: StackView, config: Mapping[str, Any]) -> Iterator[Finding]:
    minimum = int(config.get("minimumDays", 1))
    for vault in stack.of_type(BACKUP_VAULT):
        locks = stack.referencing(vault, [BACKUP_VAULT_LOCK], "backupVaultName", identities=("name", "id"))
        if not locks:
            yield (
                f"{vault.label} has no vault lock, so anyone in the account allowed to delete recovery points "
                "(or a compromised role) can empty it before their retention ends. Add an "
                f"aws.backup.VaultLockConfiguration with min_retention_days of at least {minimum}.",
                vault.urn,
            )
            continue
        for lock in locks:
            days = lock.get("minRetentionDays")
            if is_unknown(days):
                continue  # computed from another resource: a minimum is being set
            value = number(days)
            if value is None or value < minimum:
                yield (
                    f"{vault.label}: its vault lock {lock.label} sets minRetentionDays {shown(days)}, so a recovery "
                    f"point can be kept for less than {minimum} day(s). Set min_retention_days to at least {minimum}.",
                    vault.urn,
                )


# Rule(name, resource types, severity, tags, summary, external ids, check[, config])
RESOURCE_POLICIES = resource_policies(
    Rule("backup-vault-customer-managed-key", [BACKUP_VAULT], HIGH, ("encryption",),
         "AWS Backup vaults are encrypted with a customer managed KMS key (kmsKeyArn), not the AWS managed aws/backup key.",
         ["CKV_AWS_166"], _vault_customer_managed_key),
)
STACK_POLICIES = stack_policies_of(
    Rule("rds-cluster-backup-plan", [RDS_CLUSTER, RDS_CLUSTER_INSTANCE, BACKUP_SELECTION, BACKUP_PLAN, BACKUP_VAULT],
         HIGH, ("resilience",),
         "Each writer-capable Aurora cluster is named in an AWS Backup selection whose plan copies recovery points "
         "to a vault in another region.",
         ["AWS Config aurora-resources-protected-by-backup-plan"], _rds_cluster_backup_plan),
    Rule("backup-vault-locked", [BACKUP_VAULT, BACKUP_VAULT_LOCK], HIGH, ("resilience",),
         "Each AWS Backup vault has a vault lock configuration with a minimum retention of at least minimumDays.",
         ["AWS Config backup-recovery-point-minimum-retention-check"], _backup_vault_locked,
         settings(minimumDays=integer(1, 36500, 1))),
)
