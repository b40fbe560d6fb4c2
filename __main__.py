"""aurora-platform: composes the components from the validated stack settings."""

import pulumi
import pulumi_aws as aws

from components.aurora_cluster import AuroraCluster, AuroraClusterArgs
from components.network import Network, NetworkArgs
from components.region_key import RegionKey, RegionKeyArgs
from components.settings import load_settings

settings = load_settings()  # raises SettingsError (printed without a traceback) before any resource
for warning in settings.warnings:
    pulumi.warn(warning)

project, stack = pulumi.get_project(), pulumi.get_stack()
db = settings.database
region = settings.primary_region
name = f"{project}-{stack}-{region}"

provider = aws.Provider(
    f"aws-{region}",
    region=region,
    default_tags=aws.ProviderDefaultTagsArgs(tags={"project": project, "stack": stack, "managed-by": "pulumi"}),
)
in_region = pulumi.ResourceOptions(provider=provider)

key = RegionKey(
    f"key-{region}",
    RegionKeyArgs(region=region, alias=name, deletion_window_days=settings.kms_deletion_window_days,
                  protect=settings.protect_resources),
    opts=in_region,
)
network = Network(
    f"network-{region}",
    NetworkArgs(
        region=region,
        vpc_cidr=settings.network.vpc_cidr,
        availability_zones=list(settings.network.availability_zones),
        kms_key_arn=key.arn,
        nat_strategy=settings.network.nat_strategy,
        flow_logs=settings.network.flow_logs,
        log_retention_days=settings.log_retention_days,
        interface_endpoints=list(settings.network.interface_endpoints),
        name_prefix=f"{project}-{stack}",
    ),
    opts=in_region,
)
cluster = AuroraCluster(
    f"aurora-{region}",
    AuroraClusterArgs(
        identifier=name,
        region=region,
        engine=db.engine,
        engine_version=db.engine_version,
        vpc_id=network.vpc_id,
        db_subnet_group_name=network.db_subnet_group_name,
        availability_zones=list(settings.network.availability_zones),
        kms_key_arn=key.arn,
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
        protect=settings.protect_resources,
    ),
    opts=in_region,
)

pulumi.export("primaryRegion", region)
pulumi.export("writerRegion", settings.writer_region)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("databaseSubnetIds", network.database_subnet_ids)
pulumi.export("clusterIdentifier", cluster.cluster_identifier)
pulumi.export("clusterArn", cluster.cluster_arn)
pulumi.export("writerEndpoint", cluster.writer_endpoint)
pulumi.export("readerEndpoint", cluster.reader_endpoint)
pulumi.export("port", cluster.port)
pulumi.export("dbSecurityGroupId", cluster.security_group_id)
pulumi.export("secretArn", cluster.secret_arn)
pulumi.export("kmsKeyArn", key.arn)
