"""What `deploy diff` refuses and warns about, and what it says to do instead.

- A stateful resource (its data lives in it: clusters, instances, the global cluster, keys,
  secrets, vaults, vault locks, log groups) replaced or deleted: error.
- A protected resource replaced or deleted: error (``pulumi up`` would stop there).
- A new resource (created, or the new half of a replacement) that takes a name or another value
  AWS keeps unique while an old resource still holds it: error. The old one still holds it when it
  is the same resource replaced create-before-delete, a resource deleted at the end of the update
  (a rename without an alias), or a sibling whose value moves elsewhere (subnets whose CIDRs swap).
- Every other replacement or deletion: warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deploy.offline import aws_model
from deploy.offline.analyzer import _SIG_KEY  # the wire form's marker of a special value (a secret)

if TYPE_CHECKING:
    from deploy.offline.capture import Capture, CapturedResource
    from deploy.offline.diff import Change

ACTION_ORDER = ("replace", "update", "create", "delete")
REPLACE_WITH = "replaceWith"  # the replace reason of a resource replaced with one of its ``replace_with``

# Values AWS keeps unique among live resources (in a region unless the type is account-wide): a
# name or identifier, or what else two resources cannot share (a subnet's CIDR in its VPC, the one
# association of a subnet, the one lock of a vault, the one rotation of a secret, a rule's content).
UNIQUE_VALUES: dict[str, tuple[str, ...]] = {
    "aws:rds/cluster:Cluster": ("clusterIdentifier",),
    "aws:rds/clusterInstance:ClusterInstance": ("identifier",),
    "aws:rds/clusterEndpoint:ClusterEndpoint": ("clusterEndpointIdentifier",),
    "aws:rds/globalCluster:GlobalCluster": ("globalClusterIdentifier",),
    "aws:rds/proxy:Proxy": ("name",),
    "aws:rds/proxyEndpoint:ProxyEndpoint": ("dbProxyEndpointName",),
    "aws:rds/proxyTarget:ProxyTarget": ("dbProxyName", "targetGroupName", "dbClusterIdentifier", "dbInstanceIdentifier"),
    "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": ("dbProxyName",),
    "aws:rds/subnetGroup:SubnetGroup": ("name",),
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": ("name",),
    "aws:rds/parameterGroup:ParameterGroup": ("name",),
    "aws:rds/eventSubscription:EventSubscription": ("name",),
    "aws:kms/alias:Alias": ("name",),
    "aws:secretsmanager/secret:Secret": ("name",),
    "aws:secretsmanager/secretRotation:SecretRotation": ("secretId",),
    "aws:backup/vault:Vault": ("name",),
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": ("backupVaultName",),
    "aws:backup/plan:Plan": ("name",),
    "aws:backup/selection:Selection": ("planId", "name"),
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": ("name",),
    "aws:backup/restoreTestingSelection:RestoreTestingSelection": ("restoreTestingPlanName", "name"),
    "aws:ec2/subnet:Subnet": ("vpcId", "cidrBlock"),
    "aws:ec2/securityGroup:SecurityGroup": ("vpcId", "name"),
    "aws:ec2/route:Route": ("routeTableId", "destinationCidrBlock", "destinationIpv6CidrBlock", "destinationPrefixListId"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("subnetId",),
    "aws:ec2/internetGateway:InternetGateway": ("vpcId",),
    "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl": ("defaultNetworkAclId",),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ("vpcId",),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("vpcId", "serviceName", "privateDnsEnabled"),
    # One flow log per resource, traffic type and destination (FlowLogAlreadyExists).
    "aws:ec2/flowLog:FlowLog": ("vpcId", "subnetId", "eniId", "trafficType", "logDestinationType", "logDestination"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("name",),
    "aws:autoscaling/group:Group": ("name",),
    "aws:autoscaling/policy:Policy": ("autoscalingGroupName", "name"),
    "aws:appautoscaling/target:Target": ("serviceNamespace", "resourceId", "scalableDimension"),
    "aws:appautoscaling/policy:Policy": ("serviceNamespace", "resourceId", "name"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
        "securityGroupId", "ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6", "referencedSecurityGroupId",
        "prefixListId"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (
        "securityGroupId", "ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6", "referencedSecurityGroupId",
        "prefixListId"),
    "aws:iam/role:Role": ("name",),
    "aws:iam/rolePolicy:RolePolicy": ("role", "name"),
    "aws:iam/policy:Policy": ("path", "name"),
    "aws:iam/instanceProfile:InstanceProfile": ("name",),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("role", "policyArn"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name",),
    "aws:cloudwatch/dashboard:Dashboard": ("dashboardName",),
    "aws:cloudwatch/logGroup:LogGroup": ("name",),
    "aws:sns/topic:Topic": ("name",),
    "aws:sns/topicPolicy:TopicPolicy": ("arn",),
    "aws:sns/topicSubscription:TopicSubscription": ("topic", "protocol", "endpoint"),
}
ACCOUNT_WIDE_TYPES = frozenset({
    "aws:rds/globalCluster:GlobalCluster", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy", "aws:iam/instanceProfile:InstanceProfile", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
})
# A VPC endpoint is unique per VPC and service only with private DNS (an Interface endpoint's DNS name).
_UNIQUE_ONLY_WHEN = {"aws:ec2/vpcEndpoint:VpcEndpoint": "privateDnsEnabled"}
NAME_PROPERTIES = frozenset({"name", "identifier", "clusterIdentifier", "globalClusterIdentifier", "dbProxyEndpointName",
                             "dashboardName", "backupVaultName"})
PLACEMENT_PROPERTIES = frozenset({"availabilityZone", "availabilityZones", "cidrBlock", "subnetId", "vpcSubnetIds",
                                  "dbSubnetGroupName"})

_NEW_STACK = "this needs a new stack and a data migration (snapshot restore or replication into it)"
# (type, properties that force the replacement, what to do instead); the first match wins.
STATEFUL_ADVICE: tuple[tuple[str, frozenset[str], str], ...] = (
    ("aws:rds/cluster:Cluster", frozenset({"engine", "engineMode", "storageEncrypted", "kmsKeyId", "masterUsername",
                                           "databaseName", "snapshotIdentifier", "sourceRegion", "s3Import",
                                           "restoreToPointInTime"}),
     f"a cluster's engine, encryption, key, master user and database name are fixed at creation: {_NEW_STACK}"),
    ("aws:rds/cluster:Cluster", frozenset({"availabilityZones"}),
     "keep the placement stable: a cluster's availabilityZones are fixed at creation"),
    ("aws:rds/cluster:Cluster", frozenset({"dbSubnetGroupName"}),
     "keep the DB subnet group's name stable and change its subnets in place"),
    ("aws:rds/cluster:Cluster", frozenset({"clusterIdentifier", "clusterIdentifierPrefix"}),
     f"keep the cluster identifier stable; a new identifier means a new cluster: {_NEW_STACK}"),
    ("aws:rds/clusterInstance:ClusterInstance", frozenset({"availabilityZone"}),
     "keep the placement stable: an instance stays in its zone (add or remove readers rather than moving them)"),
    ("aws:rds/clusterInstance:ClusterInstance", frozenset({"engine"}),
     f"an instance's engine follows its cluster's: {_NEW_STACK}"),
    ("aws:rds/clusterInstance:ClusterInstance", frozenset({"identifier", "identifierPrefix"}),
     "keep the instance identifier stable"),
    ("aws:rds/clusterInstance:ClusterInstance", frozenset({"dbSubnetGroupName"}),
     "keep the DB subnet group's name stable and change its subnets in place"),
    ("aws:rds/globalCluster:GlobalCluster", frozenset({"engine", "storageEncrypted", "databaseName",
                                                       "sourceDbClusterIdentifier"}),
     f"a global database's engine, encryption and database name are fixed at creation: {_NEW_STACK}"),
    ("aws:rds/globalCluster:GlobalCluster", frozenset({"globalClusterIdentifier"}),
     "keep the global cluster identifier stable"),
    ("aws:kms/key:Key", frozenset(),
     f"a replaced key strands everything encrypted with it: keep its spec, usage and multi-Region setting; {_NEW_STACK}"),
    ("aws:secretsmanager/secret:Secret", frozenset(),
     "keep the secret's name stable: a new secret starts without the old one's versions and rotation"),
    ("aws:backup/vault:Vault", frozenset(),
     "keep the vault's name and key: a new vault starts empty and the old one cannot be deleted while it holds "
     "recovery points; for another key, add a second vault beside it and retire the old one when its points expire"),
    ("aws:backup/vaultLockConfiguration:VaultLockConfiguration", frozenset(),
     "a vault lock must not be replaced: the old lock's delete unlocks the vault, and after the lock date AWS refuses "
     "any change; change it in place before the lock date (`aws backup put-backup-vault-lock-configuration`), "
     "then `deploy refresh`"),
    ("aws:cloudwatch/logGroup:LogGroup", frozenset(),
     "keep the log group's name and class stable: a new group starts empty (export the old one's events first)"),
)


# What a replacement or deletion of a stateful resource loses.
STATEFUL_LOSS = {
    "aws:rds/cluster:Cluster": "the cluster's data goes with it",
    "aws:rds/clusterInstance:ClusterInstance": ("the database instance is dropped and built again (its connections and "
                                                "cache; a writer fails over first)"),
    "aws:rds/globalCluster:GlobalCluster": "the global database and its replication go with it",
    "aws:kms/key:Key": "whatever it encrypts becomes unreadable once the old key is deleted",
    "aws:secretsmanager/secret:Secret": "the secret's versions and rotation go with it",
    "aws:backup/vault:Vault": "its recovery points go with it",
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": "the vault's lock (its retention guarantee) goes with it",
    "aws:cloudwatch/logGroup:LogGroup": "its log events go with it",
}


# Inputs the program sets at creation and then ignores (ignore_changes): a change of them in the
# settings reaches no resource, so `deploy diff` says what does make it. (type, property) -> advice.
IGNORED_CHANGE_ADVICE: dict[tuple[str, str], str] = {
    **{("aws:backup/vaultLockConfiguration:VaultLockConfiguration", prop): (
        "a vault lock's values are set at creation only: every argument forces a replacement, whose delete would "
        "unlock the vault, and after the lock date AWS refuses any change. Before the lock date, change the lock in "
        "place (`aws backup put-backup-vault-lock-configuration`, docs/backups-and-restore.md), then this change "
        "records it; after the lock date, keep the settings as they are") for prop in (
        "minRetentionDays", "maxRetentionDays", "changeableForDays")},
    ("aws:rds/globalCluster:GlobalCluster", "engineVersion"): (
        "a global database's version changes only through the global cluster: its members and the global cluster "
        "ignore engineVersion (a member upgraded alone would leave the global database). Run `deploy upgrade "
        "--engine-version V` (docs/engine-upgrades.md), which upgrades every member and records the version here; "
        "if it has run, this change records its result"),
}


@dataclass
class Finding:
    level: str  # error | warning
    urn: str
    message: str


def plain(value: Any) -> Any:
    """Wire-form inputs with secrets unwrapped: a secret compares by its value, never shown."""
    if isinstance(value, dict):
        if _SIG_KEY in value:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def provider_urn(provider_ref: str | None) -> str | None:
    """The URN part of a provider reference (``URN::ID``)."""
    return provider_ref.rsplit("::", 1)[0] if provider_ref else None


class StackFacts:
    """One side of the diff: its resources by URN and the region each provider manages."""

    def __init__(self, capture: Capture):
        self.by_urn = capture.by_urn()
        self.regions = {r.urn: str(plain(r.inputs).get("region", "")) for r in capture.resources
                        if r.type.startswith("pulumi:providers:")}

    def scope(self, resource: CapturedResource) -> str:
        if resource.type in ACCOUNT_WIDE_TYPES:
            return "account"
        return self.regions.get(provider_urn(resource.provider) or "", "default")


def unique_key(resource: CapturedResource, facts: StackFacts, unknown: Iterable[str] = (),
               fresh_names: bool = False) -> tuple | None:
    """The value ``resource`` holds uniquely in AWS, or None: when it has none, when a part of it is
    unknown (fed by a resource that is replaced or created), or, with ``fresh_names``, when its name
    is auto-named (a new resource gets a new random suffix)."""
    properties = UNIQUE_VALUES.get(resource.type)
    if not properties:
        return None
    inputs = plain(resource.inputs)
    condition = _UNIQUE_ONLY_WHEN.get(resource.type)
    if condition and not inputs.get(condition):
        return None
    if set(properties) & set(unknown):
        return None
    if fresh_names and inputs.get("name") and inputs.get("name") == aws_model.autoname(resource.type, resource.name, {}
                                                                                       ).get("name"):
        return None
    values = tuple(_hashable(inputs.get(p)) for p in properties)
    if all(v is None for v in values):
        return None
    return (resource.type, facts.scope(resource), values)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def label(urn: str) -> str:
    """``name (Type)`` from a URN."""
    parts = urn.split("::")
    return f"{parts[-1]} ({parts[-2].split('$')[-1].split(':')[-1]})" if len(parts) >= 4 else urn


def describe_reasons(change: Change, properties: Iterable[str]) -> str:
    """The properties, each that comes from a replaced or created resource saying so."""
    described = []
    for prop in properties:
        dep = change.via.get(prop)
        if prop == REPLACE_WITH:
            described.append(f"{label(dep)} is replaced (replace_with)")
        else:
            described.append(f"`{prop}` (unknown until {label(dep)} is replaced or created)" if dep else f"`{prop}`")
    return ", ".join(described) or "nothing"


def stateful_advice(change: Change) -> str:
    reasons = set(change.replace_reasons)
    own = {r for r in reasons if r not in change.via}
    if reasons and not own:
        causes = sorted({label(change.via[r]) for r in reasons})
        return f"it follows the replacement of {', '.join(causes)}: that is the change to avoid"
    for type_, properties, advice in STATEFUL_ADVICE:
        if type_ == change.type and (not properties or own & properties):
            return advice
    return f"keep {', '.join(sorted(own)) or 'its inputs'} as they are"


def find_problems(changes: list[Change], renames: list[tuple[str, str]], base: StackFacts, head: StackFacts
                  ) -> list[Finding]:
    """Errors first, then warnings; each names the resource, what causes it and what to do instead."""
    renamed = dict(renames)
    findings = [f for change in changes for f in _change_findings(change, renamed)]
    findings += _engine_version_notes(changes, base, head)
    findings += _pending_reboot_notes(changes, base, head)
    findings += _clashes(changes, {new: old for old, new in renames}, base, head)
    findings += _zones_in_use(changes, base)
    findings += _subnet_groups_moving_vpc(changes)
    findings += _ignored_setting_changes(base, head)
    refused = {f.urn for f in findings if f.level == "error"}
    kept = [f for f in findings if f.level == "error" or f.urn not in refused]  # an error says it all
    return sorted(kept, key=lambda f: (f.level != "error", f.urn, f.message))


def _subnet_groups_moving_vpc(changes: list[Change]) -> list[Finding]:
    """A DB subnet group updated in place onto the subnets of a replaced VPC: every plan shows an update,
    but RDS refuses to move a subnet group in use to another VPC ("The new Subnets are not in the same Vpc
    as the existing subnet group"; terraform-provider-aws issues #16419 and #27459)."""
    replaced_vpcs = {c.urn for c in changes if c.type == "aws:ec2/vpc:Vpc" and c.action == "replace"}
    subnets_moved = {c.urn for c in changes if c.type == "aws:ec2/subnet:Subnet" and c.action == "replace"
                     and set(c.via.values()) & replaced_vpcs}
    return [Finding("error", c.urn, (
        f"{label(c.urn)} would move to the subnets of a new VPC ({', '.join(sorted(label(u) for u in replaced_vpcs))} "
        "replaced): RDS refuses to move a DB subnet group in use to another VPC, so `pulumi up` would stop half-way "
        "with the new network built. Instead: keep vpcCidr; to move the database to a new network, restore a "
        "snapshot into a new stack (docs/backups-and-restore.md) and switch the applications over."))
        for c in changes if c.type == "aws:rds/subnetGroup:SubnetGroup" and c.action == "update"
        and set(c.via.values()) & subnets_moved]


def _change_findings(change: Change, renamed: dict[str, str]) -> list[Finding]:
    name = label(change.urn)
    if change.action == "replace":
        order = "delete first" if change.delete_before_replace else "the new one created before the old one is deleted"
        why = f"{name} would be replaced ({order}) because {describe_reasons(change, change.replace_reasons)} changed"
        if change.stateful:
            extra = " It is protected, so `pulumi up` would also stop there." if change.protect else ""
            return [Finding("error", change.urn, f"{why}: {STATEFUL_LOSS[change.type]}.{extra} "
                                                 f"Instead: {stateful_advice(change)}.")]
        if change.protect:
            return [Finding("error", change.urn, f"{why}: it is protected, so `pulumi up` refuses. Instead: avoid the "
                                                 "change, or lift the protection deliberately in a change of its own.")]
        return [Finding("warning", change.urn, f"{why} (stateless).")]
    if change.action != "delete":
        return []
    if change.urn in renamed:
        why = (f"{name} would be deleted and {label(renamed[change.urn])} created in its place: probably a rename "
               "(the URN changed without an alias)")
        instead = "add `aliases=[pulumi.Alias(...)]` naming the old URN so it stays the same resource"
    else:
        why = f"{name} would be deleted"
        instead = ("if it moved or was renamed in the code, add an alias naming its old URN; if it is meant to go, "
                   "keep a final snapshot or export, then remove it deliberately")
    if change.stateful:
        return [Finding("error", change.urn, f"{why}: {STATEFUL_LOSS[change.type]}. Instead: {instead}.")]
    if change.protect:
        return [Finding("error", change.urn, f"{why}: it is protected, so `pulumi up` refuses. Instead: {instead}.")]
    return [Finding("warning", change.urn, f"{why}." + (f" Consider: {instead}." if change.urn in renamed else ""))]


def _engine_version_notes(changes: list[Change], base: StackFacts, head: StackFacts) -> list[Finding]:
    notes = []
    for change in changes:
        if change.action != "update" or "engineVersion" not in change.properties or change.type not in (
                "aws:rds/cluster:Cluster", "aws:rds/globalCluster:GlobalCluster"):
            continue
        old = plain(base.by_urn[change.base_urn or change.urn].inputs).get("engineVersion")
        new = plain(head.by_urn[change.urn].inputs).get("engineVersion")
        if str(old).split(".")[0] == str(new).split(".")[0]:
            continue
        upgrade = f"`deploy upgrade --engine-version {new}` (after engineUpgradeTarget: {new} and an `up`, docs/engine-upgrades.md)"
        if change.type == "aws:rds/cluster:Cluster" and not plain(head.by_urn[change.urn].inputs).get("applyImmediately"):
            # RDS would defer the version to the maintenance window, while the same update moves the instances to the
            # new family's parameter group (refused while they run the old major) and deletes the old groups (in use).
            notes.append(Finding("error", change.urn, (
                f"{label(change.urn)}: engineVersion {old} -> {new} is a major upgrade with applyImmediately false: RDS "
                "defers the new version to the maintenance window, while the same `up` moves the instances to the new "
                "family's parameter group, which RDS refuses while they run the old major, and then fails to delete the old "
                f"groups, still in use. Instead: {upgrade}, which upgrades in the order AWS needs and records the version; "
                "or make this change together with applyImmediately: true.")))
            continue
        notes.append(Finding("warning", change.urn, f"{label(change.urn)}: engineVersion {old} -> {new} is a major "
                             f"upgrade: make the change with {upgrade}, which upgrades in the order AWS needs "
                             "and prints the settings change for the next `pulumi up`."))
    return notes


_PARAMETER_GROUPS = ("aws:rds/clusterParameterGroup:ClusterParameterGroup", "aws:rds/parameterGroup:ParameterGroup")


def _static_parameters(resource: CapturedResource) -> dict[str, Any]:
    """A parameter group's parameters that RDS applies only at a reboot (apply method pending-reboot)."""
    return {p.get("name"): p.get("value") for p in plain(resource.inputs).get("parameters") or []
            if isinstance(p, dict) and p.get("applyMethod") == "pending-reboot"}


def _pending_reboot_notes(changes: list[Change], base: StackFacts, head: StackFacts) -> list[Finding]:
    """A static parameter added, changed or removed in place: the instances apply it only when they reboot."""
    notes = []
    for change in (c for c in changes if c.action == "update" and c.type in _PARAMETER_GROUPS and "parameters" in c.properties):
        old, new = _static_parameters(base.by_urn[change.base_urn or change.urn]), _static_parameters(head.by_urn[change.urn])
        if moved := sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name)):
            kind = "a static parameter" if len(moved) == 1 else "static parameters"
            notes.append(Finding("warning", change.urn, f"{label(change.urn)}: {', '.join(moved)} changed, {kind} "
                                 "(pending-reboot): each instance using the group applies it only at its next "
                                 "reboot; reboot the readers, then the writer, in the maintenance window "
                                 "(docs/audit-logging.md)."))
    return notes


def _clashes(changes: list[Change], renamed_from: dict[str, str], base: StackFacts, head: StackFacts) -> list[Finding]:
    """New resources that would take a unique value an old resource still holds at that moment."""
    holders: dict[tuple, list[CapturedResource]] = {}
    for resource in base.by_urn.values():
        key = unique_key(resource, base)
        if key is not None:
            holders.setdefault(key, []).append(resource)
    findings = []
    for change in changes:
        if change.action not in ("create", "replace"):
            continue
        key = unique_key(head.by_urn[change.urn], head, unknown=change.via, fresh_names=True)
        for holder in holders.get(key, []) if key is not None else []:
            itself = holder.urn == change.base_urn
            if itself and change.delete_before_replace:
                continue  # deleted first: the value is free again when the new one is created
            findings.append(Finding("error", change.urn, _clash_message(change, holder, key, itself,
                                                                        renamed_from.get(change.urn) == holder.urn)))
    return findings


def _clash_message(change: Change, holder: CapturedResource, key: tuple, itself: bool, renamed: bool) -> str:
    properties = UNIQUE_VALUES[change.type]
    shown = ", ".join(f"{p}={v}" for p, v in zip(properties, key[2], strict=True) if v is not None)
    kind = "fixed name" if set(properties) & NAME_PROPERTIES else "unique value"
    name = label(change.urn)
    if itself:
        how = (f"{name} would be replaced create-before-delete (because {describe_reasons(change, change.replace_reasons)}"
               f" changed), and the new one takes the same {kind} ({shown}) while the old one still holds it")
        placement = set(change.replace_reasons) & PLACEMENT_PROPERTIES
        instead = (stateful_advice(change) if change.stateful else
                   "keep the placement stable, or set delete_before_replace=True on it" if placement else
                   "set delete_before_replace=True on it, or give it a fresh name on each replacement")
    elif renamed:
        how = (f"{name} would be created under a new URN while {label(holder.urn)}, deleted only at the end of the "
               f"update, still holds its {kind} ({shown})")
        instead = "add an alias naming the old URN so it stays the same resource, or give the new one a fresh name"
    else:
        action = "created" if change.action == "create" else "replaced"
        how = f"{name} would be {action} with the {kind} {shown}, which {label(holder.urn)} still holds"
        instead = ("keep the placement stable: each resource keeps its value (key them by what they are, e.g. the "
                   "zone, not by their position in a list)")
    return f"{how}: AWS refuses the duplicate. Instead: {instead}."


def _zones_in_use(changes: list[Change], base: StackFacts) -> list[Finding]:
    """A deleted subnet that leaves a DB subnet group while instances of a cluster on that group run
    in its zone: RDS refuses to take a subnet in use out of a group (ModifyDBSubnetGroup), and the
    instances keep their zone (the program ignores availabilityZone drift)."""
    resources = list(base.by_urn.values())
    findings = []
    for change in changes:
        subnet = base.by_urn.get(change.urn)
        if change.action != "delete" or change.type != "aws:ec2/subnet:Subnet" or subnet is None:
            continue
        zone = plain(subnet.inputs).get("availabilityZone")
        groups = {plain(g.inputs).get("name") for g in resources if g.type == "aws:rds/subnetGroup:SubnetGroup"
                  and subnet.id in (plain(g.inputs).get("subnetIds") or [])}
        instances = sorted(plain(i.inputs).get("identifier") or i.name for i in resources
                           if i.type == "aws:rds/clusterInstance:ClusterInstance" and
                           plain(i.inputs).get("dbSubnetGroupName") in groups and plain(i.inputs).get("availabilityZone") == zone)
        if not instances:
            continue
        findings.append(Finding("error", change.urn, (
            f"{label(change.urn)} would be deleted and leave DB subnet group {', '.join(sorted(groups))}, but "
            f"{', '.join(instances)} run in {zone}: RDS refuses to take a subnet in use out of the group, and an instance "
            f"keeps its zone. Instead: remove {zone} (azCount or availabilityZones) only once no database instance runs "
            "there: first lower readerCount until the instances there are gone (the highest-numbered go first; with "
            "reader auto scaling, also the readers it added there), `pulumi up`, then remove the zone and raise readerCount "
            "again (new instances are placed in the remaining zones); keep the zone of the first instance (the writer).")))
    return findings


def _ignored_setting_changes(base: StackFacts, head: StackFacts) -> list[Finding]:
    """A change of an input the program ignores after creation (IGNORED_CHANGE_ADVICE): nothing
    happens on `up`, and the warning says how the change is made."""
    findings = []
    for urn, resource in head.by_urn.items():
        old = base.by_urn.get(urn)
        if old is None:
            continue
        olds, news = plain(old.inputs), plain(resource.inputs)
        for prop in resource.ignore_changes:
            advice = IGNORED_CHANGE_ADVICE.get((resource.type, prop))
            if advice and olds.get(prop) != news.get(prop):
                findings.append(Finding("warning", urn, f"{label(urn)}: `{prop}` {_shown(olds.get(prop))} -> "
                                                        f"{_shown(news.get(prop))} does not reach AWS (ignore_changes): "
                                                        f"{advice}."))
    return findings


def _shown(value: Any) -> Any:
    """A wire-form number as written in the settings (7, not 7.0)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
