"""Mutation test: every single-property insecure change to the committed prod stack is caught.

The prod stack is captured on the mock engine (update mode: every value known; preview
mode: values computed from other resources unknown, as on a first preview). For every
captured resource of a type the mandatory policies cover, each insecure mutation that
applies to it is made to a deep copy of that resource (inputs and outputs alike, so
resource and stack policies see the same change), or an insecure resource is added next
to it. Each mutated stack goes through the real pack configured with
``policies/config/prod.json``: ``Analyze`` for the changed and added resources (a
resource policy decides from the resource alone, so several independent mutations share
one batch) and, for mutations a stack policy must catch, ``AnalyzeStack`` over every
resource of the mutated stack.

A mutation is killed when the expected policy reports a *mandatory* violation on the
resource it reports on (the mutated or added resource for resource policies; for stack
policies the resource that policy names, e.g. the DB subnet group for db-subnets-private)
that the unmutated stack does not have. The kill rate must be 100%.

Run with ``-s`` to see the kill table.
"""

from __future__ import annotations

import base64
import copy
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from policy_fixtures import UNKNOWN, StackPack, Violation

from deploy.capture import Capture, CapturedResource
from tests.conftest import captured

STACK = "prod"
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
}
# User data is rendered from other resources' outputs: unknown on a first preview, checked on
# `pulumi up` when the engine analyzes the rendered text. These kinds apply where it is known.
KNOWN_USER_DATA_ONLY = {"LT userData password", "LT userData access key"}

TLS_PARAMETERS = {"aurora-postgresql": ("rds.force_ssl", "0"), "aurora-mysql": ("require_secure_transport", "OFF")}


@dataclass(frozen=True)
class Mutation:
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


class ProdStack:
    """The captured prod stack with the references between its resources (property dependencies,
    recorded in both modes, also while ids are unknown)."""

    def __init__(self, capture: Capture):
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
    stack: ProdStack, sibling: CapturedResource, type_: str, name: str, literals: dict[str, Any], refs: dict[str, CapturedResource]
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
    stack: ProdStack,
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


def cluster_mutations(stack: ProdStack) -> Iterator[Mutation]:
    for cluster in stack.of_type(CLUSTER):
        for kind, what, replacement in [
            ("cluster storageEncrypted false", "storageEncrypted false", changed(cluster, setter(storageEncrypted=False))),
            ("cluster storageEncrypted removed", "storageEncrypted unset", changed(cluster, dropped=["storageEncrypted"])),
            ("cluster kmsKeyId removed", "kmsKeyId unset", changed(cluster, dropped=["kmsKeyId"])),
            ("cluster kmsKeyId AWS managed", "kmsKeyId alias/aws/rds", changed(cluster, setter(kmsKeyId="alias/aws/rds"))),
        ]:
            yield _mutation(stack, kind, cluster, what, replaced=[replacement])


def global_cluster_mutations(stack: ProdStack) -> Iterator[Mutation]:
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


def cluster_instance_mutations(stack: ProdStack) -> Iterator[Mutation]:
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


def security_group_mutations(stack: ProdStack) -> Iterator[Mutation]:
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


def ingress_rule_mutations(stack: ProdStack) -> Iterator[Mutation]:
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


def launch_template_mutations(stack: ProdStack) -> Iterator[Mutation]:
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


def kms_key_mutations(stack: ProdStack) -> Iterator[Mutation]:
    for key in stack.of_type(KMS_KEY):
        yield _mutation(stack, "KMS key rotation off", key, "enableKeyRotation false",
                        replaced=[changed(key, setter(enableKeyRotation=False))])
        yield _mutation(stack, "KMS key rotation removed", key, "enableKeyRotation unset",
                        replaced=[changed(key, dropped=["enableKeyRotation"])])


def subnet_mutations(stack: ProdStack) -> Iterator[Mutation]:
    for subnet in stack.of_type(SUBNET):
        yield _mutation(stack, "subnet mapPublicIpOnLaunch true", subnet, "mapPublicIpOnLaunch true",
                        replaced=[changed(subnet, setter(mapPublicIpOnLaunch=True))])


def key_reference_mutations(stack: ProdStack) -> Iterator[Mutation]:
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


def db_subnet_mutations(stack: ProdStack) -> Iterator[Mutation]:
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


def db_security_group_mutations(stack: ProdStack) -> Iterator[Mutation]:
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


def protect_mutations(stack: ProdStack) -> Iterator[Mutation]:
    for resource in stack.of_type(*STATEFUL_TYPES):
        if resource.protect:
            yield _mutation(stack, "protect removed", resource, "protect off", replaced=[changed(resource, protect=False)])


def tls_mutations(stack: ProdStack) -> Iterator[Mutation]:
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
]


def mutations_of(capture: Capture) -> list[Mutation]:
    stack = ProdStack(capture)
    return [mutation for generate in GENERATORS for mutation in generate(stack)]


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
        for violation in pack.analyze(STACK, *providers, *resources):
            if violation.urn in owner:
                found[owner[violation.urn]].append(violation)
    stack_policies = {p.name for p in pack.analyzer.get_analyzer_info().policies if p.policy_type == "stack"}
    for position, mutation in enumerate(mutations):
        if mutation.expected_policy not in stack_policies:
            continue
        replacements = {resource.urn: resource for resource in mutation.replaced}
        resources = [replacements.get(r.urn, r) for r in capture.resources] + list(mutation.added)
        found[position] += pack.analyze_stack(STACK, *resources)
    return [Outcome(mutation, _is_killed(mutation, found[i], known), found[i]) for i, mutation in enumerate(mutations)]


def kill_table(outcomes: Sequence[Outcome]) -> str:
    per_policy: dict[str, Counter[str]] = defaultdict(Counter)
    for outcome in outcomes:
        counts = per_policy[outcome.mutation.expected_policy]
        counts[f"{outcome.mutation.mode} mutations"] += 1
        counts[f"{outcome.mutation.mode} killed"] += outcome.killed
    width = max(len(name) for name in per_policy) + 2
    header = f"{'policy':<{width}}{'mutations':>10}{'killed':>8}   (preview / update)"
    lines = [header, "-" * len(header)]
    for policy in sorted(per_policy):
        counts = per_policy[policy]
        total = counts["preview mutations"] + counts["update mutations"]
        killed = counts["preview killed"] + counts["update killed"]
        lines.append(
            f"{policy:<{width}}{total:>10}{killed:>8}   ({counts['preview killed']}/{counts['preview mutations']}"
            f" / {counts['update killed']}/{counts['update mutations']})"
        )
    total = len(outcomes)
    killed = sum(outcome.killed for outcome in outcomes)
    lines.append("-" * len(header))
    lines.append(f"{'all':<{width}}{total:>10}{killed:>8}")
    lines.append(f"kill rate: {killed}/{total} = {100.0 * killed / total if total else 0.0:.1f}%")
    return "\n".join(lines)


# --- the tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baselines(pack: StackPack) -> dict[str, list[Violation]]:
    result = {}
    for mode in MODES:
        resources = captured(STACK, mode).resources
        result[mode] = pack.analyze(STACK, *resources) + pack.analyze_stack(STACK, *resources)
    return result


@pytest.fixture(scope="module")
def outcomes(pack: StackPack, baselines: dict[str, list[Violation]]) -> list[Outcome]:
    started = time.perf_counter()
    result = [outcome for mode in MODES for outcome in run_mutations(pack, captured(STACK, mode), baselines[mode])]
    print(f"\n{len(result)} mutations through the pack in {time.perf_counter() - started:.2f}s")
    return result


@pytest.mark.parametrize("mode", MODES)
def test_unmutated_prod_stack_has_no_mandatory_violation(baselines: dict[str, list[Violation]], mode: str) -> None:
    assert [v for v in baselines[mode] if v.level == "mandatory"] == []


def test_every_expected_policy_is_mandatory_in_prod(pack: StackPack) -> None:
    pack.use(STACK)
    levels = {name: config.enforcement_level for name, config in pack.analyzer.policy_config.items()}

    assert {policy: levels.get(policy) for policy in set(KINDS.values())} == dict.fromkeys(set(KINDS.values()), "mandatory")


@pytest.mark.parametrize("mode", MODES)
def test_mutations_are_generated_for_every_kind_and_every_covered_resource(pack: StackPack, mode: str) -> None:
    capture = captured(STACK, mode)
    mutations = mutations_of(capture)
    per_kind = Counter(mutation.kind for mutation in mutations)
    expected_kinds = set(KINDS) - (KNOWN_USER_DATA_ONLY if mode == "preview" else set())
    # Every resource of a type a resource policy checks (the description names the types).
    resource_policy_types = {
        type_
        for policy in pack.analyzer.get_analyzer_info().policies
        if policy.policy_type == "resource"
        for type_ in re.findall(r"aws:[\w/]+:\w+", policy.description)
    }
    covered = {r.urn for r in capture.resources if r.type in resource_policy_types}
    targets = {mutation.target_urn for mutation in mutations}

    assert {kind for kind in expected_kinds if per_kind[kind] == 0} == set()
    assert sorted(covered - targets) == []
    assert len(mutations) > 100
    stack = ProdStack(capture)
    # The kinds that apply to every resource of their type produce one mutation per resource.
    assert per_kind["subnet mapPublicIpOnLaunch true"] == len(stack.of_type(SUBNET))
    assert per_kind["SG inline ingress 0.0.0.0/0"] == len(stack.of_type(SECURITY_GROUP, DEFAULT_SECURITY_GROUP))
    assert per_kind["SG + ingress rule cidrIpv6 ::/0"] == len(stack.of_type(SECURITY_GROUP, DEFAULT_SECURITY_GROUP))
    assert per_kind["instance publiclyAccessible true"] == len(stack.of_type(CLUSTER_INSTANCE))
    assert per_kind["protect removed"] == len(stack.of_type(*STATEFUL_TYPES))
    assert per_kind["DB subnet association -> public table"] == len(stack.database_subnets()) >= 2
    assert per_kind["DB SG + ingress rule cidrIpv4 VPC"] == len(stack.database_security_groups()) == len(stack.of_type(CLUSTER))


def test_every_insecure_mutation_is_caught_by_its_mandatory_policy(outcomes: list[Outcome]) -> None:
    table = kill_table(outcomes)
    print("\n" + table)
    survivors = [
        f"[{o.mutation.mode}] {o.mutation.kind}: {o.mutation.description} (expected {o.mutation.expected_policy} on "
        f"{[urn.rsplit('::', 1)[1] for urn, _ in o.mutation.findings]}); the pack reported "
        f"{sorted({(v.policy, v.level, v.urn.rsplit('::', 1)[1]) for v in o.violations})}"
        for o in outcomes
        if not o.killed
    ]

    assert len(outcomes) > 200, table
    assert survivors == [], table + "\nsurvivors:\n" + "\n".join(survivors)
