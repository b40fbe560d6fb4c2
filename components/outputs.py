"""What each stack output means: declared once, here. ``scripts/generate-docs`` writes the README's
outputs table from these rows and fails when the program exports an output, or a field of
``regions``, that no row describes (or a row names one that nothing exports)."""

from __future__ import annotations

# (output names, meaning): one README row each.
OUTPUTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("primaryRegion", "writerRegion"), "the region the stack was created in, and the region of the current writer"),
    (("clusterIdentifier", "clusterArn"), "primary-region cluster"),
    (("writerEndpoint", "readerEndpoint", "port"), "where applications connect (TLS only)"),
    (("dbSecurityGroupId",), "the database security group (admit callers with `allowedSecurityGroupIds`)"),
    (("secretArn",), "Secrets Manager secret with the master credentials"),
    (("kmsKeyArn",), "the primary region's key"),
    (("vpcId", "privateSubnetIds", "databaseSubnetIds"), "the primary region's network"),
    (("fleetAsgName", "fleetSecurityGroupId"), "the application fleet beside the writer"),
    (("alarmTopicArn",), "the writer region's alarm topic (subscribe paging here)"),
    (("proxyEndpoint", "proxyReadOnlyEndpoint", "proxyArn"),
     "the writer region's RDS Proxy: where applications connect (read/write, and reads) with IAM tokens; `null` "
     "without a proxy"),
    (("customEndpoints",), "the writer region's custom endpoints: name -> DNS address (`customEndpoints` setting; `{}` "
                           "without any)"),
    (("applicationUsers",), "the database users applications log in as (`applicationUsers` setting)"),
    (("breakGlassPolicyArn",), "the operators' managed policy that reads the master secret (attached to `operatorRoleArns`)"),
    (("backupVaultArns", "backupVaultNames", "backupPlanIds"),
     "region -> ARN and name of the AWS Backup vault, and region -> backup plan id (plans exist in writer-capable "
     "regions only); null with `backupPlan: false`"),
    (("globalClusterIdentifier", "globalWriterEndpoint"),
     "the global cluster and its writer endpoint, which follows the writer across regions (global stacks only)"),
    (("regions",), "region -> the fields below, for every member region"),
)

# (fields of each ``regions.<region>`` entry, meaning).
REGION_OUTPUTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("role",), "`primary` or `secondary`, as created"),
    (("writer",), "whether the region holds the writer"),
    (("clusterIdentifier", "clusterArn"), "the region's cluster"),
    (("writerEndpoint", "readerEndpoint"), "the cluster's endpoints"),
    (("dbSecurityGroupId",), "the cluster's security group"),
    (("secretArn",), "the master secret readable in that region"),
    (("kmsKeyArn", "vpcId"), "the region's key and VPC"),
    (("fleetAsgName", "fleetSecurityGroupId"), "the region's fleet (the warm-standby fleet outside the writer region)"),
    (("alarmTopicArn",), "the region's alarm topic"),
    (("proxyEndpoint", "proxyReadOnlyEndpoint", "proxyArn"),
     "that region's proxy; `null` for a headless secondary or without a proxy"),
    (("customEndpoints",), "that region's custom endpoints, name -> DNS address (only the writer region has them)"),
    (("parameterGroups",), "engine family -> `{cluster, instance}` parameter group names (`deploy upgrade` switches them)"),
)


def declared(rows: tuple[tuple[tuple[str, ...], str], ...]) -> set[str]:
    return {name for names, _ in rows for name in names}
