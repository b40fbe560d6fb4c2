"""`python -m deploy verify --stack S`: check the live AWS resources against the stack's intent.

Reads the stack outputs (Automation API, or ``--outputs-file`` with the JSON of
``pulumi stack output --json --show-secrets``) and the stack's validated settings, then
reads the live resources with boto3 (paginators where the API pages) in every region of
the stack and reports each difference as a finding with a stable check name:

| check | what is wrong |
|---|---|
| ``stack-outputs`` | an output the checks need is missing (the stack is not deployed, or older) |
| ``cluster-missing`` | the cluster named by the outputs does not exist |
| ``cluster-encrypted`` | cluster storage not encrypted |
| ``cluster-kms-key`` | cluster encrypted with another key than the region's ``kmsKeyArn`` output |
| ``deletion-protection`` | deletion protection differs from ``deletionProtection`` |
| ``backup-retention`` | backup retention differs from ``backupRetentionDays`` |
| ``iam-auth`` | IAM database authentication differs from ``iamAuthentication`` |
| ``instance-public`` | a DB instance is publicly accessible |
| ``multi-az`` | production stack: a cluster meant to have 2+ instances has them in fewer than 2 AZs |
| ``global-membership`` | the global cluster is missing, or a region's cluster is not a member |
| ``global-writer-region`` | the writer is not in ``globalDatabase.writerRegion`` |
| ``fleet-missing`` | the fleet's auto scaling group named by the outputs does not exist |
| ``fleet-imdsv2`` | a fleet instance does not require IMDSv2 (``HttpTokens`` not ``required``) |
| ``fleet-public-ip`` | a fleet instance has a public IP address |
| ``sg-open-to-internet`` | an ingress rule of the DB or fleet security group admits 0.0.0.0/0 or ::/0 |

Security groups are checked for ingress: egress to the internet (through NAT) is how the
fleet reaches AWS APIs and is not a finding. ``--wait SECONDS`` first waits (RDS waiters)
for the clusters and instances to be available. ``--endpoint-url`` aims every client at
a local emulator; ``--region`` limits the checks to some regions of the stack.

Exit codes: 0 no finding, 1 any finding (or AWS refused a read), 2 usage or settings error
(including missing AWS credentials).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from components.naming import short_stack_name
from deploy.args import add_endpoint_url, add_outputs_file, add_region_filter, add_stack, wait_seconds
from deploy.errors import EXIT_FAILED, CommandRefused
from deploy.runbooks.base import (
    Clients,
    Clock,
    Wait,
    arn_region,
    check_region,
    described,
    paginate,
    resolve_settings,
    stack_outputs,
)
from deploy.runbooks.findings import Finding, report

OPEN_CIDRS = ("0.0.0.0/0", "::/0")
CHECKS = (
    "stack-outputs", "cluster-missing", "cluster-encrypted", "cluster-kms-key", "deletion-protection",
    "backup-retention", "iam-auth", "instance-public", "multi-az", "global-membership",
    "global-writer-region", "fleet-missing", "fleet-imdsv2", "fleet-public-ip", "sg-open-to-internet",
)


def same_kms_key(actual: str | None, expected: str | None) -> bool:
    """Key ARNs compare whole; a bare key id (no ARN) matches the ARN that ends in ``key/<id>``."""
    if not actual or not expected:
        return False
    if actual.startswith("arn:") and expected.startswith("arn:"):
        return actual == expected
    return actual.rsplit("/", 1)[-1] == expected.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RegionIntent:
    """What one region of the stack should look like, from settings and outputs."""
    region: str
    role: str
    outputs: dict[str, Any]
    instance_count: int


def region_intents(settings, outputs: dict[str, Any]) -> tuple[list[RegionIntent], list[Finding]]:
    """Each region of the stack with its outputs (``regions`` output; the top-level outputs
    for the primary region of a stack that exports no ``regions``)."""
    findings: list[Finding] = []
    per_region = outputs.get("regions") if isinstance(outputs.get("regions"), dict) else None
    counts = {settings.primary_region: 1 + settings.database.reader_count}
    if settings.global_database:
        counts.update({s.region: s.instance_count for s in settings.global_database.secondary_regions})
    intents = []
    for region in settings.regions:
        role = "primary" if region == settings.primary_region else "secondary"
        if per_region is not None:
            entry = per_region.get(region)
        elif region == settings.primary_region:
            entry = outputs
        else:
            entry = None
        if not isinstance(entry, dict):
            findings.append(Finding("stack-outputs", region, "regions",
                                    f"the stack outputs have no entry for region {region} of the settings; "
                                    "run `python -m deploy up` (or pass the current --outputs-file)"))
            continue
        intents.append(RegionIntent(region=region, role=role, outputs=entry, instance_count=counts[region]))
    return intents, findings


# ---------------------------------------------------------------------------------------
# The checks. ``clients(service, region)`` returns a boto3 client.
# ---------------------------------------------------------------------------------------

def check_cluster(settings, intent: RegionIntent, rds) -> list[Finding]:
    region, out = intent.region, intent.outputs
    cluster_id = out.get("clusterIdentifier")
    if not cluster_id:
        return [Finding("stack-outputs", region, "clusterIdentifier", "no clusterIdentifier output for this region")]
    found = described(rds.describe_db_clusters, "DBClusters", "DBClusterNotFoundFault", DBClusterIdentifier=cluster_id)
    if not found:
        return [Finding("cluster-missing", region, cluster_id, "the cluster does not exist")]
    cluster = found[0]
    db = settings.database
    findings = []
    if not cluster.get("StorageEncrypted"):
        findings.append(Finding("cluster-encrypted", region, cluster_id, "cluster storage is not encrypted"))
    elif not same_kms_key(cluster.get("KmsKeyId"), out.get("kmsKeyArn")):
        findings.append(Finding("cluster-kms-key", region, cluster_id,
                                f"encrypted with {cluster.get('KmsKeyId')}, expected the region key "
                                f"{out.get('kmsKeyArn') or '(no kmsKeyArn output)'}"))
    findings += _switch(cluster, "deletion-protection", (region, cluster_id), "DeletionProtection", "deletion protection",
                        "deletionProtection", db.deletion_protection)
    # With continuous AWS Backup the retention is AWS Backup's (its rule's days; the settings refuse another
    # backupRetentionDays), so that is the value to find.
    continuous = bool(settings.backup and settings.backup.enabled and settings.backup.continuous)
    key, days = (("backupContinuousRetentionDays", settings.backup.continuous_retention_days) if continuous
                 else ("backupRetentionDays", db.backup_retention_days))
    if cluster.get("BackupRetentionPeriod") != days:
        findings.append(Finding("backup-retention", region, cluster_id,
                                f"backups kept {cluster.get('BackupRetentionPeriod')} days; settings say {key}: {days}"
                                + (" (AWS Backup's continuous rule sets it)" if continuous else "")))
    findings += _switch(cluster, "iam-auth", (region, cluster_id), "IAMDatabaseAuthenticationEnabled", "IAM authentication",
                        "iamAuthentication", db.iam_authentication)
    instances = paginate(rds, "describe_db_instances", "DBInstances",
                          Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}])
    for instance in instances:
        if instance.get("PubliclyAccessible"):
            findings.append(Finding("instance-public", region, instance["DBInstanceIdentifier"],
                                    "the DB instance is publicly accessible"))
    zones = {i.get("AvailabilityZone") for i in instances if i.get("AvailabilityZone")}
    if settings.production and intent.instance_count >= 2 and len(zones) < 2:
        findings.append(Finding("multi-az", region, cluster_id,
                                f"{len(instances)} instance(s) in {len(zones)} availability zone(s) "
                                f"({', '.join(sorted(zones)) or 'none'}); a production cluster spreads over at least 2"))
    return findings


def _switch(cluster: dict, check: str, where: tuple[str, str], field_name: str, what: str, key: str,
            wanted: bool) -> list[Finding]:
    """A finding when the cluster's on/off ``field_name`` differs from the setting ``key``."""
    actual = bool(cluster.get(field_name))
    if actual == wanted:
        return []
    return [Finding(check, *where,
                    f"{what} is {'on' if actual else 'off'}; settings say {key}: {str(wanted).lower()}")]


def check_global(settings, intents: list[RegionIntent], outputs: dict[str, Any], rds) -> list[Finding]:
    """Every region's cluster is a member of the global cluster; the writer is in the settings' writer region."""
    from botocore.exceptions import ClientError

    gid = outputs.get("globalClusterIdentifier")
    primary = settings.primary_region
    if not gid:
        return [Finding("stack-outputs", primary, "globalClusterIdentifier",
                        "the settings declare a global database but the stack exports no globalClusterIdentifier")]
    try:
        clusters = paginate(rds, "describe_global_clusters", "GlobalClusters", GlobalClusterIdentifier=gid)
    except ClientError as error:
        if error.response["Error"]["Code"] != "GlobalClusterNotFoundFault":
            raise
        clusters = []
    clusters = [c for c in clusters if c.get("GlobalClusterIdentifier") == gid]
    if not clusters:
        return [Finding("global-membership", primary, gid, "the global cluster does not exist")]
    members = clusters[0].get("GlobalClusterMembers", [])
    member_arns = {m.get("DBClusterArn") for m in members}
    findings = []
    for intent in intents:
        arn = intent.outputs.get("clusterArn")
        if arn not in member_arns:
            findings.append(Finding("global-membership", intent.region, arn or intent.outputs.get("clusterIdentifier", ""),
                                    f"the region's cluster is not a member of global cluster {gid}"))
    writers = [arn_region(m.get("DBClusterArn", "")) for m in members if m.get("IsWriter")]
    if writers != [settings.writer_region]:
        findings.append(Finding("global-writer-region", writers[0] if writers else primary, gid,
                                f"the writer is in {', '.join(writers) or 'no region'}; settings record "
                                f"globalDatabase.writerRegion: {settings.writer_region} (after a switchover or "
                                f"failover, set it: `pulumi config set --path globalDatabase.writerRegion <region>`)"))
    return findings


def check_fleet(intent: RegionIntent, autoscaling, ec2) -> list[Finding]:
    region, name = intent.region, intent.outputs.get("fleetAsgName")
    groups = paginate(autoscaling, "describe_auto_scaling_groups", "AutoScalingGroups", AutoScalingGroupNames=[name])
    if not groups:
        return [Finding("fleet-missing", region, name, "the fleet's auto scaling group does not exist")]
    ids = [i["InstanceId"] for i in groups[0].get("Instances", [])]
    if not ids:
        return []
    findings = []
    for reservation in paginate(ec2, "describe_instances", "Reservations", InstanceIds=ids):
        for instance in reservation.get("Instances", []):
            iid = instance["InstanceId"]
            if instance.get("State", {}).get("Name") in ("terminated", "shutting-down"):
                continue
            tokens = (instance.get("MetadataOptions") or {}).get("HttpTokens", "optional")
            if tokens != "required":
                findings.append(Finding("fleet-imdsv2", region, iid,
                                        f"instance metadata HttpTokens is {tokens!r}: IMDSv1 is allowed, IMDSv2 is not required"))
            public = instance.get("PublicIpAddress") or next(
                (n["Association"]["PublicIp"] for n in instance.get("NetworkInterfaces", [])
                 if (n.get("Association") or {}).get("PublicIp")), None)
            if public:
                findings.append(Finding("fleet-public-ip", region, iid, f"the instance has the public IP {public}"))
    return findings


def check_security_groups(intent: RegionIntent, ec2) -> list[Finding]:
    region = intent.region
    group_ids = [g for g in (intent.outputs.get("dbSecurityGroupId"), intent.outputs.get("fleetSecurityGroupId")) if g]
    if not group_ids:
        return []
    findings = []
    for group in paginate(ec2, "describe_security_groups", "SecurityGroups", GroupIds=group_ids):
        for rule in group.get("IpPermissions", []):
            open_to = [r.get("CidrIp") for r in rule.get("IpRanges", []) if r.get("CidrIp") in OPEN_CIDRS]
            open_to += [r.get("CidrIpv6") for r in rule.get("Ipv6Ranges", []) if r.get("CidrIpv6") in OPEN_CIDRS]
            if open_to:
                proto = rule.get("IpProtocol")
                ports = "all ports" if proto == "-1" else f"{proto} {rule.get('FromPort')}-{rule.get('ToPort')}"
                findings.append(Finding("sg-open-to-internet", region, group["GroupId"],
                                        f"ingress from {', '.join(open_to)} on {ports}"))
    return findings


def verify(settings, outputs: dict[str, Any], clients: Callable[[str, str], Any],
           regions: Iterable[str] | None = None) -> list[Finding]:
    """All findings for the stack. ``regions`` limits the per-region checks (default: all)."""
    intents, findings = region_intents(settings, outputs)
    wanted = set(regions) if regions else None
    checked = [i for i in intents if wanted is None or i.region in wanted]
    for intent in checked:
        findings += check_cluster(settings, intent, clients("rds", intent.region))
        findings += check_security_groups(intent, clients("ec2", intent.region))
        if intent.outputs.get("fleetAsgName"):
            findings += check_fleet(intent, clients("autoscaling", intent.region), clients("ec2", intent.region))
        elif intent.region == settings.writer_region and settings.fleet.enabled:
            findings.append(Finding("stack-outputs", intent.region, "fleetAsgName",
                                    "the fleet is enabled but the writer region exports no fleetAsgName"))
    if settings.global_database:
        findings += check_global(settings, checked, outputs, clients("rds", settings.primary_region))
    return findings


def wait_available(settings, outputs: dict[str, Any], clients: Callable[[str, str], Any], seconds: float,
                   regions: Iterable[str] | None = None) -> None:
    """RDS waiters: clusters and their instances available, bounded by ``seconds`` per waiter."""
    intents, _ = region_intents(settings, outputs)
    wait = Wait(seconds, 15 if seconds >= 60 else 1, Clock(), sys.stdout)
    for intent in intents:
        if regions and intent.region not in regions:
            continue
        cluster_id = intent.outputs.get("clusterIdentifier")
        if not cluster_id:
            continue
        rds = clients("rds", intent.region)
        wait.aws_waiter(rds, "db_cluster_available", DBClusterIdentifier=cluster_id)
        if intent.instance_count:
            wait.aws_waiter(rds, "db_instance_available", Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}])


# ---------------------------------------------------------------------------------------
# Output and command line.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser("verify", help="check the live AWS resources against the stack's settings",
                                   description=__doc__.split("\n\n")[0])
    add_stack(parser)
    add_outputs_file(parser)
    add_endpoint_url(parser)
    add_region_filter(parser)
    parser.add_argument("--wait", type=wait_seconds, default=0, metavar="SECONDS",
                        help="first wait up to SECONDS for clusters and instances to be available")
    parser.add_argument("--json", action="store_true", help="findings as JSON on stdout")
    parser.set_defaults(func=run)


def run(args, clients: Callable[[str, str], Any] | None = None) -> int:
    from botocore.exceptions import WaiterError

    settings = resolve_settings(args.stack)
    check_region("--region", args.region, settings, args.stack)
    outputs = stack_outputs(args.stack, args.outputs_file)
    own_clients = clients is None
    clients = clients or Clients(args.endpoint_url)
    try:
        if args.wait:
            wait_available(settings, outputs, clients, args.wait, args.region or None)
        findings = verify(settings, outputs, clients, args.region or None)
    except WaiterError as error:
        raise CommandRefused(f"--wait {args.wait:g}: resources not available in time: {error}", EXIT_FAILED) from None
    finally:
        if own_clients:
            clients.close()
    return report("verify", short_stack_name(args.stack), args.region or settings.regions, findings, args.json)

