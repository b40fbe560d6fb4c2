"""Stack policies on small resource graphs, through the real pack.

Each graph is built in two modes. ``update``: every reference is the referenced
resource's known id, and no property dependencies are recorded, so the pack must
correlate by value. ``preview``: every reference is unknown and only the property
dependencies link the resources, as on a first ``pulumi preview``.
"""

from __future__ import annotations

from typing import Any

import pytest
from policy_fixtures import UNKNOWN, Resource, StackPack, aws_provider, expected_level, of, resource

MODES = ["update", "preview"]

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
IGW = "aws:ec2/internetGateway:InternetGateway"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
MAIN_ASSOCIATION = "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
KMS_KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"

Ref = Resource | tuple[Resource, str]


class Graph:
    """Resources wired by reference: by known value in update mode, by dependency in preview mode."""

    def __init__(self, mode: str):
        self.mode = mode
        self.resources: list[Resource] = []

    def add(
        self,
        type_: str,
        name: str,
        inputs: dict[str, Any] | None = None,
        refs: dict[str, Ref | list[Ref]] | None = None,
        *,
        outputs: dict[str, Any] | None = None,
        protect: bool = False,
        provider: Resource | None = None,
    ) -> Resource:
        """``refs`` maps a property to the resource(s) it refers to, by ``id`` or by ``(resource, attribute)``."""
        values: dict[str, Any] = {}
        deps: dict[str, list[Resource]] = {}
        for prop, targets in (refs or {}).items():
            items = targets if isinstance(targets, list) else [targets]
            resolved = [self._value(item) for item in items]
            values[prop] = resolved if isinstance(targets, list) else resolved[0]
            if self.mode == "preview":
                deps[prop] = [item[0] if isinstance(item, tuple) else item for item in items]
        known_outputs = {"id": f"{name}-id", **(outputs or {})} if self.mode == "update" else dict(outputs or {})
        created = resource(
            type_, name, {**(inputs or {}), **values}, outputs=known_outputs, deps=deps, protect=protect, provider=provider
        )
        self.resources.append(created)
        return created

    def _value(self, item: Ref) -> Any:
        if self.mode == "preview":
            return UNKNOWN
        target, attribute = item if isinstance(item, tuple) else (item, "id")
        return target.outputs.get(attribute, target.inputs.get(attribute))


# --- db-subnets-private ------------------------------------------------------------------------------


def network(mode: str, *, database_table: str = "isolated") -> tuple[Graph, Resource]:
    """A three-tier VPC; the database subnets use ``database_table`` ("isolated", "private" or "public")."""
    g = Graph(mode)
    vpc = g.add(VPC, "vpc", {"cidrBlock": "10.0.0.0/16"})
    igw = g.add(IGW, "igw", refs={"vpcId": vpc})
    public = g.add(ROUTE_TABLE, "public", refs={"vpcId": vpc})
    g.add(ROUTE, "public-default", {"destinationCidrBlock": "0.0.0.0/0"}, {"routeTableId": public, "gatewayId": igw})
    nat = g.add(NAT, "nat", refs={"subnetId": vpc})
    private = g.add(ROUTE_TABLE, "private", refs={"vpcId": vpc})
    g.add(ROUTE, "private-default", {"destinationCidrBlock": "0.0.0.0/0"}, {"routeTableId": private, "natGatewayId": nat})
    isolated = g.add(ROUTE_TABLE, "isolated", refs={"vpcId": vpc})
    tables = {"public": public, "private": private, "isolated": isolated}
    web = g.add(SUBNET, "public-a", {"cidrBlock": "10.0.0.0/24"}, {"vpcId": vpc})
    g.add(ASSOCIATION, "public-a", refs={"subnetId": web, "routeTableId": public})
    subnets = []
    for zone in "ab":
        subnet = g.add(SUBNET, f"db-{zone}", {"cidrBlock": f"10.0.{ord(zone)}.0/24"}, {"vpcId": vpc})
        g.add(ASSOCIATION, f"db-{zone}", refs={"subnetId": subnet, "routeTableId": tables[database_table]})
        subnets.append(subnet)
    group = g.add(SUBNET_GROUP, "db", refs={"subnetIds": subnets})
    return g, group


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("table", ["isolated", "private"])
def test_database_subnets_without_internet_gateway_routes_pass(pack: StackPack, mode: str, table: str) -> None:
    g, _ = network(mode, database_table=table)

    assert of(pack.analyze_stack("prod", *g.resources), "db-subnets-private") == []


@pytest.mark.parametrize("mode", MODES)
def test_database_subnet_routed_to_an_internet_gateway_is_reported(pack: StackPack, mode: str) -> None:
    g, group = network(mode, database_table="public")

    violations = of(pack.analyze_stack("prod", *g.resources), "db-subnets-private")

    assert [v.urn for v in violations] == [group.urn, group.urn]
    assert "subnet 'db-a' is public: route 'public-default' of route table 'public'" in violations[0].message
    assert '"0.0.0.0/0" to an internet gateway' in violations[0].message
    assert "subnet 'db-b'" in violations[1].message
    assert {v.level for v in violations} == {"mandatory"}


@pytest.mark.parametrize("mode", MODES)
def test_inline_ipv6_route_to_an_internet_gateway_is_reported(pack: StackPack, mode: str) -> None:
    g = Graph(mode)
    vpc = g.add(VPC, "vpc")
    igw = g.add(IGW, "igw", refs={"vpcId": vpc})
    table = g.add(ROUTE_TABLE, "dual-stack", {"routes": [{"ipv6CidrBlock": "::/0", "gatewayId": g._value(igw)}]})
    if mode == "preview":
        table.property_dependencies["routes"] = [igw.urn]
    subnet = g.add(SUBNET, "db-a", refs={"vpcId": vpc})
    g.add(ASSOCIATION, "db-a", refs={"subnetId": subnet, "routeTableId": table})
    g.add(SUBNET_GROUP, "db", refs={"subnetIds": [subnet]})

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "db-subnets-private")

    assert "inline route routes[0] of route table 'dual-stack' sends \"::/0\"" in violation.message


@pytest.mark.parametrize("mode", MODES)
def test_egress_only_internet_gateway_keeps_database_subnets_private(pack: StackPack, mode: str) -> None:
    g = Graph(mode)
    vpc = g.add(VPC, "vpc")
    eigw = g.add("aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway", "eigw", refs={"vpcId": vpc})
    table = g.add(ROUTE_TABLE, "db")
    g.add(ROUTE, "v6-out", {"destinationIpv6CidrBlock": "::/0"}, {"routeTableId": table, "egressOnlyGatewayId": eigw})
    subnet = g.add(SUBNET, "db-a", refs={"vpcId": vpc})
    g.add(ASSOCIATION, "db-a", refs={"subnetId": subnet, "routeTableId": table})
    g.add(SUBNET_GROUP, "db", refs={"subnetIds": [subnet]})

    assert of(pack.analyze_stack("prod", *g.resources), "db-subnets-private") == []


@pytest.mark.parametrize("mode", MODES)
def test_subnet_without_association_uses_the_main_route_table(pack: StackPack, mode: str) -> None:
    g = Graph(mode)
    vpc = g.add(VPC, "vpc")
    igw = g.add(IGW, "igw", refs={"vpcId": vpc})
    public = g.add(ROUTE_TABLE, "public", refs={"vpcId": vpc})
    g.add(ROUTE, "public-default", {"destinationCidrBlock": "0.0.0.0/0"}, {"routeTableId": public, "gatewayId": igw})
    g.add(MAIN_ASSOCIATION, "main", refs={"vpcId": vpc, "routeTableId": public})
    subnet = g.add(SUBNET, "db-a", refs={"vpcId": vpc})
    g.add(SUBNET_GROUP, "db", refs={"subnetIds": [subnet]})

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "db-subnets-private")

    assert "subnet 'db-a' is public: route 'public-default' of route table 'public'" in violation.message


@pytest.mark.parametrize("mode", MODES)
def test_route_added_to_the_vpcs_implicit_main_route_table_is_followed(pack: StackPack, mode: str) -> None:
    g = Graph(mode)
    vpc = g.add(VPC, "vpc", outputs={"mainRouteTableId": "rtb-main"})
    igw = g.add(IGW, "igw", refs={"vpcId": vpc})
    g.add(ROUTE, "main-default", {"destinationCidrBlock": "0.0.0.0/0"},
          {"routeTableId": (vpc, "mainRouteTableId"), "gatewayId": igw})
    subnet = g.add(SUBNET, "db-a", refs={"vpcId": vpc})
    g.add(SUBNET_GROUP, "db", refs={"subnetIds": [subnet]})

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "db-subnets-private")

    assert "route 'main-default' of the main route table of VPC 'vpc'" in violation.message


def test_route_to_an_unknown_gateway_fails_closed(pack: StackPack) -> None:
    g, group = network("preview", database_table="isolated")
    isolated = next(r for r in g.resources if r.type == ROUTE_TABLE and r.name == "isolated")
    g.resources.append(resource(ROUTE, "mystery", {"routeTableId": UNKNOWN, "gatewayId": UNKNOWN,
                                                   "destinationCidrBlock": "0.0.0.0/0"},
                                deps={"routeTableId": [isolated]}))

    violations = of(pack.analyze_stack("prod", *g.resources), "db-subnets-private")

    assert violations and all(v.level == "mandatory" and v.urn == group.urn for v in violations)
    assert "target of route 'mystery' of route table 'isolated' is unknown during preview" in violations[0].message


# --- db-ingress-from-security-groups-only --------------------------------------------------------------


def database(mode: str, *, with_security_group: bool = True) -> tuple[Graph, Resource, Resource, Resource]:
    g = Graph(mode)
    vpc = g.add(VPC, "vpc", {"cidrBlock": "10.0.0.0/16"})
    app = g.add(SECURITY_GROUP, "app", refs={"vpcId": vpc})
    db_sg = g.add(SECURITY_GROUP, "db", {"ingress": [
        {"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "securityGroups": [g._value(app)]},
    ]}, refs={"vpcId": vpc})
    if mode == "preview":
        db_sg.property_dependencies["ingress"] = [app.urn]
    refs: dict[str, Any] = {"vpcSecurityGroupIds": [db_sg]} if with_security_group else {}
    cluster = g.add(CLUSTER, "orders", {"engine": "aurora-postgresql"}, refs)
    return g, vpc, app, db_sg if with_security_group else cluster


@pytest.mark.parametrize("mode", MODES)
def test_database_security_group_admitting_security_groups_passes(pack: StackPack, mode: str) -> None:
    g, _, app, db_sg = database(mode)
    g.add(SG_INGRESS_RULE, "from-app", {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432},
          {"securityGroupId": db_sg, "referencedSecurityGroupId": app})
    g.add(SG_RULE, "egress-anywhere", {"type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0,
                                       "cidrBlocks": ["0.0.0.0/0"]}, {"securityGroupId": db_sg})
    g.add(SG_INGRESS_RULE, "app-from-vpc", {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                                            "cidrIpv4": "10.0.0.0/16"}, {"securityGroupId": app})

    assert of(pack.analyze_stack("prod", *g.resources), "db-ingress-from-security-groups-only") == []


@pytest.mark.parametrize("mode", MODES)
def test_cidr_ingress_into_the_database_security_group_is_reported(pack: StackPack, mode: str) -> None:
    g, vpc, _, db_sg = database(mode)
    private_range = g.add(SG_INGRESS_RULE, "db-from-office", {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432,
                                                              "cidrIpv4": "10.20.0.0/16"}, {"securityGroupId": db_sg})
    vpc_range = g.add(SG_RULE, "db-from-vpc", {"type": "ingress", "protocol": "tcp", "fromPort": 5432, "toPort": 5432},
                      {"securityGroupId": db_sg, "cidrBlocks": [(vpc, "cidrBlock")]})

    violations = of(pack.analyze_stack("prod", *g.resources), "db-ingress-from-security-groups-only")

    assert {v.urn for v in violations} == {private_range.urn, vpc_range.urn}
    by_urn = {v.urn: v.message for v in violations}
    assert "adds ingress to database security group 'db' from cidrIpv4 \"10.20.0.0/16\"" in by_urn[private_range.urn]
    # A CIDR computed from the VPC is still a CIDR range, known or not.
    assert "from cidrBlocks" in by_urn[vpc_range.urn]
    assert "referenced_security_group_id" in by_urn[vpc_range.urn]


@pytest.mark.parametrize("mode", MODES)
def test_inline_cidr_rule_of_the_database_security_group_is_reported(pack: StackPack, mode: str) -> None:
    g = Graph(mode)
    db_sg = g.add(SECURITY_GROUP, "db", {"ingress": [
        {"protocol": "tcp", "fromPort": 3306, "toPort": 3306, "cidrBlocks": ["10.0.0.0/8"]},
    ]})
    g.add(CLUSTER, "orders", {"engine": "aurora-mysql"}, {"vpcSecurityGroupIds": [db_sg]})

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "db-ingress-from-security-groups-only")

    assert violation.urn == db_sg.urn
    assert "SecurityGroup 'db' (database security group): ingress[0].cidrBlocks is ['10.0.0.0/8']" in violation.message


def test_database_without_security_groups_gets_the_default_one_and_is_reported(pack: StackPack) -> None:
    g, *_, cluster = database("update", with_security_group=False)

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "db-ingress-from-security-groups-only")

    assert violation.urn == cluster.urn and "vpcSecurityGroupIds is not set" in violation.message


def test_inline_rules_the_provider_computes_are_left_to_the_standalone_rules(pack: StackPack) -> None:
    g, _, app, db_sg = database("preview")
    db_sg.inputs["ingress"] = UNKNOWN  # no inline rules: the provider reports the attribute as computed
    del db_sg.property_dependencies["ingress"]
    g.add(SG_INGRESS_RULE, "from-app", {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432},
          {"securityGroupId": db_sg, "referencedSecurityGroupId": app})
    net, _ = network("preview")
    for table in net.resources:
        if table.type == ROUTE_TABLE:
            table.inputs["routes"] = UNKNOWN  # routes declared as aws.ec2.Route resources instead
    violations = pack.analyze_stack("prod", *g.resources, *net.resources)

    assert of(violations, "db-ingress-from-security-groups-only") == []
    assert of(violations, "db-subnets-private") == []


def test_inline_rules_computed_from_other_resources_fail_closed(pack: StackPack) -> None:
    g, _, app, db_sg = database("preview")
    db_sg.inputs["ingress"] = UNKNOWN  # assembled in an apply over other resources' outputs

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "db-ingress-from-security-groups-only")

    assert violation.urn == db_sg.urn and "ingress is unknown during preview" in violation.message


# --- rds-cluster-tls-enforced -------------------------------------------------------------------------


def tls_cluster(mode: str, engine: str, parameters: list[dict[str, str]] | None) -> tuple[Graph, Resource]:
    g = Graph(mode)
    refs: dict[str, Any] = {}
    if parameters is not None:
        family = "aurora-postgresql16" if engine == "aurora-postgresql" else "aurora-mysql8.0"
        group = g.add(PARAMETER_GROUP, "tls", {"name": "orders-tls", "family": family, "parameters": parameters})
        refs["dbClusterParameterGroupName"] = (group, "name")
    return g, g.add(CLUSTER, "orders", {"engine": engine}, refs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("engine", "parameters"),
    [
        ("aurora-postgresql", [{"name": "rds.force_ssl", "value": "1", "applyMethod": "pending-reboot"}]),
        ("aurora-mysql", [{"name": "require_secure_transport", "value": "ON"}]),
    ],
)
def test_parameter_group_forcing_tls_passes(pack: StackPack, mode: str, engine: str, parameters: list) -> None:
    g, _ = tls_cluster(mode, engine, parameters)

    assert of(pack.analyze_stack("prod", *g.resources), "rds-cluster-tls-enforced") == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("engine", "parameters", "says"),
    [
        ("aurora-postgresql", [{"name": "rds.force_ssl", "value": "0"}], 'has rds.force_ssl "0"'),
        ("aurora-mysql", [{"name": "max_connections", "value": "500"}], "has require_secure_transport not set"),
        ("aurora-postgresql", None, "dbClusterParameterGroupName is not set"),
    ],
)
def test_cluster_accepting_plaintext_connections_is_reported(
    pack: StackPack, mode: str, engine: str, parameters: list | None, says: str
) -> None:
    g, cluster = tls_cluster(mode, engine, parameters)

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "rds-cluster-tls-enforced")

    assert violation.urn == cluster.urn and says in violation.message
    assert ("rds.force_ssl=1" if engine == "aurora-postgresql" else "require_secure_transport=ON") in violation.message


def test_default_parameter_group_is_reported(pack: StackPack) -> None:
    cluster = resource(CLUSTER, "orders", {"engine": "aurora-postgresql",
                                           "dbClusterParameterGroupName": "default.aurora-postgresql16"})

    (violation,) = of(pack.analyze_stack("prod", cluster), "rds-cluster-tls-enforced")

    assert "uses the default parameter group" in violation.message


def test_parameter_group_name_computed_from_elsewhere_fails_closed(pack: StackPack) -> None:
    outside = resource("aws:ssm/parameter:Parameter", "group-name", {"type": "String"})
    cluster = resource(CLUSTER, "orders", {"engine": "aurora-postgresql", "dbClusterParameterGroupName": UNKNOWN},
                       deps={"dbClusterParameterGroupName": [outside]})

    (violation,) = of(pack.analyze_stack("prod", outside, cluster), "rds-cluster-tls-enforced")

    assert violation.level == "mandatory"
    assert "is unknown during preview and depends on no cluster parameter group of this stack" in violation.message


def test_parameter_group_the_provider_computes_is_the_default_one(pack: StackPack) -> None:
    # A real preview reports an unset optional attribute the provider computes as unknown, with no dependency.
    cluster = resource(CLUSTER, "orders", {"engine": "aurora-postgresql", "dbClusterParameterGroupName": UNKNOWN})

    (violation,) = of(pack.analyze_stack("prod", cluster), "rds-cluster-tls-enforced")

    assert "dbClusterParameterGroupName is not set" in violation.message


# --- rds-cluster-multi-az -----------------------------------------------------------------------------


def cluster_with_instances(mode: str, zones: list[str | None]) -> tuple[Graph, Resource]:
    g = Graph(mode)
    cluster = g.add(CLUSTER, "orders", {"engine": "aurora-postgresql"}, outputs={"clusterIdentifier": "orders"})
    for index, zone in enumerate(zones):
        inputs = {"instanceClass": "db.r7g.large", **({"availabilityZone": zone} if zone else {})}
        g.add(CLUSTER_INSTANCE, f"orders-{index}", inputs, {"clusterIdentifier": (cluster, "clusterIdentifier")})
    return g, cluster


@pytest.mark.parametrize("mode", MODES)
def test_instances_in_two_zones_pass(pack: StackPack, mode: str) -> None:
    g, _ = cluster_with_instances(mode, ["us-east-1a", "us-east-1b", "us-east-1a"])

    assert of(pack.analyze_stack("prod", *g.resources), "rds-cluster-multi-az") == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("zones", "says"),
    [
        (["us-east-1a"], "has 1 cluster instance(s) ('orders-0')"),
        ([], "has 0 cluster instance(s) (none)"),
        (["us-east-1a", "us-east-1a"], "in 1 explicit availability zone(s) ['us-east-1a']"),
        (["us-east-1a", None], "['orders-1'] set no availability_zone"),
    ],
)
def test_cluster_without_a_second_zone_is_reported(pack: StackPack, mode: str, zones: list, says: str) -> None:
    g, cluster = cluster_with_instances(mode, zones)

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "rds-cluster-multi-az")

    assert violation.urn == cluster.urn and says in violation.message


def test_availability_zone_computed_from_another_resource_fails_closed(pack: StackPack) -> None:
    g, _ = cluster_with_instances("preview", ["us-east-1a", UNKNOWN])
    subnet = g.add(SUBNET, "db-b", {"cidrBlock": "10.0.2.0/24"})
    next(r for r in g.resources if r.name == "orders-1").property_dependencies["availabilityZone"] = [subnet.urn]

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "rds-cluster-multi-az")

    assert violation.level == "mandatory" and "['orders-1'] is unknown during preview" in violation.message


def test_availability_zone_the_provider_picks_is_not_explicit(pack: StackPack) -> None:
    g, _ = cluster_with_instances("preview", ["us-east-1a", UNKNOWN])

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "rds-cluster-multi-az")

    assert "['orders-1'] set no availability_zone" in violation.message


# --- global clusters ------------------------------------------------------------------------------------


def global_database(
    mode: str, *, secondary_key: str = "west", secondary_version: str | None = "16.4", secondary_engine: str = "aurora-postgresql"
) -> tuple[Graph, dict[str, Resource]]:
    g = Graph(mode)
    east, west = aws_provider("east", "us-east-1"), aws_provider("west", "us-west-2")
    g.resources += [east, west]
    keys = {
        "east": g.add(KMS_KEY, "key-east", {"enableKeyRotation": True}, provider=east,
                      outputs={"arn": "arn:aws:kms:us-east-1:123456789012:key/east"}),
        "west": g.add(KMS_KEY, "key-west", {"enableKeyRotation": True}, provider=west,
                      outputs={"arn": "arn:aws:kms:us-west-2:123456789012:key/west"}),
    }
    global_cluster = g.add(GLOBAL_CLUSTER, "orders", {"engine": "aurora-postgresql", "engineVersion": "16.6",
                                                      "globalClusterIdentifier": "orders", "storageEncrypted": True},
                           provider=east)
    primary = g.add(CLUSTER, "orders-east", {"engine": "aurora-postgresql", "engineVersion": "16.6"},
                    {"globalClusterIdentifier": global_cluster, "kmsKeyId": (keys["east"], "arn")}, provider=east)
    secondary_inputs = {"engine": secondary_engine, **({"engineVersion": secondary_version} if secondary_version else {})}
    secondary_refs: dict[str, Any] = {"globalClusterIdentifier": global_cluster}
    if secondary_key:
        secondary_refs["kmsKeyId"] = (keys[secondary_key], "arn")
    secondary = g.add(CLUSTER, "orders-west", secondary_inputs, secondary_refs, provider=west)
    return g, {"global": global_cluster, "primary": primary, "secondary": secondary}


@pytest.mark.parametrize("mode", MODES)
def test_members_with_regional_keys_and_one_major_version_pass(pack: StackPack, mode: str) -> None:
    g, _ = global_database(mode)

    violations = pack.analyze_stack("prod", *g.resources)

    assert of(violations, "global-cluster-regional-keys") == []
    assert of(violations, "global-cluster-members-consistent") == []


@pytest.mark.parametrize("mode", MODES)
def test_member_encrypted_with_another_regions_key_is_reported(pack: StackPack, mode: str) -> None:
    g, members = global_database(mode, secondary_key="east")

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "global-cluster-regional-keys")

    assert violation.urn == members["secondary"].urn
    assert "Cluster 'orders-west' (member of global cluster 'orders')" in violation.message
    assert "us-east-1" in violation.message and "the cluster is in us-west-2" in violation.message


def test_member_without_a_key_is_reported(pack: StackPack) -> None:
    g, members = global_database("update", secondary_key="")

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "global-cluster-regional-keys")

    assert violation.urn == members["secondary"].urn and "kmsKeyId is not set" in violation.message
    assert "(us-west-2)" in violation.message


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"secondary_version": "15.8"}, "different major versions"),
        ({"secondary_engine": "aurora-mysql", "secondary_version": "8.0.mysql_aurora.3.08.0"}, "different engines"),
        ({"secondary_version": None}, "['orders-west'] set no engineVersion"),
    ],
)
def test_inconsistent_members_are_reported(pack: StackPack, mode: str, overrides: dict, says: str) -> None:
    g, members = global_database(mode, **overrides)

    violations = of(pack.analyze_stack("prod", *g.resources), "global-cluster-members-consistent")

    assert violations and all(v.urn == members["global"].urn for v in violations)
    assert any(says in v.message for v in violations)


def test_mysql_major_version_is_the_first_two_components(pack: StackPack) -> None:
    g, _ = global_database("update", secondary_version=None)
    for r in g.resources:
        if r.type in (CLUSTER, GLOBAL_CLUSTER):
            r.inputs.update(engine="aurora-mysql", engineVersion="8.0.mysql_aurora.3.08.0")
    next(r for r in g.resources if r.name == "orders-west").inputs["engineVersion"] = "8.0.mysql_aurora.3.05.2"

    assert of(pack.analyze_stack("prod", *g.resources), "global-cluster-members-consistent") == []


# --- stateful-resources-protected ---------------------------------------------------------------------


STATEFUL = [
    (CLUSTER, {"engine": "aurora-postgresql"}),
    (GLOBAL_CLUSTER, {"engine": "aurora-postgresql"}),
    (KMS_KEY, {"enableKeyRotation": True}),
    (SECRET, {"name": "db-master"}),
    ("aws:rds/instance:Instance", {"engine": "postgres"}),
]


@pytest.mark.parametrize(("type_", "inputs"), STATEFUL)
def test_stateful_resource_without_protect_is_reported(pack: StackPack, type_: str, inputs: dict) -> None:
    unprotected = resource(type_, "state", inputs)

    (violation,) = of(pack.analyze_stack("prod", unprotected), "stateful-resources-protected")

    assert violation.urn == unprotected.urn
    assert f"{type_} 'state'" in violation.message and "protect=True" in violation.message


@pytest.mark.parametrize(("type_", "inputs"), STATEFUL)
def test_protected_stateful_resource_passes(pack: StackPack, type_: str, inputs: dict) -> None:
    assert of(pack.analyze_stack("prod", resource(type_, "state", inputs, protect=True)), "stateful-resources-protected") == []


def test_stateless_resources_need_no_protect(pack: StackPack) -> None:
    g, _ = network("update")

    assert of(pack.analyze_stack("prod", *g.resources), "stateful-resources-protected") == []


# --- levels -------------------------------------------------------------------------------------------


def failing_stack(policy: str) -> list[Resource]:
    """One small stack violating ``policy``."""
    if policy == "db-subnets-private":
        return network("update", database_table="public")[0].resources
    if policy == "db-ingress-from-security-groups-only":
        return database("update", with_security_group=False)[0].resources
    if policy == "rds-cluster-tls-enforced":
        return tls_cluster("update", "aurora-postgresql", None)[0].resources
    if policy == "rds-cluster-multi-az":
        return cluster_with_instances("update", ["us-east-1a"])[0].resources
    if policy == "global-cluster-regional-keys":
        return global_database("update", secondary_key="east")[0].resources
    if policy == "global-cluster-members-consistent":
        return global_database("update", secondary_version="15.8")[0].resources
    if policy == "app-role-no-master-secret":
        from test_policy_pack_access_rules import fleet

        return fleet("update", grant="star")[0].resources
    if policy == "rds-cluster-audit-logging":
        from test_policy_pack_audit_rules import PGAUDIT, audited, without

        return audited("update", parameters=without(PGAUDIT, "shared_preload_libraries"))[0].resources
    if policy in ("rds-cluster-backup-plan", "backup-vault-locked"):
        from test_policy_pack_backup_rules import backed_up

        return backed_up("update", selected=False, locked=False)[0].resources
    return [resource(KMS_KEY, "unprotected", {"enableKeyRotation": True})]


STACK_POLICIES = [
    "db-subnets-private",
    "db-ingress-from-security-groups-only",
    "rds-cluster-tls-enforced",
    "rds-cluster-multi-az",
    "global-cluster-regional-keys",
    "global-cluster-members-consistent",
    "stateful-resources-protected",
    "rds-cluster-backup-plan",
    "backup-vault-locked",
    "app-role-no-master-secret",
    "rds-cluster-audit-logging",
]


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("policy", STACK_POLICIES)
def test_stack_policy_reports_at_the_stack_level(pack: StackPack, stack: str, policy: str) -> None:
    violations = of(pack.analyze_stack(stack, *failing_stack(policy)), policy)

    assert violations
    assert {v.level for v in violations} == {expected_level(stack, policy)}


def test_every_stack_policy_is_covered(pack: StackPack) -> None:
    pack.use("prod")
    stack_policies = {p.name for p in pack.analyzer.get_analyzer_info().policies if p.policy_type == "stack"}

    assert stack_policies == set(STACK_POLICIES)
