"""aurora-platform: composes the components from the validated stack settings."""

import pulumi
import pulumi_aws as aws

from components.aurora_cluster import AuroraCluster, AuroraClusterArgs
from components.break_glass import BreakGlassAccess, BreakGlassAccessArgs
from components.database_backup import BackupRegion, DatabaseBackup, DatabaseBackupArgs, daily_schedule_after
from components.database_proxy import DatabaseProxy, DatabaseProxyArgs
from components.global_database import GlobalDatabase, GlobalDatabaseArgs, GlobalMember
from components.instance_fleet import InstanceFleet, InstanceFleetArgs
from components.monitoring import DatabaseMonitoring, DatabaseMonitoringArgs
from components.network import Network, NetworkArgs
from components.region_key import RegionKey, RegionKeyArgs
from components.settings import data_api_supported, load_settings

settings = load_settings()  # raises SettingsError (printed without a traceback) before any resource
for warning in settings.warnings:
    pulumi.warn(warning)

project, stack = pulumi.get_project(), pulumi.get_stack()
db = settings.database
prefix = f"{project}-{stack}"
secondary_settings = {s.region: s for s in (settings.global_database.secondary_regions if settings.global_database else ())}

# One explicit provider, key and network per region; a backup copy region outside the member
# regions (a single-region stack's backupCopyRegion) gets a provider and a key for its vault only.
providers: dict[str, aws.Provider] = {}
keys: dict[str, RegionKey] = {}
networks: dict[str, Network] = {}
for region in settings.regions + settings.backup_only_regions:
    secondary = secondary_settings.get(region)
    providers[region] = aws.Provider(
        f"aws-{region}",
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags={"project": project, "stack": stack, "managed-by": "pulumi"}),
    )
    in_region = pulumi.ResourceOptions(provider=providers[region])
    keys[region] = RegionKey(
        f"key-{region}",
        RegionKeyArgs(region=region, alias=f"{prefix}-{region}", deletion_window_days=settings.kms_deletion_window_days,
                      protect=settings.protect_resources),
        opts=in_region,
    )
    if region not in settings.regions:
        continue
    networks[region] = Network(
        f"network-{region}",
        NetworkArgs(
            region=region,
            vpc_cidr=secondary.vpc_cidr if secondary else settings.network.vpc_cidr,
            availability_zones=list(secondary.availability_zones if secondary else settings.network.availability_zones),
            kms_key_arn=keys[region].arn,
            nat_strategy=settings.network.nat_strategy,
            flow_logs=settings.network.flow_logs,
            log_retention_days=settings.log_retention_days,
            interface_endpoints=list(settings.network.interface_endpoints),
            database_port=db.port,
            # Admitted security groups are the primary region's only (they are regional), and so are
            # the networks outside the VPC they may live in.
            database_extra_cidrs=[] if secondary else list(settings.network.database_nacl_extra_cidrs),
            name_prefix=prefix,
        ),
        opts=in_region,
    )

primary_region = settings.primary_region
primary_network = networks[primary_region]
cluster_args = AuroraClusterArgs(
    identifier=f"{prefix}-{primary_region}",
    region=primary_region,
    engine=db.engine,
    engine_version=db.engine_version,
    vpc_id=primary_network.vpc_id,
    db_subnet_group_name=primary_network.db_subnet_group_name,
    availability_zones=primary_network.availability_zones,
    kms_key_arn=keys[primary_region].arn,
    instance_class=db.instance_class,
    instance_count=1 + db.reader_count,
    reader_instance_class=db.reader_instance_class,
    serverless_min_capacity=db.serverless_min_capacity,
    serverless_max_capacity=db.serverless_max_capacity,
    database_name=db.database_name,
    master_username=db.master_username,
    storage_type=db.storage_type,
    backup_retention_days=db.backup_retention_days,
    preferred_backup_window=db.preferred_backup_window,
    preferred_maintenance_window=db.preferred_maintenance_window,
    deletion_protection=db.deletion_protection,
    skip_final_snapshot=db.skip_final_snapshot,
    iam_authentication=db.iam_authentication,
    performance_insights=db.performance_insights,
    performance_insights_retention_days=db.performance_insights_retention_days,
    monitoring_interval=db.monitoring_interval,
    backtrack_window_hours=db.backtrack_window_hours,
    log_retention_days=settings.log_retention_days,
    allowed_security_group_ids=list(db.allowed_security_group_ids),
    reader_auto_scaling=db.reader_auto_scaling,
    reader_auto_scaling_max_readers=db.reader_auto_scaling_max_readers,
    reader_auto_scaling_cpu_target=db.reader_auto_scaling_cpu_target,
    apply_immediately=db.apply_immediately,
    upgrade_target_version=db.engine_upgrade_target or None,
    secret_rotation_days=settings.access.master_password_rotation_days,
    data_api=data_api_supported(db.engine, db.engine_version, db.instance_class),  # for `deploy bootstrap-users`
    protect=settings.protect_resources,
)

clusters: dict[str, AuroraCluster]
secret_arns: dict[str, pulumi.Output]
global_database = None
if settings.global_database:
    gdb = settings.global_database

    def member(region: str, instance_count: int, instance_class: str) -> GlobalMember:
        return GlobalMember(
            region=region,
            provider=providers[region],
            vpc_id=networks[region].vpc_id,
            db_subnet_group_name=networks[region].db_subnet_group_name,
            availability_zones=networks[region].availability_zones,
            kms_key_arn=keys[region].arn,
            instance_count=instance_count,
            instance_class=instance_class,
            writer=region == gdb.writer_region,
            write_forwarding=gdb.write_forwarding,
        )

    global_database = GlobalDatabase(
        f"global-{prefix}",
        GlobalDatabaseArgs(
            identifier=prefix,
            cluster=cluster_args,
            primary=member(primary_region, 1 + db.reader_count, db.instance_class),
            secondaries=[member(s.region, s.instance_count, s.instance_class) for s in gdb.secondary_regions],
            deletion_protection=db.deletion_protection,
            protect=settings.protect_resources,
            secret_recovery_window_days=30 if settings.production else 7,
            master_password=settings.access.master_password or None,  # set by `deploy rotate-password`
        ),
    )
    clusters = global_database.members
    secret_arns = global_database.secret_arns
else:
    clusters = {primary_region: AuroraCluster(f"aurora-{primary_region}", cluster_args,
                                              opts=pulumi.ResourceOptions(provider=providers[primary_region]))}
    secret_arns = {primary_region: clusters[primary_region].secret_arn}

# RDS Proxy in every member region whose cluster has instances (a headless secondary has nothing
# to route to); AWS supports a proxy on any cluster of a global database, a secondary's serving reads:
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy-gdb.html
access = settings.access
proxies: dict[str, DatabaseProxy] = {}
if access.proxy_enabled:
    for region, cluster in clusters.items():
        if cluster.instance_count == 0:
            continue
        proxies[region] = DatabaseProxy(
            f"proxy-{region}",
            DatabaseProxyArgs(
                name=f"{prefix}-{region}",
                region=region,
                cluster=cluster,
                vpc_id=networks[region].vpc_id,
                subnet_ids=networks[region].private_subnet_ids,
                application_users=list(access.application_users),
                idle_client_timeout=access.proxy_idle_client_timeout,
                max_connections_percent=access.proxy_max_connections_percent,
                max_idle_connections_percent=access.proxy_max_idle_connections_percent,
                connection_borrow_timeout=access.proxy_connection_borrow_timeout,
            ),
            opts=pulumi.ResourceOptions(provider=providers[region]),
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
        operator_role_arns=list(access.operator_role_arns),
    ),
    opts=pulumi.ResourceOptions(provider=providers[primary_region]),
)

# The application fleet runs beside the writer. Every other member region keeps a warm-standby
# fleet (standbyFleetDesiredCapacity, default 0 instances) under the same name, so that after a
# switchover only sizes change and nothing is replaced.
writer_region = settings.writer_region
standby_capacity = {s.region: s.standby_fleet_desired_capacity for s in secondary_settings.values()}
fleets: dict[str, InstanceFleet] = {}
if settings.fleet.enabled:
    for region in clusters:
        sizes = settings.fleet if region == writer_region else settings.fleet.as_standby(standby_capacity.get(region, 0))
        fleets[region] = InstanceFleet(
            f"fleet-{region}",
            InstanceFleetArgs.from_settings(
                sizes,
                region=region,
                vpc_id=networks[region].vpc_id,
                private_subnet_ids=networks[region].private_subnet_ids,
                database=clusters[region],
                proxy=proxies.get(region),
                direct_database_access=access.fleet_direct_database_access,
                application_users=list(access.application_users),
                database_name=db.database_name,
                kms_key_arn=keys[region].arn,
                engine=db.engine,
                name_prefix=f"{prefix}-{region}",
            ),
            opts=pulumi.ResourceOptions(provider=providers[region]),
        )
fleet = fleets.get(writer_region)
monitoring: dict[str, DatabaseMonitoring] = {}
for region, cluster in clusters.items():
    fleet_here = fleets.get(region)
    monitoring[region] = DatabaseMonitoring(
        f"monitoring-{region}",
        DatabaseMonitoringArgs.from_settings(
            settings.monitoring,
            region=region,
            database=cluster,
            kms_key_arn=keys[region].arn,
            name_prefix=f"{prefix}-{region}",  # the cluster identifier
            global_member=global_database is not None,
            global_secondary=global_database is not None and region != writer_region,
            source_region=writer_region if global_database is not None and region != writer_region else None,
            fleet_asg_name=fleet_here.asg_name if fleet_here else None,
            fleet_min_size=fleet_here.min_size if fleet_here else 0,
        ),
        opts=pulumi.ResourceOptions(provider=providers[region]),
    )

# AWS Backup: a vault per region involved, a plan and selection per writer-capable region, copies
# to the other region's vault, vault lock and restore testing as the settings say.
backup = None
if settings.backup.enabled:
    backup_settings = settings.backup
    writer_capable = set(settings.writer_capable_regions)
    backup = DatabaseBackup(
        f"backup-{prefix}",
        DatabaseBackupArgs(
            name_prefix=prefix,
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
                if region in writer_capable or region == backup_settings.copy_region
            ],
            copy_region=backup_settings.copy_region,
            daily_retention_days=backup_settings.daily_retention_days,
            continuous=backup_settings.continuous,
            continuous_retention_days=backup_settings.continuous_retention_days,
            copy_retention_days=backup_settings.copy_retention_days,
            schedule=daily_schedule_after(db.preferred_backup_window),
            vault_lock=backup_settings.vault_lock,
            vault_lock_min_retention_days=backup_settings.vault_lock_min_retention_days,
            vault_lock_max_retention_days=backup_settings.vault_lock_max_retention_days,
            vault_lock_changeable_days=backup_settings.vault_lock_changeable_days,
            restore_testing=backup_settings.restore_testing,
            protect=settings.protect_resources,
        ),
        opts=pulumi.ResourceOptions(provider=providers[primary_region]),
    )

primary = clusters[primary_region]
pulumi.export("primaryRegion", primary_region)
pulumi.export("writerRegion", settings.writer_region)
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
pulumi.export("fleetAsgName", fleet.asg_name if fleet else None)
pulumi.export("fleetSecurityGroupId", fleet.security_group_id if fleet else None)
pulumi.export("alarmTopicArn", monitoring[writer_region].topic_arn)
writer_proxy = proxies.get(writer_region)
pulumi.export("proxyEndpoint", writer_proxy.endpoint if writer_proxy else None)
pulumi.export("proxyReadOnlyEndpoint", writer_proxy.read_only_endpoint if writer_proxy else None)
pulumi.export("proxyArn", writer_proxy.arn if writer_proxy else None)
pulumi.export("applicationUsers", list(access.application_users))
pulumi.export("breakGlassPolicyArn", break_glass.policy_arn)
pulumi.export("backupVaultArns", backup.vault_arns if backup else None)
pulumi.export("backupVaultNames", backup.vault_names if backup else None)
pulumi.export("backupPlanIds", backup.plan_ids if backup else None)
if global_database:
    pulumi.export("globalClusterIdentifier", global_database.global_cluster_identifier)
    pulumi.export("globalWriterEndpoint", global_database.global_writer_endpoint)
pulumi.export("regions", {
    region: {
        "role": "primary" if region == primary_region else "secondary",
        "writer": region == settings.writer_region,
        "clusterIdentifier": cluster.cluster_identifier,
        "clusterArn": cluster.cluster_arn,
        "writerEndpoint": cluster.writer_endpoint,
        "readerEndpoint": cluster.reader_endpoint,
        "dbSecurityGroupId": cluster.security_group_id,
        "secretArn": secret_arns[region],
        "kmsKeyArn": keys[region].arn,
        "vpcId": networks[region].vpc_id,
        "fleetAsgName": fleets[region].asg_name if region in fleets else None,
        "fleetSecurityGroupId": fleets[region].security_group_id if region in fleets else None,
        "alarmTopicArn": monitoring[region].topic_arn,
        "proxyEndpoint": proxies[region].endpoint if region in proxies else None,
        "proxyReadOnlyEndpoint": proxies[region].read_only_endpoint if region in proxies else None,
        "proxyArn": proxies[region].arn if region in proxies else None,
        "parameterGroups": cluster.parameter_group_names,  # family -> {cluster, instance}: for `deploy upgrade`
    }
    for region, cluster in clusters.items()
})
