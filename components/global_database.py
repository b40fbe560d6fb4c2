"""GlobalDatabase: an Aurora Global Database, a primary cluster and a secondary per extra region."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aurora_cluster import AuroraCluster, AuroraClusterArgs
from components.project import MASTER_PASSWORD_LENGTH, MASTER_PASSWORD_SPECIALS
from components.settings import ENGINE_PORTS

# RDS's secret format: the engine name AWS's rotation functions and RDS Proxy expect, per engine.
SECRET_ENGINES = {"aurora-postgresql": "postgres", "aurora-mysql": "mysql"}


def master_secret_json(cluster: AuroraClusterArgs, password: str, members: dict[str, list[str]],
                       writer_region: str) -> str:
    """The master secret's value in Secrets Manager's JSON structure for Amazon RDS and Aurora
    credentials (engine, host, username, password, dbname, port, dbClusterIdentifier):
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html

    One secret is replicated to every member region and a replica always carries the primary's value,
    so ``host`` cannot be "this region's member" everywhere. It is the writer endpoint (cluster
    endpoint) of the member in the writer region (``globalDatabase.writerRegion``: the secret's own
    region until a switchover, after which the next ``pulumi up`` moves it), which is what anything
    that changes the password or writes must reach. Every member's endpoints are listed under
    ``regions``, the extra connection information for other regions the same page allows.
    ``members`` maps region -> [writer endpoint, reader endpoint, cluster identifier].
    """
    writer_host, _, writer_id = members[writer_region]
    return json.dumps({
        "engine": SECRET_ENGINES[cluster.engine],
        "host": writer_host,
        "username": cluster.master_username,
        "password": password,
        "dbname": cluster.database_name,
        "port": ENGINE_PORTS[cluster.engine],
        "dbClusterIdentifier": writer_id,
        "regions": {region: {"host": host, "readerHost": reader, "dbClusterIdentifier": identifier,
                             "writer": region == writer_region}
                    for region, (host, reader, identifier) in members.items()},
    })


@dataclass
class GlobalMember:
    """Where one member cluster lives: its region's provider, network and key."""

    region: str
    """AWS region of the member."""
    provider: aws.Provider
    """Explicit provider of that region: every resource of the member is created through it."""
    vpc_id: pulumi.Input[str]
    """VPC of the member's database security group."""
    db_subnet_group_name: pulumi.Input[str]
    """DB subnet group over that region's isolated database subnets."""
    availability_zones: list[str]
    """AZs to spread the member's instances over."""
    kms_key_arn: pulumi.Input[str]
    """CMK of that region: a member is encrypted with a key of its own region."""
    instance_count: int
    """Instances of the member; 0 makes a headless secondary (storage replica only)."""
    instance_class: str
    """Instance class of the member's instances."""
    writer: bool = False
    """The member currently holds the writer (``globalDatabase.writerRegion``): reader auto
    scaling follows it."""
    write_forwarding: bool = False
    """Forward writes to the writer (for members that are not the writer)."""


@dataclass
class GlobalDatabaseArgs:
    identifier: str
    """Global cluster identifier; member clusters are ``<identifier>-<region>``."""
    cluster: AuroraClusterArgs
    """Settings every member shares (engine, version, backups, monitoring...). Its placement
    fields (identifier, region, network, key, instances) are replaced per member."""
    primary: GlobalMember
    """The region the global database is created in: it carries the credentials."""
    secondaries: list[GlobalMember] = field(default_factory=list)
    """One entry per secondary region (0 to 5)."""
    deletion_protection: bool = True
    """RDS deletion protection on the global cluster."""
    protect: bool = True
    """Pulumi ``protect`` on the global cluster, every member cluster and the secret."""
    secret_recovery_window_days: int = 30
    """Days a deleted master secret stays recoverable (0 deletes at once; dev only)."""
    master_password: pulumi.Input[str] | None = None
    """The password ``deploy rotate-password`` set (the ``masterPassword`` secret config value): the
    stack's config is then the source of truth, so a later ``pulumi up`` writes this one, never the
    generated one again, to the primary cluster and the secret. ``None``: the generated password."""

    def __post_init__(self):
        regions = [self.primary.region] + [s.region for s in self.secondaries]
        if len(set(regions)) != len(regions):
            raise ValueError(f"member regions must be distinct, got {regions}")
        if len(self.secondaries) > 5:
            raise ValueError(f"a global database has at most 5 secondary regions, got {len(self.secondaries)}")
        if self.cluster.backtrack_window_hours:
            raise ValueError("backtrack is not supported with Aurora Global Database; set backtrack_window_hours to 0")
        if self.primary.instance_count < 1:
            raise ValueError("the primary member needs at least its writer instance")


class GlobalDatabase(pulumi.ComponentResource):
    """Global cluster + members, with the failure modes of global databases designed out:

    - secondaries carry no credentials or database name; the primary's password is generated,
      kept a Pulumi secret and stored in Secrets Manager, replicated to every secondary region
      with that region's key (a promoted region has its credentials);
    - each member is encrypted with a key of its own region;
    - a secondary is created only after the primary's writer instance exists;
    - members ignore drift in engine version, global membership and replication source, so a
      later ``pulumi up`` neither detaches nor promotes them after AWS-side changes.
    """

    global_cluster: aws.rds.GlobalCluster
    primary: AuroraCluster
    secondaries: dict[str, AuroraCluster]
    members: dict[str, AuroraCluster]
    secret: aws.secretsmanager.Secret
    secret_arns: dict[str, pulumi.Output[str]]
    global_cluster_identifier: pulumi.Output[str]
    global_writer_endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: GlobalDatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:database:GlobalDatabase", name, None, opts)
        base = args.cluster
        primary = args.primary
        in_primary = pulumi.ResourceOptions(parent=self, provider=primary.provider)

        self.global_cluster = aws.rds.GlobalCluster(
            name,
            global_cluster_identifier=args.identifier,
            engine=base.engine,
            engine_version=base.engine_version,
            storage_encrypted=True,
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self, provider=primary.provider, protect=args.protect,
                                        # Upgrades of a global database are run on the global cluster by
                                        # AWS (minor) or by an operator (major, README); not by a diff here.
                                        ignore_changes=["engineVersion"]),
        )

        password = random.RandomPassword(
            f"{name}-master-password", length=MASTER_PASSWORD_LENGTH, special=True, override_special=MASTER_PASSWORD_SPECIALS,
            min_lower=1, min_upper=1, min_numeric=1, opts=pulumi.ResourceOptions(parent=self))
        master_password = (pulumi.Output.secret(args.master_password) if args.master_password is not None
                           else password.result)
        self.secret = aws.secretsmanager.Secret(
            f"{name}-master",
            name=f"{args.identifier}/master",
            description=f"Master credentials of the Aurora global database {args.identifier}",
            kms_key_id=primary.kms_key_arn,
            recovery_window_in_days=args.secret_recovery_window_days,
            replicas=[aws.secretsmanager.SecretReplicaArgs(region=s.region, kms_key_id=s.kms_key_arn)
                      for s in args.secondaries],
            opts=pulumi.ResourceOptions.merge(in_primary, pulumi.ResourceOptions(protect=args.protect)),
        )

        def member_args(member: GlobalMember, **overrides) -> AuroraClusterArgs:
            return dataclasses.replace(
                base,
                identifier=f"{args.identifier}-{member.region}",
                region=member.region,
                vpc_id=member.vpc_id,
                db_subnet_group_name=member.db_subnet_group_name,
                availability_zones=member.availability_zones,
                kms_key_arn=member.kms_key_arn,
                instance_count=member.instance_count,
                instance_class=member.instance_class,
                reader_instance_class=member.instance_class if member is not primary else base.reader_instance_class,
                global_cluster_identifier=self.global_cluster.id,
                global_write_forwarding=member.write_forwarding and not member.writer,
                reader_auto_scaling=base.reader_auto_scaling and member.writer,
                protect=args.protect,
                **overrides,
            )

        self.primary = AuroraCluster(
            f"aurora-{primary.region}",
            member_args(primary, master_password=master_password, master_secret_arn=self.secret.arn),
            opts=in_primary,
        )
        self.secondaries = {}
        for member in args.secondaries:
            self.secondaries[member.region] = AuroraCluster(
                f"aurora-{member.region}",
                member_args(
                    member,
                    database_name=None,
                    master_username=None,
                    master_password=None,
                    global_secondary=True,
                    # Security group ids are regional; callers admit their own groups per member.
                    allowed_security_group_ids=[],
                    # AWS refuses a secondary until the primary has a writer instance; waiting on
                    # the cluster resource alone is not enough.
                    depends_on=[self.primary.writer_instance],
                ),
                opts=pulumi.ResourceOptions(parent=self, provider=member.provider),
            )
        self.members = {primary.region: self.primary, **self.secondaries}

        writer_region = next((m.region for m in [primary, *args.secondaries] if m.writer), primary.region)
        aws.secretsmanager.SecretVersion(
            f"{name}-master",
            secret_id=self.secret.id,
            secret_string=pulumi.Output.secret(pulumi.Output.all(
                master_password,
                {region: pulumi.Output.all(c.writer_endpoint, c.reader_endpoint, c.cluster_identifier)
                 for region, c in self.members.items()},
            ).apply(lambda v: master_secret_json(base, v[0], v[1], writer_region))),
            opts=in_primary,
        )

        self.secret_arns = {primary.region: self.secret.arn}
        for member in args.secondaries:
            # A replica keeps the primary secret's name and suffix; only the region differs.
            self.secret_arns[member.region] = self.secret.arn.apply(
                lambda arn, region=member.region: ":".join(arn.split(":")[:3] + [region] + arn.split(":")[4:]))
        self.global_cluster_identifier = self.global_cluster.global_cluster_identifier
        self.global_writer_endpoint = self.global_cluster.endpoint
        self.register_outputs({
            "global_cluster_identifier": self.global_cluster_identifier,
            "global_writer_endpoint": self.global_writer_endpoint,
            "secret_arns": self.secret_arns,
            "members": {region: c.cluster_arn for region, c in self.members.items()},
        })
