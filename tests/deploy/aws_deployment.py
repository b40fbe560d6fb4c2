"""A stack's deployment created with boto3 in the moto server, shaped by the stack's
settings the way the program deploys it, and the stack outputs that describe it.

``build`` makes a compliant deployment; ``Drift`` fields make one aspect differ at
creation (what cannot be changed afterwards: encryption, key, AZ placement) and the
``drift_*`` functions change a built deployment the way a console click would.

Where moto falls short, the builder does what AWS would have done:
- instances launched by an auto scaling group do not take the launch template's
  ``MetadataOptions`` in moto, so the builder sets ``HttpTokens=required`` on them
  (``ModifyInstanceMetadataOptions``), the state AWS would launch them in;
- ``ModifyDBCluster`` ignores ``EnableIAMDatabaseAuthentication`` in moto, so IAM auth
  drift is created at cluster creation;
- ``RemoveFromGlobalCluster`` does nothing across regions in moto, so a detached
  secondary is created outside the global cluster;
- moto makes the first member of a global cluster its writer and implements neither
  switchover nor failover, so a writer in another region is created by creation order.
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3

PASSWORD = "not-a-real-password-0"
IMAGE_ID = "ami-12c6146b"  # one of the images moto offers in every region


@dataclass(frozen=True)
class Drift:
    encrypted: bool = True
    foreign_key: bool = False  # primary encrypted with another key of its region
    public_instance: bool = False
    single_az: bool = False  # every primary instance in one AZ
    iam_auth: bool | None = None  # None: as the settings say
    detached_secondary: bool = False
    writer_region: str | None = None  # region created first, which moto makes the writer


_CLIENTS: dict[tuple[str, str, str], object] = {}


class Aws:
    """boto3 clients on the emulator, kept for the test session (creating one costs more than a call)."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def __call__(self, service: str, region: str):
        key = (self.endpoint, service, region)
        if key not in _CLIENTS:
            _CLIENTS[key] = boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                                         aws_access_key_id="testing", aws_secret_access_key="testing")
        return _CLIENTS[key]


def close_clients() -> None:
    """Close the kept clients' connections (the emulator waits for open connections when it stops)."""
    while _CLIENTS:
        _CLIENTS.popitem()[1].close()


def _zones(settings, region: str) -> tuple[str, ...]:
    if region == settings.primary_region:
        return settings.network.availability_zones
    return next(s.availability_zones for s in settings.global_database.secondary_regions if s.region == region)


def _instance_count(settings, region: str) -> int:
    if region == settings.primary_region:
        return 1 + settings.database.reader_count
    return next(s.instance_count for s in settings.global_database.secondary_regions if s.region == region)


def build(endpoint: str, settings, drift: Drift = Drift()) -> dict:
    """Create the deployment; return its stack outputs (the program's output contract)."""
    aws = Aws(endpoint)
    db = settings.database
    stack = settings.stack
    gid = f"aurora-platform-{stack}" if settings.global_database else None
    if gid:
        aws("rds", settings.primary_region).create_global_cluster(
            GlobalClusterIdentifier=gid, Engine=db.engine, EngineVersion=db.engine_version,
            StorageEncrypted=True, DeletionProtection=db.deletion_protection)
    order = list(settings.regions)
    if drift.writer_region:
        order.remove(drift.writer_region)
        order.insert(0, drift.writer_region)
    regions: dict[str, dict] = {}
    for region in order:
        primary = region == settings.primary_region
        kms, ec2, rds = aws("kms", region), aws("ec2", region), aws("rds", region)
        key_arn = kms.create_key(Description=f"aurora-platform {stack} {region}")["KeyMetadata"]["Arn"]
        cluster_key = kms.create_key(Description="another key")["KeyMetadata"]["Arn"] \
            if primary and drift.foreign_key else key_arn
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24",
                                      AvailabilityZone=_zones(settings, region)[0])["Subnet"]["SubnetId"]
        db_sg = ec2.create_security_group(GroupName=f"db-{region}", Description="database", VpcId=vpc_id)["GroupId"]
        with_fleet = region == settings.writer_region and settings.fleet.enabled
        fleet_sg = ec2.create_security_group(GroupName=f"fleet-{region}", Description="fleet",
                                             VpcId=vpc_id)["GroupId"] if with_fleet else None
        if fleet_sg:
            ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[{
                "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": fleet_sg}]}])
        cluster_id = f"aurora-platform-{stack}-{region}"
        params = dict(DBClusterIdentifier=cluster_id, Engine=db.engine, EngineVersion=db.engine_version,
                      StorageEncrypted=drift.encrypted if primary else True, DeletionProtection=db.deletion_protection,
                      BackupRetentionPeriod=db.backup_retention_days, VpcSecurityGroupIds=[db_sg],
                      EnableIAMDatabaseAuthentication=db.iam_authentication if drift.iam_auth is None or not primary
                      else drift.iam_auth)
        if params["StorageEncrypted"]:
            params["KmsKeyId"] = cluster_key
        if primary:
            params.update(MasterUsername=db.master_username, MasterUserPassword=PASSWORD)
        if gid and not (drift.detached_secondary and not primary):
            params["GlobalClusterIdentifier"] = gid
        elif not primary:
            params.update(MasterUsername=db.master_username, MasterUserPassword=PASSWORD)
        cluster = rds.create_db_cluster(**params)["DBCluster"]
        zones = _zones(settings, region)
        for i in range(_instance_count(settings, region)):
            rds.create_db_instance(
                DBInstanceIdentifier=f"{cluster_id}-{i}", DBClusterIdentifier=cluster_id, Engine=db.engine,
                DBInstanceClass=db.instance_class if db.instance_class != "db.serverless" else "db.r7g.large",
                AvailabilityZone=zones[0] if (drift.single_az and primary) else zones[i % len(zones)],
                PubliclyAccessible=bool(drift.public_instance and primary and i == 1))
        asg_name = None
        if with_fleet:
            asg_name = f"aurora-platform-{stack}-fleet"
            _fleet(aws, region, settings, asg_name, subnet_id, fleet_sg)
        topic = aws("sns", region).create_topic(Name=f"aurora-platform-{stack}-alarms")["TopicArn"]
        regions[region] = {
            "role": "primary" if primary else "secondary",
            "clusterIdentifier": cluster_id, "clusterArn": cluster["DBClusterArn"], "kmsKeyArn": key_arn,
            "vpcId": vpc_id, "dbSecurityGroupId": db_sg,
            "secretArn": f"arn:aws:secretsmanager:{region}:123456789012:secret:{cluster_id}-master",
            "fleetAsgName": asg_name, "fleetSecurityGroupId": fleet_sg, "alarmTopicArn": topic,
            "writerEndpoint": cluster.get("Endpoint"), "readerEndpoint": cluster.get("ReaderEndpoint"),
        }
    primary = regions[settings.primary_region]
    writer = regions[settings.writer_region]
    outputs = {
        "primaryRegion": settings.primary_region, "writerRegion": settings.writer_region,
        **{key: primary[key] for key in ("clusterIdentifier", "clusterArn", "writerEndpoint", "readerEndpoint",
                                          "dbSecurityGroupId", "secretArn", "kmsKeyArn", "vpcId")},
        "port": 5432 if db.engine == "aurora-postgresql" else 3306,
        "fleetAsgName": writer["fleetAsgName"], "fleetSecurityGroupId": writer["fleetSecurityGroupId"],
        "alarmTopicArn": writer["alarmTopicArn"],
        "regions": regions,
    }
    if gid:
        outputs["globalClusterIdentifier"] = gid
    return outputs


def _fleet(aws: Aws, region: str, settings, name: str, subnet_id: str, fleet_sg: str) -> None:
    ec2, autoscaling = aws("ec2", region), aws("autoscaling", region)
    template = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": IMAGE_ID, "InstanceType": "t3.small",
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False, "Groups": [fleet_sg]}],
    })["LaunchTemplate"]["LaunchTemplateId"]
    desired = max(settings.fleet.desired_capacity, 1)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=desired, MaxSize=max(settings.fleet.max_size, desired), DesiredCapacity=desired,
        VPCZoneIdentifier=subnet_id)
    for instance_id in fleet_instance_ids(aws, region, name):
        ec2.modify_instance_metadata_options(InstanceId=instance_id, HttpTokens="required", HttpEndpoint="enabled")


def fleet_instance_ids(aws: Aws, region: str, name: str) -> list[str]:
    group = aws("autoscaling", region).describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return [i["InstanceId"] for i in group["Instances"]]


# ---------------------------------------------------------------------------------------
# Drift made after the deployment exists.
# ---------------------------------------------------------------------------------------

def drift_deletion_protection_off(endpoint: str, outputs: dict) -> None:
    Aws(endpoint)("rds", outputs["primaryRegion"]).modify_db_cluster(
        DBClusterIdentifier=outputs["clusterIdentifier"], DeletionProtection=False, ApplyImmediately=True)


def drift_short_backups(endpoint: str, outputs: dict) -> None:
    Aws(endpoint)("rds", outputs["primaryRegion"]).modify_db_cluster(
        DBClusterIdentifier=outputs["clusterIdentifier"], BackupRetentionPeriod=1, ApplyImmediately=True)


def drift_public_instance(endpoint: str, outputs: dict) -> None:
    Aws(endpoint)("rds", outputs["primaryRegion"]).modify_db_instance(
        DBInstanceIdentifier=f"{outputs['clusterIdentifier']}-0", PubliclyAccessible=True, ApplyImmediately=True)


def drift_open_db_sg(endpoint: str, outputs: dict) -> None:
    Aws(endpoint)("ec2", outputs["primaryRegion"]).authorize_security_group_ingress(
        GroupId=outputs["dbSecurityGroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


def drift_open_fleet_sg_ipv6(endpoint: str, outputs: dict) -> None:
    Aws(endpoint)("ec2", outputs["writerRegion"]).authorize_security_group_ingress(
        GroupId=outputs["fleetSecurityGroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])


def drift_imdsv1(endpoint: str, outputs: dict) -> None:
    aws = Aws(endpoint)
    region = outputs["writerRegion"]
    instance_id = fleet_instance_ids(aws, region, outputs["fleetAsgName"])[0]
    aws("ec2", region).modify_instance_metadata_options(InstanceId=instance_id, HttpTokens="optional")


def drift_public_ip(endpoint: str, outputs: dict) -> None:
    """An instance with a public IP joins the fleet (launched by hand, attached to the group)."""
    aws = Aws(endpoint)
    region = outputs["writerRegion"]
    ec2 = aws("ec2", region)
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [outputs["regions"][region]["vpcId"]]}])
    instance = ec2.run_instances(
        ImageId=IMAGE_ID, MinCount=1, MaxCount=1, InstanceType="t3.small", MetadataOptions={"HttpTokens": "required"},
        NetworkInterfaces=[{"DeviceIndex": 0, "AssociatePublicIpAddress": True,
                            "SubnetId": subnet["Subnets"][0]["SubnetId"]}])["Instances"][0]
    aws("autoscaling", region).attach_instances(AutoScalingGroupName=outputs["fleetAsgName"],
                                                InstanceIds=[instance["InstanceId"]])
