"""aurora-platform: composes the components from the validated stack settings."""

import dataclasses

import pulumi
import pulumi_aws as aws

from components import naming
from components.account import AccountContext
from components.aurora_cluster import AuroraCluster, AuroraClusterArgs, ClusterPlacement
from components.break_glass import BreakGlassAccess, BreakGlassAccessArgs
from components.custom_endpoints import CustomEndpoints, CustomEndpointsArgs
from components.database_backup import BackupRegion, DatabaseBackup, DatabaseBackupArgs, daily_schedule_after
from components.database_proxy import DatabaseProxy, DatabaseProxyArgs
from components.global_database import GlobalDatabase, GlobalDatabaseArgs
from components.instance_fleet import InstanceFleet, InstanceFleetArgs
from components.monitoring import DatabaseMonitoring, DatabaseMonitoringArgs
from components.network import Network, NetworkArgs
from components.region_key import RegionKey, RegionKeyArgs
from components.runtime_settings import load_settings

settings = load_settings()  # raises SettingsError (printed without a traceback) before any resource
for warning in settings.warnings:
    pulumi.warn(warning)

stack = pulumi.get_stack()
prefix = naming.stack_prefix(stack)
db, access = settings.database, settings.access
primary_region, writer_region = settings.primary_region, settings.writer_region
secondary_settings = {s.region: s for s in (settings.global_database.secondary_regions if settings.global_database else ())}

providers: dict[str, aws.Provider] = {}
accounts: dict[str, AccountContext] = {}  # the account id and partition, invoked once per provider
keys: dict[str, RegionKey] = {}
networks: dict[str, Network] = {}


def in_region(region: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(provider=providers[region])


def network_settings(region: str):
    """A secondary region's VPC has its own CIDR and zones. Admitted security groups are the primary
    region's only (they are regional), and so are the networks outside the VPC they may live in."""
    secondary = secondary_settings.get(region)
    if secondary is None:
        return settings.network
    return dataclasses.replace(settings.network, vpc_cidr=secondary.vpc_cidr,
                               availability_zones=secondary.availability_zones, database_nacl_extra_cidrs=())


def placement(region: str) -> ClusterPlacement:
    network = networks[region]
    return ClusterPlacement(region=region, vpc_id=network.vpc_id, db_subnet_group_name=network.db_subnet_group_name,
                            availability_zones=network.availability_zones, kms_key_arn=keys[region].arn,
                            account=accounts[region])


# One explicit provider, account, key and network per region; a backup copy region outside the member
# regions (a single-region stack's backupCopyRegion) gets a provider and a key for its vault only.
for region in settings.regions + settings.backup_only_regions:
    providers[region] = aws.Provider(f"aws-{region}", region=region,
                                     default_tags=aws.ProviderDefaultTagsArgs(tags=naming.stack_tags(stack)))
    accounts[region] = AccountContext.of_provider(providers[region])
    keys[region] = RegionKey(
        f"key-{region}",
        RegionKeyArgs(region=region, alias=naming.regional_name(stack, region), account=accounts[region],
                      deletion_window_days=settings.kms_deletion_window_days, protect=settings.protect_resources),
        opts=in_region(region),
    )
    if region in settings.regions:
        networks[region] = Network(
            f"network-{region}",
            NetworkArgs(network_settings(region), region=region, kms_key_arn=keys[region].arn,
                        log_retention_days=settings.log_retention_days, database_port=db.port, name_prefix=prefix,
                        account=accounts[region]),
            opts=in_region(region),
        )

cluster_args = AuroraClusterArgs(
    db,
    identifier=naming.cluster_identifier(stack, primary_region),
    placement=placement(primary_region),
    log_retention_days=settings.log_retention_days,
    secret_rotation_days=access.master_password_rotation_days,
    protect=settings.protect_resources,
)
global_database = None
if settings.global_database:
    global_database = GlobalDatabase(
        f"global-{prefix}",
        GlobalDatabaseArgs(
            settings.global_database,
            stack=stack,
            cluster=cluster_args,
            providers=providers,
            placements={region: placement(region) for region in secondary_settings},
            secret_recovery_window_days=30 if settings.production else 7,
            master_password=access.master_password or None,  # set by `deploy rotate-password`
        ),
    )
    clusters: dict[str, AuroraCluster] = global_database.members
    secret_arns: dict[str, pulumi.Output] = global_database.secret_arns
else:
    clusters = {primary_region: AuroraCluster(f"aurora-{primary_region}", cluster_args, opts=in_region(primary_region))}
    secret_arns = {primary_region: clusters[primary_region].secret_arn}

# Custom endpoints on the writer region's cluster (its instance numbers are the ones the settings checked).
custom_endpoints: dict[str, CustomEndpoints] = {}
if db.custom_endpoints:
    custom_endpoints[writer_region] = CustomEndpoints(
        f"endpoints-{writer_region}",
        CustomEndpointsArgs(db.custom_endpoints, cluster=clusters[writer_region], stack=stack, region=writer_region),
        opts=in_region(writer_region),
    )

# RDS Proxy in every member region whose cluster has instances (a headless secondary has nothing
# to route to); AWS supports a proxy on any cluster of a global database, a secondary's serving reads:
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy-gdb.html
proxies: dict[str, DatabaseProxy] = {}
for region, cluster in clusters.items() if access.proxy_enabled else ():
    if cluster.instance_count:
        proxies[region] = DatabaseProxy(
            f"proxy-{region}",
            DatabaseProxyArgs(access, name=naming.proxy_name(stack, region), region=region, cluster=cluster,
                              vpc_id=networks[region].vpc_id, subnet_ids=networks[region].private_subnet_ids,
                              account=accounts[region]),
            opts=in_region(region),
        )
# Security groups named in allowedSecurityGroupIds reach the primary region's proxy as they reach its cluster.
for i, source in enumerate(db.allowed_security_group_ids if primary_region in proxies else ()):
    proxies[primary_region].allow_access_from(f"proxy-{primary_region}-allowed-{i}", source)

# Operators' break-glass read of the master secret: a policy of its own, attached to the roles
# operatorRoleArns names, never to the fleet (which logs in with IAM tokens).
break_glass = BreakGlassAccess(
    f"break-glass-{prefix}",
    BreakGlassAccessArgs(
        name_prefix=prefix,
        secrets={region: (arn, keys[region].arn) for region, arn in secret_arns.items() if arn is not None},
        settings=access,
        account=accounts[primary_region],
    ),
    opts=in_region(primary_region),
)

# The application fleet runs beside the writer. Every other member region keeps a warm-standby
# fleet (standbyFleetDesiredCapacity, default 0 instances) under the same name, so that after a
# switchover only sizes change and nothing is replaced.
fleets: dict[str, InstanceFleet] = {}
for region in clusters if settings.fleet.enabled else ():
    standby = secondary_settings[region].standby_fleet_desired_capacity if region in secondary_settings else 0
    fleets[region] = InstanceFleet(
        f"fleet-{region}",
        InstanceFleetArgs(
            settings.fleet if region == writer_region else settings.fleet.as_standby(standby),
            region=region,
            vpc_id=networks[region].vpc_id,
            private_subnet_ids=networks[region].private_subnet_ids,
            database=clusters[region],
            kms_key_arn=keys[region].arn,
            engine=db.engine,
            database_name=db.database_name,
            access=access,
            proxy=proxies.get(region),
            name_prefix=naming.regional_name(stack, region),
            account=accounts[region],
        ),
        opts=in_region(region),
    )

monitoring: dict[str, DatabaseMonitoring] = {}
for region, cluster in clusters.items():
    secondary = global_database is not None and region != writer_region
    monitoring[region] = DatabaseMonitoring(
        f"monitoring-{region}",
        DatabaseMonitoringArgs(
            settings.monitoring,
            region=region,
            database=cluster,
            kms_key_arn=keys[region].arn,
            name_prefix=naming.cluster_identifier(stack, region),
            global_member=global_database is not None,
            global_secondary=secondary,
            source_region=writer_region if secondary else None,
            fleet_asg_name=fleets[region].asg_name if region in fleets else None,
            fleet_min_size=fleets[region].min_size if region in fleets else 0,
            account=accounts[region],
        ),
        opts=in_region(region),
    )

# AWS Backup: a vault per region involved, a plan and selection per writer-capable region, copies
# to the other region's vault, vault lock and restore testing as the settings say.
backup = None
if settings.backup.enabled:
    writer_capable = set(settings.writer_capable_regions)
    backup = DatabaseBackup(
        f"backup-{prefix}",
        DatabaseBackupArgs(
            settings.backup,
            stack=stack,
            primary_region=primary_region,
            regions=[
                BackupRegion(
                    region=region,
                    provider=providers[region],
                    kms_key_arn=keys[region].arn,
                    cluster_arns=[clusters[region].cluster_arn] if region in writer_capable else [],
                    db_subnet_group_name=networks[region].db_subnet_group_name if region in networks else None,
                    security_group_ids=[clusters[region].security_group_id] if region in clusters else [],
                )
                for region in settings.regions + settings.backup_only_regions
                if region in writer_capable or region == settings.backup.copy_region
            ],
            schedule=daily_schedule_after(db.preferred_backup_window),
            protect=settings.protect_resources,
            account=accounts[primary_region],
        ),
        opts=in_region(primary_region),
    )


def optional(component, attribute: str):
    return getattr(component, attribute) if component is not None else None


primary, primary_network, fleet = clusters[primary_region], networks[primary_region], fleets.get(writer_region)
writer_proxy = proxies.get(writer_region)
pulumi.export("primaryRegion", primary_region)
pulumi.export("writerRegion", writer_region)
pulumi.export("vpcId", primary_network.vpc_id)
pulumi.export("privateSubnetIds", primary_network.private_subnet_ids)
pulumi.export("databaseSubnetIds", primary_network.database_subnet_ids)
pulumi.export("clusterIdentifier", primary.cluster_identifier)
pulumi.export("clusterArn", primary.cluster_arn)
pulumi.export("writerEndpoint", primary.writer_endpoint)
pulumi.export("readerEndpoint", primary.reader_endpoint)
pulumi.export("port", primary.port)
pulumi.export("dbSecurityGroupId", primary.security_group_id)
pulumi.export("secretArn", secret_arns[primary_region])
pulumi.export("kmsKeyArn", keys[primary_region].arn)
pulumi.export("fleetAsgName", optional(fleet, "asg_name"))
pulumi.export("fleetSecurityGroupId", optional(fleet, "security_group_id"))
pulumi.export("alarmTopicArn", monitoring[writer_region].topic_arn)
pulumi.export("proxyEndpoint", optional(writer_proxy, "endpoint"))
pulumi.export("proxyReadOnlyEndpoint", optional(writer_proxy, "read_only_endpoint"))
pulumi.export("proxyArn", optional(writer_proxy, "arn"))
pulumi.export("customEndpoints", optional(custom_endpoints.get(writer_region), "addresses") or {})
pulumi.export("applicationUsers", list(access.application_users))
pulumi.export("breakGlassPolicyArn", break_glass.policy_arn)
pulumi.export("backupVaultArns", optional(backup, "vault_arns"))
pulumi.export("backupVaultNames", optional(backup, "vault_names"))
pulumi.export("backupPlanIds", optional(backup, "plan_ids"))
if global_database:
    pulumi.export("globalClusterIdentifier", global_database.global_cluster_identifier)
    pulumi.export("globalWriterEndpoint", global_database.global_writer_endpoint)
pulumi.export("regions", {
    region: {
        "role": "primary" if region == primary_region else "secondary",
        "writer": region == writer_region,
        "clusterIdentifier": cluster.cluster_identifier,
        "clusterArn": cluster.cluster_arn,
        "writerEndpoint": cluster.writer_endpoint,
        "readerEndpoint": cluster.reader_endpoint,
        "dbSecurityGroupId": cluster.security_group_id,
        "secretArn": secret_arns[region],
        "kmsKeyArn": keys[region].arn,
        "vpcId": networks[region].vpc_id,
        "fleetAsgName": optional(fleets.get(region), "asg_name"),
        "fleetSecurityGroupId": optional(fleets.get(region), "security_group_id"),
        "alarmTopicArn": monitoring[region].topic_arn,
        "proxyEndpoint": optional(proxies.get(region), "endpoint"),
        "proxyReadOnlyEndpoint": optional(proxies.get(region), "read_only_endpoint"),
        "proxyArn": optional(proxies.get(region), "arn"),
        "customEndpoints": optional(custom_endpoints.get(region), "addresses") or {},
        "parameterGroups": cluster.parameter_group_names,  # family -> {cluster, instance}: for `deploy upgrade`
    }
    for region, cluster in clusters.items()
})
