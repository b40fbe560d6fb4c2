"""Network: one VPC per region with public, private (application) and isolated database tiers."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.account import AccountContext, service_trust_policy
from components.aws_facts import NAT_STRATEGIES, REGION_AZS
from components.naming import PROJECT
from components.settings import NetworkSettings

MAX_AZS = 6


def subnet_cidrs(vpc_cidr: str, az_count: int) -> dict[str, list[str]]:
    """Carve the VPC into tiers: private subnets get 1/16 of the VPC each (they hold the fleet),
    public and database subnets 1/256 each, packed into two further sixteenths. Half the VPC
    stays free for growth. A /16 gives private /20, public and database /24; a /20 gives
    private /24, public and database /28 (the smallest subnet AWS allows)."""
    if not 1 <= az_count <= MAX_AZS:
        raise ValueError(f"az_count must be 1 to {MAX_AZS}, not {az_count}")
    vpc = ipaddress.IPv4Network(vpc_cidr)
    sixteenths = list(vpc.subnets(new_prefix=vpc.prefixlen + 4))
    small_public = list(sixteenths[MAX_AZS].subnets(new_prefix=vpc.prefixlen + 8))
    small_database = list(sixteenths[MAX_AZS + 1].subnets(new_prefix=vpc.prefixlen + 8))
    return {
        "private": [str(sixteenths[i]) for i in range(az_count)],
        "public": [str(small_public[i]) for i in range(az_count)],
        "database": [str(small_database[i]) for i in range(az_count)],
    }


def zone_slots(zones: list[str] | tuple[str, ...]) -> dict[str, int]:
    """The CIDR slot of each zone's subnets: its place in the region's zone table (components/aws_facts.py
    REGION_AZS), or its letter's place in the alphabet for a zone the table lacks. A subnet's CIDR is as
    unique in its VPC as a name, so a slot that moved with the list would replace subnets with CIDRs
    their siblings still hold: with the table's place, reordering the zones, adding one between others
    or removing one leaves every other zone's subnets as they are. Zones taken from the table in its
    order (every ``azCount`` stack) keep the slots they had by position. A zone whose place is taken or
    past the last slot gets the lowest free one (in letter order): only such zones depend on the list."""
    def preferred(zone: str) -> int:
        region, letter = zone[:-1], zone[-1:]
        table = REGION_AZS.get(region, ())
        return table.index(letter) if letter in table else ord(letter) - ord("a")

    slots: dict[str, int] = {}
    for zone in sorted(zones, key=lambda z: (preferred(z), z)):
        slot = preferred(zone)
        if not 0 <= slot < MAX_AZS or slot in slots.values():
            slot = min(set(range(MAX_AZS)) - set(slots.values()))
        slots[zone] = slot
    return slots


def zone_order(zones: list[str] | tuple[str, ...]) -> list[str]:
    """``zones`` in slot order: subnets, route tables and the single NAT gateway's place follow it."""
    slots = zone_slots(zones)
    return sorted(zones, key=slots.__getitem__)


@dataclass
class NetworkArgs:
    settings: NetworkSettings
    """The region's network settings: VPC CIDR (/16 to /20), availability zones, NAT strategy
    (``none``, ``single`` or ``per-az``), flow logs, interface endpoints (service short names such as
    ``kms``, ``secretsmanager``, ``ssm``, ``logs``) and the networks outside the VPC the database
    NACL also admits on ``database_port``, with the replies to them (peered VPCs, on-premises: where
    admitted security groups of such networks connect from; the database security group still
    decides who connects)."""
    region: str
    """AWS region of the VPC (used in names and service endpoint names)."""
    kms_key_arn: pulumi.Input[str]
    """Region key that encrypts the flow log group."""
    log_retention_days: int = 365
    """Retention of the flow log group."""
    database_port: int | None = None
    """Engine port the database tier admits from inside the VPC (its NACL allows nothing else).
    ``None`` leaves the database subnets on the application tier's NACL."""
    name_prefix: str = PROJECT
    """Prefix of Name tags and physical names (``<prefix>-<region>-...``)."""
    account: AccountContext | None = None
    """Account and partition of the region's provider (the flow log role's trust); ``None`` looks them up."""

    def __post_init__(self):
        if self.settings.nat_strategy not in NAT_STRATEGIES:
            raise ValueError(f"nat_strategy must be none, single or per-az, not {self.settings.nat_strategy!r}")


class Network(pulumi.ComponentResource):
    """VPC, three subnet tiers, routing, NAT, DB subnet group, locked-down defaults, flow logs, endpoints.

    Database subnets have a route table of their own with no route to the internet at all
    (neither IGW nor NAT); no subnet maps public IPs on launch.
    """

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    database_subnet_ids: list[pulumi.Output[str]]
    availability_zones: list[str]
    db_subnet_group_name: pulumi.Output[str]
    private_route_table_ids: list[pulumi.Output[str]]
    database_route_table_id: pulumi.Output[str]
    endpoint_security_group_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:network:Network", name, None, opts)
        self._name = name
        self._args = args
        # Subnets, NAT gateways and route tables follow zone_order (stable under a reorder or an added zone); the
        # configured order only places the cluster's instances (the writer in the first zone).
        zones = list(args.settings.availability_zones)
        self._zones = zone_order(zones)
        self._slots = zone_slots(zones)
        self._prefix = f"{args.name_prefix}-{args.region}"
        self._child = pulumi.ResourceOptions(parent=self)
        self._cidrs = subnet_cidrs(args.settings.vpc_cidr, MAX_AZS)  # by zone_slots

        vpc = aws.ec2.Vpc(name, cidr_block=args.settings.vpc_cidr, enable_dns_support=True, enable_dns_hostnames=True,
                          tags=self._tags("vpc"), opts=self._child)
        self._strip_defaults(vpc)
        private = self._subnets(vpc, "private")
        database = self._subnets(vpc, "database")
        public, nat_gateways = self._public_tier(vpc)
        private_tables = self._private_routes(vpc, private, nat_gateways)
        self._network_acls(vpc, public, private, database)
        database_rt, subnet_group = self._database_tier(vpc, database)
        aws.ec2.VpcEndpoint(
            f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway", route_table_ids=[t.id for t in private_tables] + [database_rt.id],
            tags=self._tags("s3"), opts=self._child)
        self.endpoint_security_group_id = self._interface_endpoints(vpc, private)
        if args.settings.flow_logs:
            self._flow_logs(vpc)

        self.vpc_id = vpc.id
        self.vpc_cidr = args.settings.vpc_cidr
        self.availability_zones = zones
        self.public_subnet_ids = [s.id for s in public]
        self.private_subnet_ids = [s.id for s in private]
        self.database_subnet_ids = [s.id for s in database]
        self.db_subnet_group_name = subnet_group.name
        self.private_route_table_ids = [t.id for t in private_tables]
        self.database_route_table_id = database_rt.id
        self.register_outputs({
            "vpc_id": self.vpc_id,
            "availability_zones": zones,
            "public_subnet_ids": self.public_subnet_ids,
            "private_subnet_ids": self.private_subnet_ids,
            "database_subnet_ids": self.database_subnet_ids,
            "db_subnet_group_name": self.db_subnet_group_name,
        })

    def _tags(self, suffix: str, **extra: str) -> dict[str, str]:
        return {"Name": f"{self._prefix}-{suffix}", **extra}

    def _strip_defaults(self, vpc: aws.ec2.Vpc) -> None:
        """The default security group and NACL exist in every VPC. Both are stripped of every rule:
        nothing can use the default SG by accident, and a subnet nobody assigned deliberately to
        one of the NACLs below can send and receive nothing."""
        name = self._name
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[],
                                     tags=self._tags("default-deny-all"), opts=self._child)
        aws.ec2.DefaultNetworkAcl(
            f"{name}-default-nacl",
            default_network_acl_id=vpc.default_network_acl_id,
            ingress=[],
            egress=[],
            tags=self._tags("default-deny-all"),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnetIds"]),
        )

    def _subnets(self, vpc: aws.ec2.Vpc, tier: str) -> list[aws.ec2.Subnet]:
        return [
            aws.ec2.Subnet(
                f"{self._name}-{tier}-{zone}",
                vpc_id=vpc.id,
                cidr_block=self._cidrs[tier][self._slots[zone]],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=self._tags(f"{tier}-{zone}", tier=tier),
                opts=self._child,
            )
            for zone in self._zones
        ]

    def _public_tier(self, vpc: aws.ec2.Vpc) -> tuple[list[aws.ec2.Subnet], list[aws.ec2.NatGateway]]:
        """Public subnets, the internet gateway and the NAT gateways; none with ``nat_strategy`` none."""
        name, zones, child, strategy = self._name, self._zones, self._child, self._args.settings.nat_strategy
        if strategy == "none":
            return [], []
        public = self._subnets(vpc, "public")
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=self._tags("igw"), opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags=self._tags("public"), opts=child)
        aws.ec2.Route(f"{name}-public-internet", route_table_id=public_rt.id,
                      destination_cidr_block="0.0.0.0/0", gateway_id=igw.id, opts=child)
        for zone, subnet in zip(zones, public, strict=False):
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=subnet.id,
                                          route_table_id=public_rt.id, opts=child)
        nat_gateways = []
        nat_zones = zones if strategy == "per-az" else zones[:1]
        for zone, subnet in zip(nat_zones, public, strict=False):
            eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=self._tags(f"nat-{zone}"), opts=child)
            nat_gateways.append(aws.ec2.NatGateway(
                f"{name}-nat-{zone}", allocation_id=eip.id, subnet_id=subnet.id, tags=self._tags(f"nat-{zone}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw])))
        return public, nat_gateways

    def _private_routes(self, vpc: aws.ec2.Vpc, private: list[aws.ec2.Subnet],
                        nat_gateways: list[aws.ec2.NatGateway]) -> list[aws.ec2.RouteTable]:
        """One route table per subnet with per-AZ NAT (an AZ outage does not cut the others off),
        one shared table otherwise."""
        name, zones, child = self._name, self._zones, self._child
        per_az = self._args.settings.nat_strategy == "per-az"
        tables: list[aws.ec2.RouteTable] = []
        table_count = len(zones) if per_az else 1
        for i in range(table_count):
            label = f"private-{zones[i]}" if per_az else "private"
            table = aws.ec2.RouteTable(f"{name}-{label}", vpc_id=vpc.id, tags=self._tags(label), opts=child)
            if nat_gateways:
                aws.ec2.Route(f"{name}-{label}-nat", route_table_id=table.id, destination_cidr_block="0.0.0.0/0",
                              nat_gateway_id=nat_gateways[min(i, len(nat_gateways) - 1)].id, opts=child)
            tables.append(table)
        for i, (zone, subnet) in enumerate(zip(zones, private, strict=False)):
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=subnet.id,
                                          route_table_id=tables[min(i, table_count - 1)].id, opts=child)
        return tables

    def _network_acls(self, vpc: aws.ec2.Vpc, public: list[aws.ec2.Subnet], private: list[aws.ec2.Subnet],
                      database: list[aws.ec2.Subnet]) -> None:
        """Public and private tiers filter with security groups, as AWS recommends: their NACL
        admits all. The database tier's NACL admits the engine port from inside the VPC and the
        replies to it, nothing else, whatever security group a database is given.
        Without a database port the database tier stays on this NACL (not on the stripped default)."""
        name, args, child = self._name, self._args, self._child
        port = args.database_port
        application_subnets = public + private + ([] if port is not None else database)
        aws.ec2.NetworkAcl(
            f"{name}-application", vpc_id=vpc.id, subnet_ids=[s.id for s in application_subnets],
            ingress=[aws.ec2.NetworkAclIngressArgs(rule_no=100, action="allow", protocol="-1", from_port=0, to_port=0,
                                                   cidr_block="0.0.0.0/0")],
            egress=[aws.ec2.NetworkAclEgressArgs(rule_no=100, action="allow", protocol="-1", from_port=0, to_port=0,
                                                 cidr_block="0.0.0.0/0")],
            tags=self._tags("application"), opts=child)
        if port is None:
            return
        admitted = [args.settings.vpc_cidr, *args.settings.database_nacl_extra_cidrs]
        aws.ec2.NetworkAcl(
            f"{name}-database", vpc_id=vpc.id, subnet_ids=[s.id for s in database],
            ingress=[aws.ec2.NetworkAclIngressArgs(rule_no=100 + 10 * i, action="allow", protocol="tcp",
                                                   from_port=port, to_port=port, cidr_block=cidr)
                     for i, cidr in enumerate(admitted)],
            egress=[aws.ec2.NetworkAclEgressArgs(rule_no=100 + 10 * i, action="allow", protocol="tcp",
                                                 from_port=1024, to_port=65535, cidr_block=cidr)
                    for i, cidr in enumerate(admitted)],
            tags=self._tags("database"), opts=child)

    def _database_tier(self, vpc: aws.ec2.Vpc, database: list[aws.ec2.Subnet]
                       ) -> tuple[aws.ec2.RouteTable, aws.rds.SubnetGroup]:
        """The database tier's own table with only the local route (and the S3 gateway endpoint),
        explicitly associated so a later change to the VPC's main table cannot reach it; the DB subnet group."""
        name, child = self._name, self._child
        database_rt = aws.ec2.RouteTable(f"{name}-database", vpc_id=vpc.id, tags=self._tags("database"), opts=child)
        for zone, subnet in zip(self._zones, database, strict=False):
            aws.ec2.RouteTableAssociation(f"{name}-database-{zone}", subnet_id=subnet.id,
                                          route_table_id=database_rt.id, opts=child)
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-db", name=f"{self._prefix}-db", description=f"Isolated database subnets of {self._prefix}",
            subnet_ids=[s.id for s in database], tags=self._tags("db"), opts=child)
        return database_rt, subnet_group

    def _interface_endpoints(self, vpc: aws.ec2.Vpc, private: list[aws.ec2.Subnet]) -> pulumi.Output[str] | None:
        """Interface endpoints in the private subnets behind one HTTPS-from-the-VPC group; its id."""
        name, settings, child = self._name, self._args.settings, self._child
        if not settings.interface_endpoints:
            return None
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints", vpc_id=vpc.id, description="HTTPS from inside the VPC to interface endpoints",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                      cidr_blocks=[settings.vpc_cidr], description="HTTPS from the VPC")],
            egress=[], tags=self._tags("endpoints"), opts=child)
        for service in settings.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{name}-{service}", vpc_id=vpc.id, service_name=f"com.amazonaws.{self._args.region}.{service}",
                vpc_endpoint_type="Interface", private_dns_enabled=True, subnet_ids=[s.id for s in private],
                security_group_ids=[endpoint_sg.id], tags=self._tags(service), opts=child)
        return endpoint_sg.id

    def _flow_logs(self, vpc: aws.ec2.Vpc) -> None:
        name, prefix, args, child = self._name, self._prefix, self._args, self._child
        account = AccountContext.of(args.account, self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", name=f"/aurora-platform/vpc-flow-logs/{prefix}",
            retention_in_days=args.log_retention_days, kms_key_id=args.kms_key_arn, opts=child)
        role = aws.iam.Role(
            f"{name}-flow-logs",
            description="VPC flow logs delivery to their log group",
            assume_role_policy=account.apply(lambda account_id, partition: service_trust_policy("vpc-flow-logs.amazonaws.com", {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:ec2:{args.region}:{account_id}:vpc-flow-log/*"},
            })),
            opts=child)
        # AWS's documented flow-log role policy ("IAM role for publishing flow logs to CloudWatch Logs",
        # https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html) grants
        # CreateLogGroup, CreateLogStream, PutLogEvents, DescribeLogGroups and DescribeLogStreams on "*".
        # Here the writes are scoped to this flow log's own group, and CreateLogGroup is left out: the
        # group is pre-created with the region key and retention. DescribeLogGroups lists groups and
        # takes no group ARN of its own, so it keeps the documented "*".
        policy = aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(lambda arn: json.dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        "Resource": [arn, f"{arn}:*"],
                    },
                    {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
                ],
            })),
            opts=child)
        # A flow log created before its role can write stays in "access error": it waits for the
        # policy, not only for the role's ARN.
        aws.ec2.FlowLog(
            f"{name}-flow-logs", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn, iam_role_arn=role.arn, max_aggregation_interval=60,
            tags={"Name": f"{prefix}-flow-logs"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))
