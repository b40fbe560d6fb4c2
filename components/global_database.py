"""GlobalDatabase: an Aurora Global Database, a primary cluster and a secondary per extra region."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aurora_cluster import AuroraCluster, AuroraClusterArgs, ClusterPlacement
from components.aws_facts import MASTER_PASSWORD_LENGTH, MASTER_PASSWORD_SPECIALS, MAX_SECONDARY_REGIONS
from components.naming import cluster_identifier, global_cluster_identifier, global_master_secret_name
from components.publish import publish
from components.settings import DatabaseSettings, GlobalDatabaseSettings

# RDS's secret format: the engine name AWS's rotation functions and RDS Proxy expect, per engine.
SECRET_ENGINES = {"aurora-postgresql": "postgres", "aurora-mysql": "mysql"}


def master_secret_json(database: DatabaseSettings, password: str, members: dict[str, list[str]],
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
        "engine": SECRET_ENGINES[database.engine],
        "host": writer_host,
        "username": database.master_username,
        "password": password,
        "dbname": database.database_name,
        "port": database.port,
        "dbClusterIdentifier": writer_id,
        "regions": {region: {"host": host, "readerHost": reader, "dbClusterIdentifier": identifier,
                             "writer": region == writer_region}
                    for region, (host, reader, identifier) in members.items()},
    })


@dataclass
class GlobalDatabaseArgs:
    settings: GlobalDatabaseSettings
    """The global database settings: the writer region, write forwarding, and per secondary region its
    instance count (0 makes a headless secondary) and class (1 to 5 secondaries)."""
    stack: str
    """The stack: the global cluster, member clusters and master secret are named after it (``components.naming``)."""
    cluster: AuroraClusterArgs
    """The primary member as a regional cluster would be (database settings, identifier, placement,
    retention, protect): every member shares its settings; the placement of a secondary comes from
    ``placements``, its instances from ``settings``."""
    providers: dict[str, aws.Provider]
    """Explicit provider of every member region: each member is created through its own."""
    placements: dict[str, ClusterPlacement]
    """Network, key and account of every secondary region (a member is encrypted with a key of its own region)."""
    secret_recovery_window_days: int = 30
    """Days a deleted master secret stays recoverable (0 deletes at once; dev only)."""
    master_password: pulumi.Input[str] | None = None
    """The password ``deploy rotate-password`` set (the ``masterPassword`` secret config value): the
    stack's config is then the source of truth, so a later ``pulumi up`` writes this one, never the
    generated one again, to the primary cluster and the secret. ``None``: the generated password."""

    @property
    def primary_region(self) -> str:
        return self.cluster.placement.region

    def __post_init__(self):
        secondaries = [s.region for s in self.settings.secondary_regions]
        regions = [self.primary_region, *secondaries]
        if len(set(regions)) != len(regions):
            raise ValueError(f"member regions must be distinct, got {regions}")
        if len(secondaries) > MAX_SECONDARY_REGIONS:
            raise ValueError(f"a global database has at most 5 secondary regions, got {len(secondaries)}")
        if self.cluster.settings.backtrack_window_hours:
            raise ValueError("backtrack is not supported with Aurora Global Database; set backtrack_window_hours to 0")
        if self.cluster.total_instances < 1:
            raise ValueError("the primary member needs at least its writer instance")
        missing = [r for r in regions if r not in self.providers] + [r for r in secondaries if r not in self.placements]
        if missing:
            raise ValueError("every member region needs a provider and every secondary a placement; "
                             f"missing {sorted(set(missing))}")


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
        self._args = args
        base = args.cluster
        primary_region = args.primary_region
        in_primary = pulumi.ResourceOptions(parent=self, provider=args.providers[primary_region])
        identifier = global_cluster_identifier(args.stack)

        self.global_cluster = aws.rds.GlobalCluster(
            name,
            global_cluster_identifier=identifier,
            engine=base.settings.engine,
            engine_version=base.settings.engine_version,
            storage_encrypted=True,
            deletion_protection=base.settings.deletion_protection,
            opts=pulumi.ResourceOptions.merge(in_primary, pulumi.ResourceOptions(
                protect=base.protect,
                # Upgrades of a global database are run on the global cluster by
                # AWS (minor) or by an operator (major, README); not by a diff here.
                ignore_changes=["engineVersion"])),
        )
        master_password = self._master_secret(name, identifier, in_primary)

        self.primary = AuroraCluster(
            f"aurora-{primary_region}",
            self._member_args(primary_region, base.placement, base.instance_count, base.settings.instance_class,
                              base.settings.reader_instance_class,
                              master_password=master_password, master_secret_arn=self.secret.arn),
            opts=in_primary,
        )
        self.secondaries = {}
        for secondary in args.settings.secondary_regions:
            region = secondary.region
            self.secondaries[region] = AuroraCluster(
                f"aurora-{region}",
                self._member_args(
                    region, args.placements[region], secondary.instance_count, secondary.instance_class,
                    secondary.instance_class,
                    global_secondary=True,
                    # AWS refuses a secondary until the primary has a writer instance; waiting on
                    # the cluster resource alone is not enough.
                    depends_on=[self.primary.writer_instance],
                ),
                opts=pulumi.ResourceOptions(parent=self, provider=args.providers[region]),
            )
        self.members = {primary_region: self.primary, **self.secondaries}
        self._secret_value(name, master_password, in_primary)

        self.secret_arns = {primary_region: self.secret.arn}
        for region in self.secondaries:
            # A replica keeps the primary secret's name and suffix; only the region differs.
            self.secret_arns[region] = self.secret.arn.apply(
                lambda arn, region=region: ":".join(arn.split(":")[:3] + [region] + arn.split(":")[4:]))
        publish(self, global_cluster_identifier=self.global_cluster.global_cluster_identifier,
                global_writer_endpoint=self.global_cluster.endpoint, secret_arns=self.secret_arns,
                member_arns={region: c.cluster_arn for region, c in self.members.items()})

    def _master_secret(self, name: str, identifier: str, in_primary: pulumi.ResourceOptions) -> pulumi.Output[str]:
        """The generated password (or the rotated one from the settings) and its secret, replicated to
        every secondary region with that region's key."""
        args = self._args
        password = random.RandomPassword(
            f"{name}-master-password", length=MASTER_PASSWORD_LENGTH, special=True, override_special=MASTER_PASSWORD_SPECIALS,
            min_lower=1, min_upper=1, min_numeric=1, opts=pulumi.ResourceOptions(parent=self))
        self.secret = aws.secretsmanager.Secret(
            f"{name}-master",
            name=global_master_secret_name(args.stack),
            description=f"Master credentials of the Aurora global database {identifier}",
            kms_key_id=args.cluster.placement.kms_key_arn,
            recovery_window_in_days=args.secret_recovery_window_days,
            replicas=[aws.secretsmanager.SecretReplicaArgs(region=s.region, kms_key_id=args.placements[s.region].kms_key_arn)
                      for s in args.settings.secondary_regions],
            opts=pulumi.ResourceOptions.merge(in_primary, pulumi.ResourceOptions(protect=args.cluster.protect)),
        )
        if args.master_password is not None:
            return pulumi.Output.secret(args.master_password)
        return password.result

    def _member_args(self, region: str, placement: ClusterPlacement, instance_count: int | None, instance_class: str,
                     reader_instance_class: str, **overrides) -> AuroraClusterArgs:
        """The primary's args placed in ``region``: its instances, a member of the global cluster;
        reader auto scaling follows the writer region. Security group ids are regional: a secondary
        admits none of the primary's (callers admit their own groups per member)."""
        args = self._args
        base = args.cluster
        writer = region == args.settings.writer_region
        secondary = overrides.get("global_secondary", False)
        settings = dataclasses.replace(
            base.settings,
            instance_class=instance_class,
            reader_instance_class=reader_instance_class,
            reader_auto_scaling=base.settings.reader_auto_scaling and writer,
            allowed_security_group_ids=() if secondary else base.settings.allowed_security_group_ids,
        )
        return dataclasses.replace(
            base,
            settings=settings,
            identifier=cluster_identifier(args.stack, region),
            placement=placement,
            instance_count=instance_count,
            global_cluster_identifier=self.global_cluster.id,
            global_write_forwarding=args.settings.write_forwarding and not writer,
            **overrides,
        )

    def _secret_value(self, name: str, master_password: pulumi.Output[str], in_primary: pulumi.ResourceOptions) -> None:
        """The secret's value: the password and every member's endpoints, ``host`` the writer region's."""
        writer_region = self._args.settings.writer_region
        aws.secretsmanager.SecretVersion(
            f"{name}-master",
            secret_id=self.secret.id,
            secret_string=pulumi.Output.secret(pulumi.Output.all(
                master_password,
                {region: pulumi.Output.all(c.writer_endpoint, c.reader_endpoint, c.cluster_identifier)
                 for region, c in self.members.items()},
            ).apply(lambda v: master_secret_json(self._args.cluster.settings, v[0], v[1], writer_region))),
            opts=in_primary,
        )
