"""Network: one VPC per region with public, private (application) and isolated database tiers."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

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


@dataclass
class NetworkArgs:
    region: str
    """AWS region of the VPC (used in names and service endpoint names)."""
    vpc_cidr: str
    """IPv4 CIDR of the VPC, /16 to /20."""
    availability_zones: list[str]
    """AZ names to spread every tier over, e.g. ``["us-east-1a", "us-east-1b"]``."""
    kms_key_arn: pulumi.Input[str]
    """Region key that encrypts the flow log group."""
    nat_strategy: str = "per-az"
    """``none`` (no internet egress), ``single`` (one NAT gateway) or ``per-az`` (one per AZ)."""
    flow_logs: bool = True
    """Send VPC flow logs (all traffic) to a KMS-encrypted CloudWatch log group."""
    log_retention_days: int = 365
    """Retention of the flow log group."""
    interface_endpoints: list[str] = field(default_factory=list)
    """Interface endpoints (service short names such as ``kms``, ``secretsmanager``, ``ssm``, ``logs``)."""
    database_port: int | None = None
    """Engine port the database tier admits from inside the VPC (its NACL allows nothing else).
    ``None`` leaves the database subnets on the application tier's NACL."""
    database_extra_cidrs: list[str] = field(default_factory=list)
    """Networks outside the VPC (peered VPCs, on-premises) the database NACL also admits on
    ``database_port``, with the replies to them: where admitted security groups of such networks
    connect from. The database security group still decides who connects."""
    name_prefix: str = "aurora-platform"
    """Prefix of Name tags and physical names."""


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
        if args.nat_strategy not in ("none", "single", "per-az"):
            raise ValueError(f"nat_strategy must be none, single or per-az, not {args.nat_strategy!r}")
        child = pulumi.ResourceOptions(parent=self)
        zones = list(args.availability_zones)
        cidrs = subnet_cidrs(args.vpc_cidr, len(zones))
        prefix = f"{args.name_prefix}-{args.region}"

        def tags(suffix: str, **extra: str) -> dict[str, str]:
            return {"Name": f"{prefix}-{suffix}", **extra}

        vpc = aws.ec2.Vpc(name, cidr_block=args.vpc_cidr, enable_dns_support=True, enable_dns_hostnames=True,
                          tags=tags("vpc"), opts=child)

        # The default security group and NACL exist in every VPC. Both are stripped of every rule:
        # nothing can use the default SG by accident, and a subnet nobody assigned deliberately to
        # one of the NACLs below can send and receive nothing.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[],
                                     tags=tags("default-deny-all"), opts=child)
        aws.ec2.DefaultNetworkAcl(
            f"{name}-default-nacl",
            default_network_acl_id=vpc.default_network_acl_id,
            ingress=[],
            egress=[],
            tags=tags("default-deny-all"),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnetIds"]),
        )

        def subnets(tier: str) -> list[aws.ec2.Subnet]:
            return [
                aws.ec2.Subnet(
                    f"{name}-{tier}-{zone}",
                    vpc_id=vpc.id,
                    cidr_block=cidr,
                    availability_zone=zone,
                    map_public_ip_on_launch=False,
                    tags=tags(f"{tier}-{zone}", tier=tier),
                    opts=child,
                )
                for zone, cidr in zip(zones, cidrs[tier], strict=False)
            ]

        private = subnets("private")
        database = subnets("database")
        public: list[aws.ec2.Subnet] = []
        nat_gateways: list[aws.ec2.NatGateway] = []
        if args.nat_strategy != "none":
            public = subnets("public")
            igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)
            public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags=tags("public"), opts=child)
            aws.ec2.Route(f"{name}-public-internet", route_table_id=public_rt.id,
                          destination_cidr_block="0.0.0.0/0", gateway_id=igw.id, opts=child)
            for zone, subnet in zip(zones, public, strict=False):
                aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=subnet.id,
                                              route_table_id=public_rt.id, opts=child)
            nat_zones = zones if args.nat_strategy == "per-az" else zones[:1]
            for zone, subnet in zip(nat_zones, public, strict=False):
                eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=tags(f"nat-{zone}"), opts=child)
                nat_gateways.append(aws.ec2.NatGateway(
                    f"{name}-nat-{zone}", allocation_id=eip.id, subnet_id=subnet.id, tags=tags(f"nat-{zone}"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw])))

        # Private tier: one route table per subnet with per-AZ NAT (an AZ outage does not cut the
        # others off), one shared table otherwise.
        private_tables: list[aws.ec2.RouteTable] = []
        table_count = len(zones) if args.nat_strategy == "per-az" else 1
        for i in range(table_count):
            label = f"private-{zones[i]}" if args.nat_strategy == "per-az" else "private"
            table = aws.ec2.RouteTable(f"{name}-{label}", vpc_id=vpc.id, tags=tags(label), opts=child)
            if nat_gateways:
                aws.ec2.Route(f"{name}-{label}-nat", route_table_id=table.id, destination_cidr_block="0.0.0.0/0",
                              nat_gateway_id=nat_gateways[min(i, len(nat_gateways) - 1)].id, opts=child)
            private_tables.append(table)
        for i, (zone, subnet) in enumerate(zip(zones, private, strict=False)):
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=subnet.id,
                                          route_table_id=private_tables[min(i, table_count - 1)].id, opts=child)

        # Public and private tiers filter with security groups, as AWS recommends: their NACL
        # admits all. The database tier's NACL admits the engine port from inside the VPC and the
        # replies to it, nothing else, whatever security group a database is given.
        # Without a database port the database tier stays on this NACL (not on the stripped default).
        application_subnets = public + private + ([] if args.database_port is not None else database)
        aws.ec2.NetworkAcl(
            f"{name}-application", vpc_id=vpc.id, subnet_ids=[s.id for s in application_subnets],
            ingress=[aws.ec2.NetworkAclIngressArgs(rule_no=100, action="allow", protocol="-1", from_port=0, to_port=0,
                                                   cidr_block="0.0.0.0/0")],
            egress=[aws.ec2.NetworkAclEgressArgs(rule_no=100, action="allow", protocol="-1", from_port=0, to_port=0,
                                                 cidr_block="0.0.0.0/0")],
            tags=tags("application"), opts=child)
        if args.database_port is not None:
            admitted = [args.vpc_cidr, *args.database_extra_cidrs]
            aws.ec2.NetworkAcl(
                f"{name}-database", vpc_id=vpc.id, subnet_ids=[s.id for s in database],
                ingress=[aws.ec2.NetworkAclIngressArgs(rule_no=100 + 10 * i, action="allow", protocol="tcp",
                                                       from_port=args.database_port, to_port=args.database_port,
                                                       cidr_block=cidr) for i, cidr in enumerate(admitted)],
                egress=[aws.ec2.NetworkAclEgressArgs(rule_no=100 + 10 * i, action="allow", protocol="tcp",
                                                     from_port=1024, to_port=65535, cidr_block=cidr)
                        for i, cidr in enumerate(admitted)],
                tags=tags("database"), opts=child)

        # Database tier: its own table with only the local route (and the S3 gateway endpoint),
        # explicitly associated so a later change to the VPC's main table cannot reach it.
        database_rt = aws.ec2.RouteTable(f"{name}-database", vpc_id=vpc.id, tags=tags("database"), opts=child)
        for zone, subnet in zip(zones, database, strict=False):
            aws.ec2.RouteTableAssociation(f"{name}-database-{zone}", subnet_id=subnet.id,
                                          route_table_id=database_rt.id, opts=child)
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-db", name=f"{prefix}-db", description=f"Isolated database subnets of {prefix}",
            subnet_ids=[s.id for s in database], tags=tags("db"), opts=child)

        aws.ec2.VpcEndpoint(
            f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway", route_table_ids=[t.id for t in private_tables] + [database_rt.id],
            tags=tags("s3"), opts=child)

        self.endpoint_security_group_id = None
        if args.interface_endpoints:
            endpoint_sg = aws.ec2.SecurityGroup(
                f"{name}-endpoints", vpc_id=vpc.id, description="HTTPS from inside the VPC to interface endpoints",
                ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                          cidr_blocks=[args.vpc_cidr], description="HTTPS from the VPC")],
                egress=[], tags=tags("endpoints"), opts=child)
            for service in args.interface_endpoints:
                aws.ec2.VpcEndpoint(
                    f"{name}-{service}", vpc_id=vpc.id, service_name=f"com.amazonaws.{args.region}.{service}",
                    vpc_endpoint_type="Interface", private_dns_enabled=True, subnet_ids=[s.id for s in private],
                    security_group_ids=[endpoint_sg.id], tags=tags(service), opts=child)
            self.endpoint_security_group_id = endpoint_sg.id

        if args.flow_logs:
            self._flow_logs(name, prefix, vpc, args)

        self.vpc_id = vpc.id
        self.vpc_cidr = args.vpc_cidr
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

    def _flow_logs(self, name: str, prefix: str, vpc: aws.ec2.Vpc, args: NetworkArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", name=f"/aurora-platform/vpc-flow-logs/{prefix}",
            retention_in_days=args.log_retention_days, kms_key_id=args.kms_key_arn, opts=child)
        role = aws.iam.Role(
            f"{name}-flow-logs",
            description="VPC flow logs delivery to their log group",
            assume_role_policy=pulumi.Output.all(identity.account_id, partition.partition).apply(lambda v: json.dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": v[0]},
                        "ArnLike": {"aws:SourceArn": f"arn:{v[1]}:ec2:{args.region}:{v[0]}:vpc-flow-log/*"},
                    },
                }],
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
