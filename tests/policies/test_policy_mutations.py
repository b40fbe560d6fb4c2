"""Mutation test: the insecure changes in ``KINDS`` to the committed stacks are all caught.

``KINDS`` holds at least one kind of insecure change for every policy that is mandatory
in prod, except the policies in ``NOT_MUTATED_IN_PROD``, whose resource types the prod
program does not declare (a test checks both halves of that). Most kinds change one
property of one captured resource (storageEncrypted false, deletionProtection false,
monitoringInterval 0, instanceClass outside the allowed list, ...); some add an insecure
resource next to a captured one (an ingress rule from 0.0.0.0/0, a route to the internet
gateway); rds-cluster-multi-az's kind moves every instance of a cluster into one AZ.

The stacks are captured on the mock engine (update mode: every value known; preview mode:
values computed from other resources unknown, as on a first preview). For every captured
resource a kind applies to, the change is made to a deep copy of that resource (inputs
and outputs alike, so resource and stack policies see the same change), or the insecure
resource is added next to it. Each mutated stack goes through the real pack configured
with the stack's own ``policies/config/<stack>.json``: ``Analyze`` for the changed and
added resources (a resource policy decides from the resource alone, so several
independent mutations share one batch) and, for mutations a stack policy must catch,
``AnalyzeStack`` over every resource of the mutated stack, with that policy the only stack
policy enabled (its level and properties from the stack's config; a kill is its verdict alone).

Most kinds run on the prod stack. The kinds for the master user secret RDS manages
(``MANAGED_SECRET_KINDS``) apply only to a cluster or instance with
``manageMasterUserPassword``; prod has none (its clusters are members of a global
database, which cannot use the RDS-managed secret, so the program generates the
password and stores it in its own Secret, which the "secret ..." kinds cover). Those
kinds therefore run on the captured dev stack, whose cluster does use the managed
secret, under dev's policy config, where the policy is mandatory too. They would run on
prod as well the day a prod cluster manages its password.

A mutation is killed when the expected policy reports a *mandatory* violation on the
resource it reports on (the mutated or added resource for resource policies; for stack
policies the resource that policy names, e.g. the DB subnet group for db-subnets-private)
that the unmutated stack does not have. The kill rate must be 100%.

Run with ``-s`` to see the kill table.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from policy_fixtures import POLICY_CONFIG_DIR, UNKNOWN, StackPack, Violation

from deploy.offline.capture import Capture, CapturedResource
from tests.conftest import captured

STACKS = ("prod", "dev")
MODES = ("preview", "update")

CLUSTER = "aws:rds/cluster:Cluster"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
KMS_KEY = "aws:kms/key:Key"
SUBNET = "aws:ec2/subnet:Subnet"
VPC = "aws:ec2/vpc:Vpc"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SNS_TOPIC = "aws:sns/topic:Topic"
SECRET = "aws:secretsmanager/secret:Secret"
DB_INSTANCE = "aws:rds/instance:Instance"
BACKUP_VAULT = "aws:backup/vault:Vault"
BACKUP_VAULT_LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
BACKUP_PLAN = "aws:backup/plan:Plan"
BACKUP_SELECTION = "aws:backup/selection:Selection"
PROXY = "aws:rds/proxy:Proxy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
STATEFUL_TYPES = (CLUSTER, GLOBAL_CLUSTER, KMS_KEY, SECRET)

# Every kind of mutation, and the mandatory policy that must catch it.
KINDS: dict[str, str] = {
    "cluster storageEncrypted false": "rds-cluster-storage-encrypted",
    "cluster storageEncrypted removed": "rds-cluster-storage-encrypted",
    "cluster kmsKeyId removed": "rds-cluster-customer-managed-key",
    "cluster kmsKeyId AWS managed": "rds-cluster-customer-managed-key",
    "global cluster storageEncrypted false": "rds-global-cluster-storage-encrypted",
    "global cluster storageEncrypted removed": "rds-global-cluster-storage-encrypted",
    "instance publiclyAccessible true": "rds-instance-not-public",
    "instance PI key removed (PI on)": "rds-performance-insights-encrypted",
    "instance PI key AWS managed": "rds-performance-insights-encrypted",
    "SG inline ingress 0.0.0.0/0": "security-group-no-public-ingress",
    "SG inline ingress ::/0": "security-group-no-public-ingress",
    "SG + ingress rule cidrIpv4 0.0.0.0/0": "security-group-no-public-ingress",
    "SG + ingress rule cidrIpv6 ::/0": "security-group-no-public-ingress",
    "SG + SG rule cidrBlocks 0.0.0.0/0": "security-group-no-public-ingress",
    "SG + SG rule ipv6CidrBlocks ::/0": "security-group-no-public-ingress",
    "ingress rule source -> 0.0.0.0/0": "security-group-no-public-ingress",
    "ingress rule source -> ::/0": "security-group-no-public-ingress",
    "LT httpTokens optional": "ec2-imdsv2-required",
    "LT httpTokens removed": "ec2-imdsv2-required",
    "LT metadataOptions removed": "ec2-imdsv2-required",
    "LT interface public IP": "ec2-no-public-ip",
    "LT ebs encrypted false": "ebs-encrypted",
    "LT ebs encrypted removed": "ebs-encrypted",
    "LT userData password": "ec2-user-data-no-secrets",
    "LT userData access key": "ec2-user-data-no-secrets",
    "KMS key rotation off": "kms-key-rotation-enabled",
    "KMS key rotation removed": "kms-key-rotation-enabled",
    "subnet mapPublicIpOnLaunch true": "subnet-no-public-ip-on-launch",
    "log group key removed": "log-group-encrypted",
    "topic key removed": "sns-topic-encrypted",
    "topic key AWS managed": "sns-topic-encrypted",
    "secret key removed": "secret-customer-managed-key",
    "secret key AWS managed": "secret-customer-managed-key",
    "secret replica key removed": "secret-customer-managed-key",
    "secret replica key AWS managed": "secret-customer-managed-key",
    "DB subnet association -> public table": "db-subnets-private",
    "DB table + route 0.0.0.0/0 to IGW": "db-subnets-private",
    "DB table + route ::/0 to IGW": "db-subnets-private",
    "DB table + inline route to IGW": "db-subnets-private",
    "DB SG + ingress rule cidrIpv4 VPC": "db-ingress-from-security-groups-only",
    "DB SG + SG rule cidrBlocks VPC": "db-ingress-from-security-groups-only",
    "DB SG inline ingress VPC CIDR": "db-ingress-from-security-groups-only",
    "DB SG rule source -> VPC CIDR": "db-ingress-from-security-groups-only",
    "protect removed": "stateful-resources-protected",
    "parameter group TLS parameter removed": "rds-cluster-tls-enforced",
    "parameter group TLS parameter off": "rds-cluster-tls-enforced",
    "cluster parameter group removed": "rds-cluster-tls-enforced",
    "parameter group pgaudit not preloaded": "rds-cluster-audit-logging",
    "parameter group pgaudit.log none": "rds-cluster-audit-logging",
    "parameter group audit parameters removed": "rds-cluster-audit-logging",
    "cluster audit log type not exported": "rds-cluster-audit-logging",
    "cluster iamDatabaseAuthenticationEnabled false": "rds-cluster-iam-auth",
    "cluster deletionProtection false": "rds-cluster-deletion-protection",
    "cluster backupRetentionPeriod one day short": "rds-cluster-backup-retention",
    "cluster backupRetentionPeriod 7": "rds-cluster-backup-retention",
    "cluster backupRetentionPeriod removed": "rds-cluster-backup-retention",
    "cluster skipFinalSnapshot true": "rds-cluster-final-snapshot",
    "cluster enabledCloudwatchLogsExports []": "rds-cluster-log-exports",
    "cluster copyTagsToSnapshot false": "rds-cluster-copy-tags-to-snapshot",
    "cluster masterUsername admin": "rds-cluster-non-default-username",
    "instance performanceInsightsEnabled false": "rds-performance-insights-enabled",
    "instance monitoringInterval 0": "rds-enhanced-monitoring",
    "instance class outside the allowed list": "rds-instance-class-allowed",
    "cluster instances all in one AZ": "rds-cluster-multi-az",
    "member kmsKeyId -> other region's key": "global-cluster-regional-keys",
    "member engineVersion other major": "global-cluster-members-consistent",
    "managed master secret key removed": "secret-customer-managed-key",
    "managed master secret key AWS managed": "secret-customer-managed-key",
    "vault kmsKeyArn removed": "backup-vault-customer-managed-key",
    "vault kmsKeyArn AWS managed": "backup-vault-customer-managed-key",
    "cluster removed from its backup selection": "rds-cluster-backup-plan",
    "backup plan copy action removed": "rds-cluster-backup-plan",
    "backup copy action -> own region's vault": "rds-cluster-backup-plan",
    "vault lock detached from its vault": "backup-vault-locked",
    "vault lock minRetentionDays removed": "backup-vault-locked",
    "proxy requireTls false": "rds-proxy-tls-required",
    "proxy requireTls removed": "rds-proxy-tls-required",
    "proxy defaultAuthScheme NONE": "rds-proxy-iam-auth",
    "proxy defaultAuthScheme removed": "rds-proxy-iam-auth",
    "fleet role + GetSecretValue on the master secret": "app-role-no-master-secret",
    "fleet role policy -> GetSecretValue on *": "app-role-no-master-secret",
    "fleet role + SecretsManagerReadWrite": "app-role-no-master-secret",
}
# The kinds about the master user secret RDS manages; they apply only where manageMasterUserPassword is on.
MANAGED_SECRET_KINDS = {"managed master secret key removed", "managed master secret key AWS managed"}
# Policies mandatory in prod without a kind, and why: the prod program declares none of their resource types.
NOT_MUTATED_IN_PROD = {
    "rds-instance-storage-encrypted": "prod runs Aurora clusters only, no standalone aws:rds/instance:Instance",
}
# User data is rendered from other resources' outputs: unknown on a first preview, checked on
# `pulumi up` when the engine analyzes the rendered text. These kinds apply where it is known.
KNOWN_USER_DATA_ONLY = {"LT userData password", "LT userData access key"}

TLS_PARAMETERS = {"aurora-postgresql": ("rds.force_ssl", "0"), "aurora-mysql": ("require_secure_transport", "OFF")}
# The parameters that turn each engine's audit logging on, and the log type its cluster exports.
AUDIT_PARAMETERS = {"aurora-postgresql": ("shared_preload_libraries", "pgaudit.log", "pgaudit.role"),
                    "aurora-mysql": ("server_audit_logging", "server_audit_events")}
AUDIT_LOG_TYPES = {"aurora-postgresql": "postgresql", "aurora-mysql": "audit"}
# A version of another major than the one the stack runs: (engineVersion, its major as the policy names it).
OTHER_MAJOR = {
    "aurora-postgresql": {"16": ("15.10", "15"), "15": ("16.6", "16")},
    "aurora-mysql": {"8.0": ("5.7.mysql_aurora.2.12.0", "5.7"), "5.7": ("8.0.mysql_aurora.3.08.0", "8.0")},
}
DISALLOWED_CLASS = "db.t4g.medium"  # burstable: outside prod's allowedClasses


def policy_config(stack: str) -> dict[str, Any]:
    return json.loads((POLICY_CONFIG_DIR / f"{stack}.json").read_text())


@dataclass(frozen=True)
class Mutation:
    stack: str
    resource_urn: str  # the resource changed, or the resource added
    target_urn: str  # the captured resource the mutation is about (the one changed, or the one a new resource joins)
    description: str
    expected_policy: str
    kind: str
    mode: str
    # (URN the expected policy must report on, text its message must contain); all must be found.
    findings: tuple[tuple[str, str], ...]
    replaced: tuple[CapturedResource, ...] = ()  # changed copies of captured resources (same URN)
    added: tuple[CapturedResource, ...] = ()

    @property
    def analyzed(self) -> tuple[CapturedResource, ...]:
        return self.replaced + self.added


@dataclass
class Outcome:
    mutation: Mutation
    killed: bool
    violations: list[Violation] = field(default_factory=list)


# --- reading the capture -------------------------------------------------------------------


class CapturedStack:
    """A captured stack with the references between its resources (property dependencies,
    recorded in both modes, also while ids are unknown)."""

    def __init__(self, capture: Capture):
        self.name = capture.stack
        self.mode = capture.mode
        self.resources = capture.resources
        self.by_urn = capture.by_urn()

    def of_type(self, *types: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type in types]

    def deps(self, resource: CapturedResource, prop: str, *types: str) -> list[CapturedResource]:
        found = [self.by_urn[urn] for urn in resource.property_dependencies.get(prop, ()) if urn in self.by_urn]
        return [r for r in found if not types or r.type in types]

    def referencing(self, target: CapturedResource, type_: str, prop: str) -> list[CapturedResource]:
        return [r for r in self.of_type(type_) if target.urn in r.property_dependencies.get(prop, ())]

    def ref(self, target: CapturedResource) -> str:
        """How a reference to ``target``'s id reaches another resource's inputs in this mode."""
        return target.id or UNKNOWN

    def database_security_groups(self) -> list[CapturedResource]:
        groups = {sg.urn: sg for cluster in self.of_type(CLUSTER) for sg in self.deps(cluster, "vpcSecurityGroupIds")}
        return list(groups.values())

    def subnet_groups_of(self, subnet: CapturedResource) -> list[CapturedResource]:
        return self.referencing(subnet, SUBNET_GROUP, "subnetIds")

    def database_subnets(self) -> list[CapturedResource]:
        subnets = {s.urn: s for group in self.of_type(SUBNET_GROUP) for s in self.deps(group, "subnetIds", SUBNET)}
        return list(subnets.values())

    def vpc_of(self, resource: CapturedResource) -> CapturedResource:
        (vpc,) = self.deps(resource, "vpcId", VPC)
        return vpc

    def internet_gateway_of(self, vpc: CapturedResource) -> CapturedResource:
        (gateway,) = self.referencing(vpc, INTERNET_GATEWAY, "vpcId")
        return gateway

    def public_route_table_of(self, vpc: CapturedResource) -> CapturedResource:
        """The table of ``vpc`` with a route to its internet gateway."""
        gateway = self.internet_gateway_of(vpc)
        tables = {
            table.urn: table
            for route in self.referencing(gateway, ROUTE, "gatewayId")
            for table in self.deps(route, "routeTableId", ROUTE_TABLE)
        }
        (table,) = tables.values()
        return table


# --- building mutated resources ------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def changed(
    resource: CapturedResource,
    edit: Edit | None = None,
    *,
    dropped: Sequence[str] = (),
    repointed: dict[str, CapturedResource] | None = None,
    protect: bool | None = None,
) -> CapturedResource:
    """A deep copy of ``resource`` with ``edit`` applied to its inputs and to its outputs (the state
    stack policies read), ``dropped`` properties removed with their dependencies, and ``repointed``
    properties referring to another resource (by id when known, by dependency always)."""
    result = copy.deepcopy(resource)
    for props in (result.inputs, result.outputs):
        if edit is not None:
            edit(props)
        for prop in dropped:
            props.pop(prop, None)
    removed: set[str] = set()
    for prop in dropped:
        removed.update(result.property_dependencies.get(prop, ()))
        if prop in result.property_dependencies:
            result.property_dependencies[prop] = []
    for prop, target in (repointed or {}).items():
        removed.update(result.property_dependencies.get(prop, ()))
        result.property_dependencies[prop] = [target.urn]
        for props in (result.inputs, result.outputs):
            props[prop] = target.id or UNKNOWN
    still_used = {urn for urns in result.property_dependencies.values() for urn in urns}
    result.dependencies = [urn for urn in result.dependencies if urn not in removed or urn in still_used]
    for target in (repointed or {}).values():
        if target.urn not in result.dependencies:
            result.dependencies.append(target.urn)
    if protect is not None:
        result.protect = protect
    return result


def setter(**values: Any) -> Edit:
    def edit(props: dict[str, Any]) -> None:
        props.update(values)

    return edit


def added(
    stack: CapturedStack, sibling: CapturedResource, type_: str, name: str, literals: dict[str, Any], refs: dict[str, CapturedResource]
) -> CapturedResource:
    """A new resource registered next to ``sibling`` (same parent component and provider);
    ``refs`` maps a property to the resource whose id it takes."""
    head, sibling_type, _ = sibling.urn.rsplit("::", 2)  # urn:pulumi:<stack>::<project>, <parent types>$<type>, <name>
    parent_types = sibling_type.rsplit("$", 1)[0] + "$" if "$" in sibling_type else ""
    inputs = {**literals, **{prop: stack.ref(target) for prop, target in refs.items()}}
    property_dependencies = {prop: [] for prop in literals} | {prop: [target.urn] for prop, target in refs.items()}
    resource_id = f"{name}-id" if stack.mode == "update" else ""
    return CapturedResource(
        type=type_,
        name=name,
        urn=f"{head}::{parent_types}{type_}::{name}",
        custom=True,
        parent=sibling.parent,
        inputs=inputs,
        outputs=dict(inputs),
        protect=False,
        ignore_changes=[],
        delete_before_replace=False,
        provider=sibling.provider,
        dependencies=sorted({target.urn for target in refs.values()}),
        property_dependencies=property_dependencies,
        id=resource_id,
    )


def _mutation(
    stack: CapturedStack,
    kind: str,
    target: CapturedResource,
    what: str,
    *,
    replaced: Iterable[CapturedResource] = (),
    added_: Iterable[CapturedResource] = (),
    findings: Iterable[tuple[str, str]] | None = None,
) -> Mutation:
    replaced, added_ = tuple(replaced), tuple(added_)
    subject = added_[0] if added_ and not replaced else target
    return Mutation(
        stack=stack.name,
        resource_urn=subject.urn,
        target_urn=target.urn,
        description=f"{target.name}: {what}",
        expected_policy=KINDS[kind],
        kind=kind,
        mode=stack.mode,
        findings=tuple(findings) if findings is not None else ((subject.urn, ""),),
        replaced=replaced,
        added=added_,
    )


# --- the mutations, per resource type --------------------------------------------------------


def cluster_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for cluster in stack.of_type(CLUSTER):
        for kind, what, replacement in [
            ("cluster storageEncrypted false", "storageEncrypted false", changed(cluster, setter(storageEncrypted=False))),
            ("cluster storageEncrypted removed", "storageEncrypted unset", changed(cluster, dropped=["storageEncrypted"])),
            ("cluster kmsKeyId removed", "kmsKeyId unset", changed(cluster, dropped=["kmsKeyId"])),
            ("cluster kmsKeyId AWS managed", "kmsKeyId alias/aws/rds", changed(cluster, setter(kmsKeyId="alias/aws/rds"))),
        ]:
            yield _mutation(stack, kind, cluster, what, replaced=[replacement])


def global_cluster_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for global_cluster in stack.of_type(GLOBAL_CLUSTER):
        if global_cluster.inputs.get("sourceDbClusterIdentifier"):
            continue  # encrypted through its source cluster, which the cluster mutations cover
        yield _mutation(
            stack, "global cluster storageEncrypted false", global_cluster, "storageEncrypted false",
            replaced=[changed(global_cluster, setter(storageEncrypted=False))],
        )
        yield _mutation(
            stack, "global cluster storageEncrypted removed", global_cluster, "storageEncrypted unset",
            replaced=[changed(global_cluster, dropped=["storageEncrypted"])],
        )


def cluster_instance_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for instance in stack.of_type(CLUSTER_INSTANCE):
        yield _mutation(
            stack, "instance publiclyAccessible true", instance, "publiclyAccessible true",
            replaced=[changed(instance, setter(publiclyAccessible=True))],
        )
        if instance.inputs.get("performanceInsightsEnabled") is True:
            yield _mutation(
                stack, "instance PI key removed (PI on)", instance, "performanceInsightsKmsKeyId unset, PI on",
                replaced=[changed(instance, dropped=["performanceInsightsKmsKeyId"])],
            )
            yield _mutation(
                stack, "instance PI key AWS managed", instance, "performanceInsightsKmsKeyId alias/aws/rds",
                replaced=[changed(instance, setter(performanceInsightsKmsKeyId="alias/aws/rds"))],
            )


def _appended_ingress(rule: dict[str, Any]) -> Edit:
    def edit(props: dict[str, Any]) -> None:
        props["ingress"] = [*(props.get("ingress") or []), rule]

    return edit


def security_group_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for group in stack.of_type(SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for kind, what, rule in [
            ("SG inline ingress 0.0.0.0/0", "inline ingress from 0.0.0.0/0", {"cidrBlocks": ["0.0.0.0/0"]}),
            ("SG inline ingress ::/0", "inline ingress from ::/0", {"ipv6CidrBlocks": ["::/0"]}),
        ]:
            full_rule = {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, **rule}
            yield _mutation(stack, kind, group, what, replaced=[changed(group, _appended_ingress(full_rule))])
        ports = {"fromPort": 443.0, "toPort": 443.0}
        for kind, type_, suffix, literals in [
            ("SG + ingress rule cidrIpv4 0.0.0.0/0", SG_INGRESS_RULE, "world-ipv4", {"ipProtocol": "tcp", "cidrIpv4": "0.0.0.0/0"}),
            ("SG + ingress rule cidrIpv6 ::/0", SG_INGRESS_RULE, "world-ipv6", {"ipProtocol": "tcp", "cidrIpv6": "::/0"}),
            ("SG + SG rule cidrBlocks 0.0.0.0/0", SG_RULE, "world-rule-ipv4",
             {"type": "ingress", "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]}),
            ("SG + SG rule ipv6CidrBlocks ::/0", SG_RULE, "world-rule-ipv6",
             {"type": "ingress", "protocol": "tcp", "ipv6CidrBlocks": ["::/0"]}),
        ]:
            rule = added(stack, group, type_, f"{group.name}-{suffix}", {**literals, **ports}, {"securityGroupId": group})
            yield _mutation(stack, kind, group, f"added {type_.rsplit(':', 1)[1]} {rule.name}", added_=[rule])


def ingress_rule_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """The captured standalone ingress rules, their source re-pointed at the whole internet."""
    for rule in stack.of_type(SG_INGRESS_RULE):
        for kind, prop, cidr in [("ingress rule source -> 0.0.0.0/0", "cidrIpv4", "0.0.0.0/0"),
                                 ("ingress rule source -> ::/0", "cidrIpv6", "::/0")]:
            replacement = changed(rule, setter(**{prop: cidr}), dropped=["referencedSecurityGroupId"])
            yield _mutation(stack, kind, rule, f"source {prop} {cidr}", replaced=[replacement])


def _user_data_with(line: str) -> Edit:
    def edit(props: dict[str, Any]) -> None:
        text = base64.b64decode(props["userData"]).decode()
        props["userData"] = base64.b64encode(f"{text.rstrip()}\n{line}\n".encode()).decode()

    return edit


def _nested(path: Sequence[str | int], value: Any = None, *, remove: bool = False) -> Edit:
    def edit(props: dict[str, Any]) -> None:
        node: Any = props
        for step in path[:-1]:
            node = node[step]
        if remove:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value

    return edit


def launch_template_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for template in stack.of_type(LAUNCH_TEMPLATE):
        inputs = template.inputs
        if isinstance(inputs.get("metadataOptions"), dict):
            yield _mutation(
                stack, "LT httpTokens optional", template, 'metadataOptions.httpTokens "optional"',
                replaced=[changed(template, _nested(["metadataOptions", "httpTokens"], "optional"))],
            )
            yield _mutation(
                stack, "LT httpTokens removed", template, "metadataOptions.httpTokens unset",
                replaced=[changed(template, _nested(["metadataOptions", "httpTokens"], remove=True))],
            )
        yield _mutation(
            stack, "LT metadataOptions removed", template, "metadataOptions unset",
            replaced=[changed(template, dropped=["metadataOptions"])],
        )
        for index, _interface in enumerate(inputs.get("networkInterfaces") or []):
            yield _mutation(
                stack, "LT interface public IP", template, f'networkInterfaces[{index}].associatePublicIpAddress "true"',
                replaced=[changed(template, _nested(["networkInterfaces", index, "associatePublicIpAddress"], "true"))],
            )
        for index, mapping in enumerate(inputs.get("blockDeviceMappings") or []):
            if not isinstance(mapping.get("ebs"), dict):
                continue
            path: list[str | int] = ["blockDeviceMappings", index, "ebs", "encrypted"]
            yield _mutation(
                stack, "LT ebs encrypted false", template, f'blockDeviceMappings[{index}].ebs.encrypted "false"',
                replaced=[changed(template, _nested(path, "false"))],
            )
            yield _mutation(
                stack, "LT ebs encrypted removed", template, f"blockDeviceMappings[{index}].ebs.encrypted unset",
                replaced=[changed(template, _nested(path, remove=True))],
            )
        user_data = inputs.get("userData")
        if isinstance(user_data, str) and user_data != UNKNOWN:
            yield _mutation(
                stack, "LT userData password", template, "userData assigns a literal password",
                replaced=[changed(template, _user_data_with("export DB_PASSWORD='Tr0ub4dor&3-horse'"))],
            )
            yield _mutation(
                stack, "LT userData access key", template, "userData carries an access key id",
                replaced=[changed(template, _user_data_with("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"))],
            )


def kms_key_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for key in stack.of_type(KMS_KEY):
        yield _mutation(stack, "KMS key rotation off", key, "enableKeyRotation false",
                        replaced=[changed(key, setter(enableKeyRotation=False))])
        yield _mutation(stack, "KMS key rotation removed", key, "enableKeyRotation unset",
                        replaced=[changed(key, dropped=["enableKeyRotation"])])


def subnet_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for subnet in stack.of_type(SUBNET):
        yield _mutation(stack, "subnet mapPublicIpOnLaunch true", subnet, "mapPublicIpOnLaunch true",
                        replaced=[changed(subnet, setter(mapPublicIpOnLaunch=True))])


def key_reference_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for log_group in stack.of_type(LOG_GROUP):
        yield _mutation(stack, "log group key removed", log_group, "kmsKeyId unset",
                        replaced=[changed(log_group, dropped=["kmsKeyId"])])
    for topic in stack.of_type(SNS_TOPIC):
        yield _mutation(stack, "topic key removed", topic, "kmsMasterKeyId unset",
                        replaced=[changed(topic, dropped=["kmsMasterKeyId"])])
        yield _mutation(stack, "topic key AWS managed", topic, "kmsMasterKeyId alias/aws/sns",
                        replaced=[changed(topic, setter(kmsMasterKeyId="alias/aws/sns"))])
    for secret in stack.of_type(SECRET):
        yield _mutation(stack, "secret key removed", secret, "kmsKeyId unset",
                        replaced=[changed(secret, dropped=["kmsKeyId"])])
        yield _mutation(stack, "secret key AWS managed", secret, "kmsKeyId alias/aws/secretsmanager",
                        replaced=[changed(secret, setter(kmsKeyId="alias/aws/secretsmanager"))])
        for index, _replica in enumerate(secret.inputs.get("replicas") or []):
            yield _mutation(
                stack, "secret replica key removed", secret, f"replicas[{index}].kmsKeyId unset",
                replaced=[changed(secret, _nested(["replicas", index, "kmsKeyId"], remove=True))],
            )
            yield _mutation(
                stack, "secret replica key AWS managed", secret, f"replicas[{index}].kmsKeyId alias/aws/secretsmanager",
                replaced=[changed(secret, _nested(["replicas", index, "kmsKeyId"], "alias/aws/secretsmanager"))],
            )


def db_subnet_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """Database subnets that reach an internet gateway; db-subnets-private reports on the subnet group."""
    database_tables: dict[str, tuple[CapturedResource, list[CapturedResource]]] = {}
    for subnet in stack.database_subnets():
        groups = stack.subnet_groups_of(subnet)
        vpc = stack.vpc_of(subnet)
        for association in stack.referencing(subnet, ROUTE_TABLE_ASSOCIATION, "subnetId"):
            public = stack.public_route_table_of(vpc)
            yield _mutation(
                stack, "DB subnet association -> public table", association, f"route table -> {public.name}",
                replaced=[changed(association, repointed={"routeTableId": public})],
                findings=[(group.urn, f"subnet '{subnet.name}'") for group in groups],
            )
            for table in stack.deps(association, "routeTableId", ROUTE_TABLE):
                database_tables.setdefault(table.urn, (table, []))[1].append(subnet)
    for table, subnets in database_tables.values():
        gateway = stack.internet_gateway_of(stack.vpc_of(table))
        findings = [(group.urn, f"subnet '{subnet.name}'") for subnet in subnets for group in stack.subnet_groups_of(subnet)]
        for kind, suffix, destination in [
            ("DB table + route 0.0.0.0/0 to IGW", "internet-ipv4", {"destinationCidrBlock": "0.0.0.0/0"}),
            ("DB table + route ::/0 to IGW", "internet-ipv6", {"destinationIpv6CidrBlock": "::/0"}),
        ]:
            route = added(stack, table, ROUTE, f"{table.name}-{suffix}", destination,
                          {"routeTableId": table, "gatewayId": gateway})
            yield _mutation(stack, kind, table, f"added route {route.name}", added_=[route], findings=findings)
        inline = {"cidrBlock": "0.0.0.0/0", "gatewayId": stack.ref(gateway)}
        replacement = changed(table, setter(routes=[inline]))
        replacement.property_dependencies["routes"] = [gateway.urn]
        replacement.dependencies = sorted({*replacement.dependencies, gateway.urn})
        yield _mutation(stack, "DB table + inline route to IGW", table, "inline route 0.0.0.0/0 to the IGW",
                        replaced=[replacement], findings=findings)


def db_security_group_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """CIDR ingress on a database security group, even from the VPC's own (private) range."""
    for group in stack.database_security_groups():
        vpc_cidr = stack.vpc_of(group).inputs["cidrBlock"]
        port = float(next(c.inputs.get("port", 5432) for c in stack.referencing(group, CLUSTER, "vpcSecurityGroupIds")))
        ports = {"fromPort": port, "toPort": port}
        rule = added(stack, group, SG_INGRESS_RULE, f"{group.name}-vpc-cidr",
                     {"ipProtocol": "tcp", "cidrIpv4": vpc_cidr, **ports}, {"securityGroupId": group})
        yield _mutation(stack, "DB SG + ingress rule cidrIpv4 VPC", group, f"added ingress rule from {vpc_cidr}", added_=[rule])
        rule = added(stack, group, SG_RULE, f"{group.name}-vpc-cidr-rule",
                     {"type": "ingress", "protocol": "tcp", "cidrBlocks": [vpc_cidr], **ports}, {"securityGroupId": group})
        yield _mutation(stack, "DB SG + SG rule cidrBlocks VPC", group, f"added SG rule from {vpc_cidr}", added_=[rule])
        yield _mutation(
            stack, "DB SG inline ingress VPC CIDR", group, f"inline ingress from {vpc_cidr}",
            replaced=[changed(group, _appended_ingress({"protocol": "tcp", "cidrBlocks": [vpc_cidr], **ports}))],
        )
        for existing in stack.referencing(group, SG_INGRESS_RULE, "securityGroupId"):
            replacement = changed(existing, setter(cidrIpv4=vpc_cidr), dropped=["referencedSecurityGroupId"])
            yield _mutation(stack, "DB SG rule source -> VPC CIDR", existing, f"source cidrIpv4 {vpc_cidr}",
                            replaced=[replacement])


def protect_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for resource in stack.of_type(*STATEFUL_TYPES):
        if resource.protect:
            yield _mutation(stack, "protect removed", resource, "protect off", replaced=[changed(resource, protect=False)])


def tls_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """rds-cluster-tls-enforced reports on the clusters that use the parameter group."""
    for cluster in stack.of_type(CLUSTER):
        yield _mutation(stack, "cluster parameter group removed", cluster, "dbClusterParameterGroupName unset",
                        replaced=[changed(cluster, dropped=["dbClusterParameterGroupName"])])
    for group in stack.of_type(CLUSTER_PARAMETER_GROUP):
        clusters = stack.referencing(group, CLUSTER, "dbClusterParameterGroupName")
        if not clusters:
            continue
        parameter, off = TLS_PARAMETERS[clusters[0].inputs["engine"]]
        findings = [(cluster.urn, f"'{group.name}'") for cluster in clusters]

        def without(props: dict[str, Any], parameter: str = parameter) -> None:
            props["parameters"] = [p for p in props.get("parameters") or [] if p.get("name") != parameter]

        def turned_off(props: dict[str, Any], parameter: str = parameter, off: str = off) -> None:
            props["parameters"] = [{**p, "value": off} if p.get("name") == parameter else p for p in props.get("parameters") or []]

        yield _mutation(stack, "parameter group TLS parameter removed", group, f"{parameter} removed",
                        replaced=[changed(group, without)], findings=findings)
        yield _mutation(stack, "parameter group TLS parameter off", group, f"{parameter}={off}",
                        replaced=[changed(group, turned_off)], findings=findings)


def audit_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """rds-cluster-audit-logging reports on the clusters whose parameter group leaves audit logging off, or
    that stop exporting the audit log type."""
    for cluster in stack.of_type(CLUSTER):
        log_type = AUDIT_LOG_TYPES[cluster.inputs["engine"]]

        def not_exported(props: dict[str, Any], log_type: str = log_type) -> None:
            props["enabledCloudwatchLogsExports"] = [t for t in props.get("enabledCloudwatchLogsExports") or [] if t != log_type]

        yield _mutation(stack, "cluster audit log type not exported", cluster, f"{log_type} not exported",
                        replaced=[changed(cluster, not_exported)], findings=[(cluster.urn, f'without "{log_type}"')])
    for group in stack.of_type(CLUSTER_PARAMETER_GROUP):
        clusters = stack.referencing(group, CLUSTER, "dbClusterParameterGroupName")
        if not clusters:
            continue
        engine = clusters[0].inputs["engine"]
        findings = [(cluster.urn, f"'{group.name}' leaves database audit logging off") for cluster in clusters]

        def edited(props: dict[str, Any], values: dict[str, str | None]) -> None:
            props["parameters"] = [{**p, "value": values[p.get("name")]} if p.get("name") in values else p
                                   for p in props.get("parameters") or [] if values.get(p.get("name"), "") is not None]

        removed = dict.fromkeys(AUDIT_PARAMETERS[engine])
        yield _mutation(stack, "parameter group audit parameters removed", group, f"{', '.join(removed)} removed",
                        replaced=[changed(group, lambda props, removed=removed: edited(props, removed))], findings=findings)
        if engine == "aurora-postgresql":
            for kind, values in (("parameter group pgaudit not preloaded", {"shared_preload_libraries": "pg_stat_statements"}),
                                 ("parameter group pgaudit.log none", {"pgaudit.log": "none"})):
                yield _mutation(stack, kind, group, ", ".join(f"{k}={v}" for k, v in values.items()),
                                replaced=[changed(group, lambda props, values=values: edited(props, values))],
                                findings=findings)


def cluster_setting_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """The resilience, observability and access settings of each cluster, one at a time."""
    minimum = int(policy_config(stack.name)["rds-cluster-backup-retention"]["minimumDays"])
    for cluster in stack.of_type(CLUSTER):
        for kind, what, replacement in [
            ("cluster iamDatabaseAuthenticationEnabled false", "iamDatabaseAuthenticationEnabled false",
             changed(cluster, setter(iamDatabaseAuthenticationEnabled=False))),
            ("cluster deletionProtection false", "deletionProtection false",
             changed(cluster, setter(deletionProtection=False))),
            ("cluster backupRetentionPeriod one day short", f"backupRetentionPeriod {minimum - 1}",
             changed(cluster, setter(backupRetentionPeriod=float(minimum - 1)))),
            ("cluster backupRetentionPeriod 7", "backupRetentionPeriod 7",
             changed(cluster, setter(backupRetentionPeriod=7.0))),
            ("cluster backupRetentionPeriod removed", "backupRetentionPeriod unset (RDS keeps 1 day)",
             changed(cluster, dropped=["backupRetentionPeriod"])),
            ("cluster skipFinalSnapshot true", "skipFinalSnapshot true", changed(cluster, setter(skipFinalSnapshot=True))),
            ("cluster enabledCloudwatchLogsExports []", "enabledCloudwatchLogsExports []",
             changed(cluster, setter(enabledCloudwatchLogsExports=[]))),
            ("cluster copyTagsToSnapshot false", "copyTagsToSnapshot false",
             changed(cluster, setter(copyTagsToSnapshot=False))),
        ]:
            yield _mutation(stack, kind, cluster, what, replaced=[replacement])
        if isinstance(cluster.inputs.get("masterUsername"), str):  # the primary; secondaries carry no credentials
            yield _mutation(stack, "cluster masterUsername admin", cluster, 'masterUsername "admin"',
                            replaced=[changed(cluster, setter(masterUsername="admin"))])


def instance_setting_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for instance in stack.of_type(CLUSTER_INSTANCE):
        yield _mutation(stack, "instance performanceInsightsEnabled false", instance, "performanceInsightsEnabled false",
                        replaced=[changed(instance, setter(performanceInsightsEnabled=False))])
        yield _mutation(stack, "instance monitoringInterval 0", instance, "monitoringInterval 0",
                        replaced=[changed(instance, setter(monitoringInterval=0.0))])
        yield _mutation(stack, "instance class outside the allowed list", instance, f'instanceClass "{DISALLOWED_CLASS}"',
                        replaced=[changed(instance, setter(instanceClass=DISALLOWED_CLASS))])


def multi_az_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """rds-cluster-multi-az reports on the cluster whose instances all share one AZ."""
    for cluster in stack.of_type(CLUSTER):
        instances = stack.referencing(cluster, CLUSTER_INSTANCE, "clusterIdentifier")
        zone = instances[0].inputs["availabilityZone"]
        yield _mutation(
            stack, "cluster instances all in one AZ", cluster, f"every instance in {zone}",
            replaced=[changed(instance, setter(availabilityZone=zone)) for instance in instances[1:]],
            findings=[(cluster.urn, f"1 explicit availability zone(s) ['{zone}']")],
        )


def global_member_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """Members of a global cluster with a key of another region, or on another major version."""
    regions = {provider.urn: provider.inputs.get("region") for provider in stack.of_type("pulumi:providers:aws")}

    def region_of(resource: CapturedResource) -> str:
        return regions[(resource.provider or "").rsplit("::", 1)[0]]

    keys = stack.of_type(KMS_KEY)
    for global_cluster in stack.of_type(GLOBAL_CLUSTER):
        for member in stack.referencing(global_cluster, CLUSTER, "globalClusterIdentifier"):
            region = region_of(member)
            other_key = next(key for key in keys if region_of(key) != region)
            other_region = region_of(other_key)
            replacement = changed(member, setter(kmsKeyId=other_key.outputs.get("arn") or UNKNOWN))
            replacement.property_dependencies["kmsKeyId"] = [other_key.urn]
            replacement.dependencies = sorted({*replacement.dependencies, other_key.urn})
            yield _mutation(
                stack, "member kmsKeyId -> other region's key", member, f"kmsKeyId of {other_key.name} ({other_region})",
                replaced=[replacement], findings=[(member.urn, f"of {other_region}, but the cluster is in {region}")],
            )
            engine, version = member.inputs["engine"], member.inputs["engineVersion"]
            other_version, other_major = next(
                found for major, found in OTHER_MAJOR[engine].items() if version == major or version.startswith(f"{major}.")
            )
            yield _mutation(
                stack, "member engineVersion other major", member, f'engineVersion "{other_version}"',
                replaced=[changed(member, setter(engineVersion=other_version))],
                findings=[(global_cluster.urn, f"'{member.name}': '{other_major}'")],
            )


def managed_secret_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """The master user secret RDS manages, left on aws/secretsmanager."""
    for database in stack.of_type(CLUSTER, DB_INSTANCE):
        if database.inputs.get("manageMasterUserPassword") is not True:
            continue
        yield _mutation(stack, "managed master secret key removed", database, "masterUserSecretKmsKeyId unset",
                        replaced=[changed(database, dropped=["masterUserSecretKmsKeyId"])],
                        findings=[(database.urn, "masterUserSecretKmsKeyId is not set")])
        yield _mutation(stack, "managed master secret key AWS managed", database,
                        "masterUserSecretKmsKeyId alias/aws/secretsmanager",
                        replaced=[changed(database, setter(masterUserSecretKmsKeyId="alias/aws/secretsmanager"))],
                        findings=[(database.urn, "masterUserSecretKmsKeyId")])


def proxy_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    for proxy in stack.of_type(PROXY):
        for kind, what, replacement in [
            ("proxy requireTls false", "requireTls false", changed(proxy, setter(requireTls=False))),
            ("proxy requireTls removed", "requireTls unset", changed(proxy, dropped=["requireTls"])),
            ("proxy defaultAuthScheme NONE", 'defaultAuthScheme "NONE"', changed(proxy, setter(defaultAuthScheme="NONE"))),
            ("proxy defaultAuthScheme removed", "defaultAuthScheme unset", changed(proxy, dropped=["defaultAuthScheme"])),
        ]:
            yield _mutation(stack, kind, proxy, what, replaced=[replacement])


def _read_secret_document(resource: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": resource}]})


def fleet_role_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """The role of each launch template's instance profile reads the master secret: an inline policy
    naming it (by its ARN, or by dependency while the ARN is unknown), its own policy widened to *,
    or an AWS managed policy that reads every secret."""
    secrets = stack.of_type(SECRET)
    for template in stack.of_type(LAUNCH_TEMPLATE):
        for profile in stack.deps(template, "iamInstanceProfile", INSTANCE_PROFILE):
            for role in stack.deps(profile, "role", ROLE):
                for secret in secrets:
                    grant = added(stack, role, ROLE_POLICY, f"{role.name}-read-{secret.name}", {}, {"role": role})
                    grant.inputs["policy"] = grant.outputs["policy"] = (
                        _read_secret_document(secret.outputs["arn"]) if secret.outputs.get("arn") else UNKNOWN)
                    grant.property_dependencies["policy"] = [secret.urn]
                    grant.dependencies = sorted({*grant.dependencies, secret.urn})
                    yield _mutation(stack, "fleet role + GetSecretValue on the master secret", role,
                                    f"added {grant.name}", added_=[grant])
                for policy in stack.referencing(role, ROLE_POLICY, "role"):
                    yield _mutation(stack, "fleet role policy -> GetSecretValue on *", policy,
                                    "policy allows secretsmanager:GetSecretValue on *",
                                    replaced=[changed(policy, setter(policy=_read_secret_document("*")))])
                attachment = added(stack, role, ROLE_POLICY_ATTACHMENT, f"{role.name}-secrets-read-write",
                                   {"policyArn": "arn:aws:iam::aws:policy/SecretsManagerReadWrite"}, {"role": role})
                yield _mutation(stack, "fleet role + SecretsManagerReadWrite", role, f"added {attachment.name}",
                                added_=[attachment])


def backup_mutations(stack: CapturedStack) -> Iterator[Mutation]:
    """AWS Backup: vaults on the AWS managed key, clusters left out of a plan that copies to another
    region, vaults without a lock or a minimum retention."""
    for vault in stack.of_type(BACKUP_VAULT):
        yield _mutation(stack, "vault kmsKeyArn removed", vault, "kmsKeyArn unset",
                        replaced=[changed(vault, dropped=["kmsKeyArn"])], findings=[(vault.urn, "kmsKeyArn is not set")])
        yield _mutation(stack, "vault kmsKeyArn AWS managed", vault, "kmsKeyArn alias/aws/backup",
                        replaced=[changed(vault, setter(kmsKeyArn="arn:aws:kms:us-east-1:123456789012:alias/aws/backup"))],
                        findings=[(vault.urn, "AWS managed key of AWS Backup")])
        for lock in stack.referencing(vault, BACKUP_VAULT_LOCK, "backupVaultName"):
            yield _mutation(stack, "vault lock detached from its vault", lock, "backupVaultName of another vault",
                            replaced=[changed(lock, setter(backupVaultName="some-other-vault"), dropped=["backupVaultName"])],
                            findings=[(vault.urn, "has no vault lock")])
            yield _mutation(stack, "vault lock minRetentionDays removed", lock, "minRetentionDays unset",
                            replaced=[changed(lock, dropped=["minRetentionDays"])],
                            findings=[(vault.urn, "minRetentionDays not set")])
    for selection in stack.of_type(BACKUP_SELECTION):
        clusters = stack.deps(selection, "resources", CLUSTER)
        findings = [(cluster.urn, "no AWS Backup selection names it") for cluster in clusters]
        yield _mutation(stack, "cluster removed from its backup selection", selection, "resources []",
                        replaced=[changed(selection, setter(resources=[]), dropped=["resources"])], findings=findings)
        for plan in stack.deps(selection, "planId", BACKUP_PLAN):
            own_vaults = [v for v in stack.of_type(BACKUP_VAULT) if v.provider == plan.provider]
            copying = [(cluster.urn, "no rule of its plan copies") for cluster in clusters]

            def without_copies(props: dict[str, Any]) -> None:
                props["rules"] = [{**rule, "copyActions": []} for rule in props.get("rules") or []]

            no_copies = changed(plan, without_copies)
            no_copies.property_dependencies["rules"] = [v.urn for v in own_vaults]
            yield _mutation(stack, "backup plan copy action removed", plan, "copyActions []",
                            replaced=[no_copies], findings=copying)
            own = own_vaults[0]

            def to_own_vault(props: dict[str, Any], own: CapturedResource = own) -> None:
                props["rules"] = [
                    {**rule, "copyActions": [{**action, "destinationVaultArn": own.outputs.get("arn") or UNKNOWN}
                                             for action in rule.get("copyActions") or []]}
                    for rule in props.get("rules") or []
                ]

            same_region = changed(plan, to_own_vault)
            same_region.property_dependencies["rules"] = [own.urn]
            yield _mutation(stack, "backup copy action -> own region's vault", plan, f"copies into {own.name}",
                            replaced=[same_region],
                            findings=[(cluster.urn, "") for cluster in clusters])


GENERATORS = [
    cluster_mutations,
    global_cluster_mutations,
    cluster_instance_mutations,
    security_group_mutations,
    ingress_rule_mutations,
    launch_template_mutations,
    kms_key_mutations,
    subnet_mutations,
    key_reference_mutations,
    db_subnet_mutations,
    db_security_group_mutations,
    protect_mutations,
    tls_mutations,
    audit_mutations,
    cluster_setting_mutations,
    instance_setting_mutations,
    multi_az_mutations,
    global_member_mutations,
    managed_secret_mutations,
    proxy_mutations,
    fleet_role_mutations,
    backup_mutations,
]
# What runs on each captured stack: everything on prod; on dev only the managed-secret kinds,
# which prod has no resource for (see the module docstring).
STACK_GENERATORS = {"prod": GENERATORS, "dev": [managed_secret_mutations]}
STACK_KINDS = {"prod": set(KINDS), "dev": set(MANAGED_SECRET_KINDS)}


def mutations_of(capture: Capture) -> list[Mutation]:
    stack = CapturedStack(capture)
    return [mutation for generate in STACK_GENERATORS[capture.stack] for mutation in generate(stack)]


# --- running them through the pack -----------------------------------------------------------


def _batches(mutations: Sequence[Mutation]) -> list[list[Mutation]]:
    """Mutations grouped so no URN appears twice in a group: Analyze answers per resource, so each
    violation of a group belongs to exactly one mutation."""
    batches: list[tuple[set[str], list[Mutation]]] = []
    for mutation in mutations:
        urns = {resource.urn for resource in mutation.analyzed}
        for used, members in batches:
            if not used & urns:
                used |= urns
                members.append(mutation)
                break
        else:
            batches.append((urns, [mutation]))
    return [members for _, members in batches]


def _is_killed(mutation: Mutation, violations: Iterable[Violation], baseline: set[tuple[str, str, str]]) -> bool:
    caught = [
        v
        for v in violations
        if v.policy == mutation.expected_policy and v.level == "mandatory" and (v.policy, v.urn, v.message) not in baseline
    ]
    return bool(mutation.findings) and all(
        any(v.urn == urn and text in v.message for v in caught) for urn, text in mutation.findings
    )


def run_mutations(pack: StackPack, capture: Capture, baseline: list[Violation]) -> list[Outcome]:
    mutations = mutations_of(capture)
    providers = [r for r in capture.resources if r.type.startswith("pulumi:providers:")]
    known = {(v.policy, v.urn, v.message) for v in baseline}
    found: dict[int, list[Violation]] = defaultdict(list)
    index = {id(mutation): position for position, mutation in enumerate(mutations)}
    for batch in _batches(mutations):
        owner = {resource.urn: index[id(mutation)] for mutation in batch for resource in mutation.analyzed}
        resources = [resource for mutation in batch for resource in mutation.analyzed]
        for violation in pack.analyze(capture.stack, *providers, *resources):
            if violation.urn in owner:
                found[owner[violation.urn]].append(violation)
    stack_policies = {p.name for p in pack.analyzer.get_analyzer_info().policies if p.policy_type == "stack"}
    for position, mutation in enumerate(mutations):
        if mutation.expected_policy not in stack_policies:
            continue
        replacements = {resource.urn: resource for resource in mutation.replaced}
        resources = [replacements.get(r.urn, r) for r in capture.resources] + list(mutation.added)
        found[position] += pack.analyze_stack_for(capture.stack, mutation.expected_policy, *resources)
    return [Outcome(mutation, _is_killed(mutation, found[i], known), found[i]) for i, mutation in enumerate(mutations)]


def kill_table(outcomes: Sequence[Outcome]) -> str:
    per_row: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for outcome in outcomes:
        counts = per_row[(outcome.mutation.expected_policy, outcome.mutation.stack)]
        counts[f"{outcome.mutation.mode} mutations"] += 1
        counts[f"{outcome.mutation.mode} killed"] += outcome.killed
    width = max(len(policy) for policy, _ in per_row) + 2
    header = f"{'policy':<{width}}{'stack':<7}{'mutations':>10}{'killed':>8}   (preview / update)"
    lines = [header, "-" * len(header)]
    for policy, stack in sorted(per_row, key=lambda row: (row[0], STACKS.index(row[1]))):
        counts = per_row[(policy, stack)]
        total = counts["preview mutations"] + counts["update mutations"]
        killed = counts["preview killed"] + counts["update killed"]
        lines.append(
            f"{policy:<{width}}{stack:<7}{total:>10}{killed:>8}   ({counts['preview killed']}/"
            f"{counts['preview mutations']} / {counts['update killed']}/{counts['update mutations']})"
        )
    total = len(outcomes)
    killed = sum(outcome.killed for outcome in outcomes)
    lines.append("-" * len(header))
    lines.append(f"{'all':<{width}}{'':<7}{total:>10}{killed:>8}")
    lines.append(
        f"kill rate: {killed}/{total} = {100.0 * killed / total if total else 0.0:.1f}%; "
        f"{len({policy for policy, _ in per_row})} policies, {len({o.mutation.kind for o in outcomes})} kinds"
    )
    return "\n".join(lines)


# --- the tests -------------------------------------------------------------------------------

CAPTURES = [(stack, mode) for stack in STACKS for mode in MODES]


def _types_checked(pack: StackPack, policy_type: str | None = None) -> dict[str, set[str]]:
    """The resource types each policy (of ``policy_type``, or any) checks, as its description names them."""
    return {
        policy.name: set(re.findall(r"aws:[\w/]+:\w+", policy.description))
        for policy in pack.analyzer.get_analyzer_info().policies
        if policy_type is None or policy.policy_type == policy_type
    }


def _expected_kinds(capture: Capture) -> set[str]:
    """The kinds that must produce mutations on this capture."""
    kinds = set(STACK_KINDS[capture.stack])
    if capture.mode == "preview":
        kinds -= KNOWN_USER_DATA_ONLY
    if not any(r.inputs.get("manageMasterUserPassword") is True for r in capture.resources if r.type in (CLUSTER, DB_INSTANCE)):
        kinds -= MANAGED_SECRET_KINDS
    return kinds


@pytest.fixture(scope="module")
def baselines(pack: StackPack) -> dict[tuple[str, str], list[Violation]]:
    result = {}
    for stack, mode in CAPTURES:
        resources = captured(stack, mode).resources
        result[(stack, mode)] = pack.analyze(stack, *resources) + pack.analyze_stack(stack, *resources)
    return result


@pytest.fixture(scope="module")
def outcomes(pack: StackPack, baselines: dict[tuple[str, str], list[Violation]]) -> list[Outcome]:
    started = time.perf_counter()
    result = [
        outcome
        for stack, mode in CAPTURES
        for outcome in run_mutations(pack, captured(stack, mode), baselines[(stack, mode)])
    ]
    print(f"\n{len(result)} mutations through the pack in {time.perf_counter() - started:.2f}s")
    return result


@pytest.mark.parametrize(("stack", "mode"), CAPTURES)
def test_unmutated_stack_has_no_mandatory_violation(
    baselines: dict[tuple[str, str], list[Violation]], stack: str, mode: str
) -> None:
    assert [v for v in baselines[(stack, mode)] if v.level == "mandatory"] == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_expected_policy_is_mandatory_in_the_stack_it_runs_on(pack: StackPack, stack: str) -> None:
    pack.use(stack)
    levels = {name: config.enforcement_level for name, config in pack.analyzer.policy_config.items()}
    expected = {KINDS[kind] for kind in STACK_KINDS[stack]}

    assert {policy: levels.get(policy) for policy in expected} == dict.fromkeys(expected, "mandatory")


def test_every_policy_mandatory_in_prod_has_a_mutation_kind_or_no_resource_in_prod(pack: StackPack) -> None:
    pack.use("prod")
    mandatory = {name for name, config in pack.analyzer.policy_config.items() if config.enforcement_level == "mandatory"}
    prod_types = {r.type for mode in MODES for r in captured("prod", mode).resources}
    checked = _types_checked(pack)

    assert mandatory == set(pack.analyzer.policy_config)  # prod.json: every policy mandatory
    assert sorted(mandatory - set(KINDS.values())) == sorted(NOT_MUTATED_IN_PROD)
    assert {policy: sorted(checked[policy] & prod_types) for policy in NOT_MUTATED_IN_PROD} == {
        policy: [] for policy in NOT_MUTATED_IN_PROD
    }


@pytest.mark.parametrize("mode", MODES)
def test_mutations_are_generated_for_every_kind_and_every_covered_resource(pack: StackPack, mode: str) -> None:
    capture = captured("prod", mode)
    mutations = mutations_of(capture)
    per_kind = Counter(mutation.kind for mutation in mutations)
    # Every resource of a type a resource policy checks (the description names the types).
    resource_policy_types = {type_ for types in _types_checked(pack, "resource").values() for type_ in types}
    covered = {r.urn for r in capture.resources if r.type in resource_policy_types}
    targets = {mutation.target_urn for mutation in mutations}

    assert {kind for kind in _expected_kinds(capture) if per_kind[kind] == 0} == set()
    assert sorted(covered - targets) == []
    assert len(mutations) > 100
    stack = CapturedStack(capture)
    clusters, instances = stack.of_type(CLUSTER), stack.of_type(CLUSTER_INSTANCE)
    # The kinds that apply to every resource of their type produce one mutation per resource.
    assert per_kind["subnet mapPublicIpOnLaunch true"] == len(stack.of_type(SUBNET))
    assert per_kind["SG inline ingress 0.0.0.0/0"] == len(stack.of_type(SECURITY_GROUP, DEFAULT_SECURITY_GROUP))
    assert per_kind["SG + ingress rule cidrIpv6 ::/0"] == len(stack.of_type(SECURITY_GROUP, DEFAULT_SECURITY_GROUP))
    assert per_kind["instance publiclyAccessible true"] == len(instances)
    assert per_kind["protect removed"] == len(stack.of_type(*STATEFUL_TYPES))
    assert per_kind["DB subnet association -> public table"] == len(stack.database_subnets()) >= 2
    assert per_kind["DB SG + ingress rule cidrIpv4 VPC"] == len(stack.database_security_groups()) == len(clusters)
    for kind in ("cluster deletionProtection false", "cluster backupRetentionPeriod one day short",
                 "cluster iamDatabaseAuthenticationEnabled false", "cluster instances all in one AZ"):
        assert per_kind[kind] == len(clusters) >= 2, kind
    for kind in ("instance performanceInsightsEnabled false", "instance monitoringInterval 0",
                 "instance class outside the allowed list"):
        assert per_kind[kind] == len(instances) >= 4, kind
    # Every cluster of prod is a member of the global database; only the primary names a master user.
    assert per_kind["member kmsKeyId -> other region's key"] == per_kind["member engineVersion other major"] == len(clusters)
    assert per_kind["cluster masterUsername admin"] == 1
    managed = [r for r in stack.of_type(CLUSTER, DB_INSTANCE) if r.inputs.get("manageMasterUserPassword") is True]
    assert per_kind["managed master secret key removed"] == len(managed)


@pytest.mark.parametrize("mode", MODES)
def test_managed_master_secret_mutations_run_on_the_dev_cluster(mode: str) -> None:
    capture = captured("dev", mode)
    mutations = mutations_of(capture)
    managed = [
        r for r in capture.resources if r.type in (CLUSTER, DB_INSTANCE) and r.inputs.get("manageMasterUserPassword") is True
    ]

    assert managed, "the dev stack no longer uses the RDS-managed master secret: move these kinds to a stack that does"
    assert Counter(m.kind for m in mutations) == dict.fromkeys(MANAGED_SECRET_KINDS, len(managed))
    assert {m.target_urn for m in mutations} == {r.urn for r in managed}


def test_every_insecure_mutation_is_caught_by_its_mandatory_policy(outcomes: list[Outcome]) -> None:
    table = kill_table(outcomes)
    print("\n" + table)
    survivors = [
        f"[{o.mutation.stack} {o.mutation.mode}] {o.mutation.kind}: {o.mutation.description} (expected "
        f"{o.mutation.expected_policy} on {[urn.rsplit('::', 1)[1] for urn, _ in o.mutation.findings]}); the pack "
        f"reported {sorted({(v.policy, v.level, v.urn.rsplit('::', 1)[1]) for v in o.violations})}"
        for o in outcomes
        if not o.killed
    ]
    kinds_run = {(o.mutation.stack, o.mutation.kind) for o in outcomes}
    expected_runs = {(stack, kind) for stack, mode in CAPTURES for kind in _expected_kinds(captured(stack, mode))}

    assert sorted(expected_runs - kinds_run) == []
    assert len(outcomes) > 300, table
    assert survivors == [], table + "\nsurvivors:\n" + "\n".join(survivors)
