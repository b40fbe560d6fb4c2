"""DatabaseBackup: AWS Backup for the Aurora clusters, with copies in another region and locked vaults.

Aurora's automated backups live and die with the cluster's region and account settings: a bad
write replicates to every global member in a second, and a deleted cluster takes its automated
backups along unless they were retained. AWS Backup keeps recovery points apart from the
clusters, in vaults whose lock stops anyone in the account from deleting them early, and copies
them to a vault in another region.

Per region involved (every writer-capable cluster's region, plus the copy region):

- a backup vault encrypted with that region's customer managed key;
- with ``vault_lock``: a vault lock with minimum and maximum retention (compliance mode after
  ``vault_lock_changeable_days``, governance mode with 0);
- where the region holds writer-capable clusters: a backup plan with a daily snapshot rule and
  (``continuous``) a continuous-backup rule, the daily rule copying to the vault of the other
  region with its own retention; a selection naming the clusters by ARN; with
  ``restore_testing``, a restore testing plan and selection for them.

Backup plans and selections are regional (a plan backs up resources of its own region), so a
global database gets one plan per writer-capable member region. The plan in the copy region copies
back to the primary region, so that after a switchover the writer's backups still leave its region.

Aurora is not a resource type AWS Backup manages fully: its snapshots stay encrypted with the
cluster's key, and a cross-region copy is re-encrypted with the key of the destination vault
("Encryption for backups in AWS Backup",
https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html; "Creating backup copies
across AWS Regions", https://docs.aws.amazon.com/aws-backup/latest/devguide/cross-region-backup.html).
AWS Backup supports continuous backup and point-in-time restore for Aurora, 1 to 35 days, with one
continuous recovery point per cluster ("Feature availability by resource",
https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-feature-availability.html#features-by-resource;
"Continuous backups and point-in-time restore",
https://docs.aws.amazon.com/aws-backup/latest/devguide/point-in-time-recovery.html; "Changing your
retention period", https://docs.aws.amazon.com/aws-backup/latest/devguide/point-in-time-recovery-retention-period.html).
A copy of a continuous backup to another region becomes a snapshot ("Copy a backup",
https://docs.aws.amazon.com/aws-backup/latest/devguide/recov-point-create-a-copy.html), so the
copy action sits on the daily rule. AWS Backup automates either cross-account or cross-region
copies of Aurora snapshots, not both in sequence (same page): this component copies across regions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import naming
from components.account import AccountContext, service_trust_policy
from components.aws_facts import BACKUP_MAX_RETENTION_DAYS, CONTINUOUS_MAX_RETENTION_DAYS, VAULT_LOCK_MIN_CHANGEABLE_DAYS
from components.settings import BackupSettings

# AWS's managed policies for the AWS Backup service role: backups, and restores (restore testing
# restores and deletes the test cluster with it). Nothing else is attached.
# https://docs.aws.amazon.com/aws-backup/latest/devguide/iam-service-roles.html
MANAGED_POLICIES = ("AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores")
# The vault lock's arguments the program sets at creation only (see DatabaseBackup._vault).
VAULT_LOCK_SET_ONCE = ("minRetentionDays", "maxRetentionDays", "changeableForDays")
# AWS Backup's resource type of an Aurora cluster in restore testing selections
# (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_RestoreTestingSelectionForCreate.html).
AURORA_RESOURCE_TYPE = "Aurora"
RESTORE_TESTING_SCHEDULE = "cron(0 8 ? * SAT *)"  # weekly, Saturday 08:00 UTC
# A selection may name at most 30 protected resource ARNs (same reference).
MAX_RESTORE_TESTING_ARNS = 30


def daily_schedule_after(backup_window: str) -> str:
    """A daily cron expression one hour after RDS's backup window ``hh:mm-hh:mm`` ends, so the
    AWS Backup snapshot job does not start while RDS takes its own automated backup."""
    match = re.fullmatch(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", backup_window)
    if not match:
        raise ValueError(f"backup window {backup_window!r}: expected hh24:mi-hh24:mi")
    hour, minute = (int(match[3]) + 1) % 24, int(match[4])
    return f"cron({minute} {hour} ? * * *)"


@dataclass
class BackupRegion:
    """One region of the backup: its provider and key, and the clusters backed up there."""

    region: str
    provider: aws.Provider
    """The region's explicit provider: vaults, plans and selections are regional."""
    kms_key_arn: pulumi.Input[str]
    """The region's customer managed key (its policy lets AWS Backup of this account use it)."""
    cluster_arns: list[pulumi.Input[str]] = field(default_factory=list)
    """Writer-capable clusters of the region, selected by ARN; empty for a vault that only receives copies."""
    db_subnet_group_name: pulumi.Input[str] | None = None
    """Subnet group restore tests restore into (AWS Backup would otherwise infer the default VPC)."""
    security_group_ids: list[pulumi.Input[str]] = field(default_factory=list)
    """Security groups of restore-test clusters: the cluster's DB security group."""


@dataclass
class DatabaseBackupArgs:
    settings: BackupSettings
    """The backup settings: the copy region (whose vault receives a copy of every daily snapshot; empty
    for no copy; its own plan, if it holds clusters, copies to the primary region), daily and copy
    retention (1-36500 days), continuous backup (point-in-time restore from the vault) and its
    retention (1-35 days), vault lock (no recovery point deleted before its retention ends; min and max
    retention, and days until the lock becomes immutable: 3 or more, 0 for governance mode) and a
    weekly restore test of each region's clusters."""
    stack: str
    """The stack: vaults are ``naming.vault_name`` (``<project>-<stack>-<region>``), plans and selections follow."""
    primary_region: str
    """The stack's primary region (``aws:region``)."""
    regions: list[BackupRegion]
    """Every region involved: the writer-capable clusters' regions and the copy region."""
    schedule: str = "cron(0 5 ? * * *)"
    """Cron expression (UTC) of the daily rule; see ``daily_schedule_after``."""
    protect: bool = True
    """Pulumi ``protect`` on vaults and vault locks."""
    account: AccountContext | None = None
    """Account and partition of the primary region's provider (the service role); ``None`` looks them up."""

    def __post_init__(self):
        s = self.settings
        problems = []
        regions = [r.region for r in self.regions]
        if self.primary_region not in regions:
            problems.append(f"primary_region {self.primary_region!r} is not among regions {regions}")
        if s.copy_region == self.primary_region:
            problems.append(f"copy_region {s.copy_region!r} equals the primary region; copies must leave it")
        elif s.copy_region and s.copy_region not in regions:
            problems.append(f"copy_region {s.copy_region!r} needs a BackupRegion (provider and key); got {regions}")
        for name, days, high in (("daily_retention_days", s.daily_retention_days, BACKUP_MAX_RETENTION_DAYS),
                                 ("continuous_retention_days", s.continuous_retention_days, CONTINUOUS_MAX_RETENTION_DAYS),
                                 ("copy_retention_days", s.copy_retention_days, BACKUP_MAX_RETENTION_DAYS)):
            if not 1 <= days <= high:
                problems.append(f"{name} = {days}: allowed 1 to {high}")
        if s.vault_lock:
            low, high = s.vault_lock_min_retention_days, s.vault_lock_max_retention_days
            if not 1 <= low <= high <= BACKUP_MAX_RETENTION_DAYS:
                problems.append(f"vault lock retention {low} to {high}: needs 1 <= min <= max <= {BACKUP_MAX_RETENTION_DAYS}")
            if 0 < s.vault_lock_changeable_days < VAULT_LOCK_MIN_CHANGEABLE_DAYS:
                problems.append(f"vault_lock_changeable_days = {s.vault_lock_changeable_days}: "
                                f"0 or at least {VAULT_LOCK_MIN_CHANGEABLE_DAYS}")
        for region in self.regions:
            if s.restore_testing and len(region.cluster_arns) > MAX_RESTORE_TESTING_ARNS:
                problems.append(f"{region.region}: a restore testing selection names at most {MAX_RESTORE_TESTING_ARNS} clusters")
        if problems:
            raise ValueError("DatabaseBackupArgs: " + "; ".join(problems))

    def copy_destination(self, region: str) -> str | None:
        """The region a plan in ``region`` copies to: the copy region, or from there the primary."""
        copy_region = self.settings.copy_region
        if not copy_region:
            return None
        return copy_region if region != copy_region else self.primary_region


def _service_name(name_prefix: str, region: str) -> str:
    """Restore testing names allow letters, digits and underscores only (at most 50)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{name_prefix}_{region}")[:50]


class DatabaseBackup(pulumi.ComponentResource):
    """AWS Backup vaults, plans, selections, vault locks and restore tests for the stack's clusters."""

    vault_arns: dict[str, pulumi.Output[str]]
    vault_names: dict[str, pulumi.Output[str]]
    plan_ids: dict[str, pulumi.Output[str]]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseBackupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:backup:DatabaseBackup", name, None, opts)
        self._name = name
        self._args = args
        self._prefix = naming.stack_prefix(args.stack)
        attachments = self._service_role()
        self.vaults: dict[str, aws.backup.Vault] = {}
        self.vault_locks: dict[str, aws.backup.VaultLockConfiguration] = {}
        for region in args.regions:
            self._vault(region)
        self.plans: dict[str, aws.backup.Plan] = {}
        self.selections: dict[str, aws.backup.Selection] = {}
        self.restore_testing_plans: dict[str, aws.backup.RestoreTestingPlan] = {}
        for region in args.regions:
            if region.cluster_arns:
                self._plan(region, attachments)

        self.vault_arns = {region: vault.arn for region, vault in self.vaults.items()}
        self.vault_names = {region: vault.name for region, vault in self.vaults.items()}
        self.plan_ids = {region: plan.id for region, plan in self.plans.items()}
        self.role_arn = self.role.arn
        self.register_outputs({
            "vault_arns": self.vault_arns,
            "vault_names": self.vault_names,
            "plan_ids": self.plan_ids,
            "role_arn": self.role_arn,
        })

    def _service_role(self) -> list[aws.iam.RolePolicyAttachment]:
        """The AWS Backup service role in the primary region, with AWS's managed policies only."""
        name, args = self._name, self._args
        primary_provider = next(r.provider for r in args.regions if r.region == args.primary_region)
        in_primary = pulumi.ResourceOptions(parent=self, provider=primary_provider)
        account = args.account or AccountContext.lookup(pulumi.InvokeOutputOptions(parent=self, provider=primary_provider))
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"AWS Backup service role of {self._prefix}: backups, copies, restores and restore tests",
            # AWS Backup documents aws:SourceAccount and aws:SourceArn against the confused deputy
            # ("Cross-service confused deputy prevention",
            # https://docs.aws.amazon.com/aws-backup/latest/devguide/cross-service-confused-deputy-prevention.html)
            # with examples for its resource policies only, and does not say that it sends the key when it
            # assumes its service role: IfExists refuses a request from another account that carries the
            # key, without denying every backup if AWS Backup leaves it out.
            assume_role_policy=pulumi.Output.from_input(account.account_id).apply(
                lambda account_id: service_trust_policy("backup.amazonaws.com",
                                                        {"StringEqualsIfExists": {"aws:SourceAccount": account_id}})),
            opts=in_primary,
        )
        return [
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy}",
                role=self.role.name,
                policy_arn=account.managed_policy_arn(f"service-role/{policy}"),
                opts=in_primary,
            )
            for policy in MANAGED_POLICIES
        ]

    def _vault(self, region: BackupRegion) -> None:
        """The region's vault, encrypted with its key, and its lock when the settings ask for one."""
        name, args, settings = self._name, self._args, self._args.settings
        kept = pulumi.ResourceOptions(parent=self, provider=region.provider, protect=args.protect)
        vault = aws.backup.Vault(
            f"{name}-{region.region}",
            name=naming.vault_name(args.stack, region.region),
            kms_key_arn=region.kms_key_arn,
            force_destroy=False,  # a vault holding recovery points is never deleted with them
            opts=kept,
        )
        self.vaults[region.region] = vault
        if settings.vault_lock:
            self.vault_locks[region.region] = aws.backup.VaultLockConfiguration(
                f"{name}-{region.region}-lock",
                backup_vault_name=vault.name,
                min_retention_days=settings.vault_lock_min_retention_days,
                max_retention_days=settings.vault_lock_max_retention_days,
                changeable_for_days=settings.vault_lock_changeable_days or None,
                # Every argument forces a replacement (backup/vault_lock_configuration.go ForceNew): the
                # new lock would be written over the old one, whose delete then removes the vault's lock
                # while the state says locked, and AWS refuses any change once the lock date has passed.
                # The retention values are set at creation only; a change is made in place before the
                # lock date with `aws backup put-backup-vault-lock-configuration` (docs/backups-and-restore.md),
                # and `deploy diff` says so when the settings change.
                opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(ignore_changes=list(VAULT_LOCK_SET_ONCE))),
            )

    def _plan(self, region: BackupRegion, attachments: list[aws.iam.RolePolicyAttachment]) -> None:
        """The region's plan (daily rule with its copy, continuous rule), selection and restore test."""
        name, args, settings = self._name, self._args, self._args.settings
        in_region = pulumi.ResourceOptions(parent=self, provider=region.provider)
        vault = self.vaults[region.region]
        destination = args.copy_destination(region.region)
        copy_actions = []
        if destination:
            copy_actions.append(aws.backup.PlanRuleCopyActionArgs(
                destination_vault_arn=self.vaults[destination].arn,
                lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(delete_after=settings.copy_retention_days),
            ))
        rules = [aws.backup.PlanRuleArgs(
            rule_name="daily",
            target_vault_name=vault.name,
            schedule=args.schedule,
            start_window=60,  # AWS Backup: at least 60 minutes
            lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=settings.daily_retention_days),
            copy_actions=copy_actions,
        )]
        if settings.continuous:
            rules.append(aws.backup.PlanRuleArgs(
                rule_name="continuous",
                target_vault_name=vault.name,
                schedule=args.schedule,
                start_window=60,
                enable_continuous_backup=True,
                lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=settings.continuous_retention_days),
            ))
        # A locked destination vault refuses copies outside its retention range, so the plan
        # waits for the locks it writes into.
        locks = [self.vault_locks[r] for r in (region.region, destination) if r and r in self.vault_locks]
        plan = aws.backup.Plan(
            f"{name}-{region.region}-plan",
            name=naming.regional_name(args.stack, region.region),
            rules=rules,
            opts=pulumi.ResourceOptions.merge(in_region, pulumi.ResourceOptions(depends_on=locks)),
        )
        self.plans[region.region] = plan
        self.selections[region.region] = aws.backup.Selection(
            f"{name}-{region.region}-clusters",
            name=f"{self._prefix}-clusters",
            plan_id=plan.id,
            iam_role_arn=self.role.arn,
            resources=list(region.cluster_arns),
            opts=pulumi.ResourceOptions.merge(in_region, pulumi.ResourceOptions(depends_on=attachments)),
        )
        if settings.restore_testing:
            self._restore_testing(region, vault, in_region, attachments)

    def _restore_testing(self, region: BackupRegion, vault: aws.backup.Vault, in_region: pulumi.ResourceOptions,
                         attachments: list) -> None:
        name, settings = self._name, self._args.settings
        point_types = ["SNAPSHOT"] + (["CONTINUOUS"] if settings.continuous else [])
        plan = aws.backup.RestoreTestingPlan(
            f"{name}-{region.region}-restore-testing",
            name=_service_name(self._prefix, region.region),
            schedule_expression=RESTORE_TESTING_SCHEDULE,
            start_window_hours=24,
            recovery_point_selection=aws.backup.RestoreTestingPlanRecoveryPointSelectionArgs(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[vault.arn],
                recovery_point_types=point_types,
                selection_window_days=min(7, settings.daily_retention_days),
            ),
            opts=in_region,
        )
        self.restore_testing_plans[region.region] = plan
        overrides: dict[str, pulumi.Input[str]] = {}
        # Without overrides AWS Backup restores into the default VPC, which this platform's
        # accounts need not have ("Restore testing inferred metadata",
        # https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-inferred-metadata.html).
        if region.db_subnet_group_name is not None:
            overrides["dbsubnetgroupname"] = region.db_subnet_group_name
        if region.security_group_ids:
            overrides["vpcsecuritygroupids"] = pulumi.Output.all(*region.security_group_ids).apply(json.dumps)
        aws.backup.RestoreTestingSelection(
            f"{name}-{region.region}-restore-testing-clusters",
            name="clusters",
            restore_testing_plan_name=plan.name,
            protected_resource_type=AURORA_RESOURCE_TYPE,
            protected_resource_arns=list(region.cluster_arns),
            iam_role_arn=self.role.arn,
            restore_metadata_overrides=overrides or None,
            validation_window_hours=1,
            opts=pulumi.ResourceOptions.merge(in_region, pulumi.ResourceOptions(depends_on=attachments)),
        )
