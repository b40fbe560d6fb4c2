"""`python -m deploy preflight --stack S`: read-only checks of the AWS account before the
first `pulumi up` of stack S, for what only AWS knows.

What the stack declares comes from one model: the program run on the mock engine
(``deploy.offline.capture.run_program``, as ``deploy check`` runs it), so the regions, zones,
instance classes, NAT gateways and names checked here are the ones the program
registers, not a second reading of the settings. Each finding names what to change:

| check | what is wrong |
|---|---|
| ``availability-zone`` | a zone the stack uses does not exist in its region, or is not ``available`` |
| ``engine-version`` | ``engineVersion`` is not offered for the engine in a region of the stack |
| ``global-database-support`` | a global stack's engine version lacks ``SupportsGlobalDatabases`` |
| ``upgrade-target`` | the stack's cluster runs another version, of which ``engineVersion`` is no valid upgrade target |
| ``instance-class`` | a writer or reader class is not orderable for the engine and version in the region, or in a zone used |
| ``fleet-instance-type`` | ``fleetInstanceType`` is not offered in a zone of the fleet's subnets |
| ``quota`` | VPCs or Elastic IPs per region, or NAT gateways per zone, in use plus what the stack adds exceed the quota (1) |
| ``name-taken`` | a name the stack creates (2) is held by a resource that does not carry the stack's tags |
| ``ami-parameter`` | the public SSM parameter of the fleet's AMI does not resolve in the region |
| ``backup-opt-in`` | the stack backs up its clusters with AWS Backup, and the region is not opted in to Aurora (3) |
| ``not-checked`` | AWS refused a read or gave no answer, so a check could not run (the message names the call) |

(1) the stack's own, carrying its ``project`` and ``stack`` tags, are in use and not added again.
(2) of a cluster, instance, global cluster, parameter group, subnet group, KMS alias or log group.
(3) AWS Backup's per-region opt-in for the resource type (DescribeRegionSettings
``ResourceTypeOptInPreference``): without it the plans and selections deploy and no Aurora job ever runs.

Exit codes, as verify, upgrade and the runbooks use them: 0 no finding; 1 any finding, or AWS
could not be reached or read (an endpoint that cannot be reached); 2 usage or settings error,
or no AWS credentials.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from components.naming import short_stack_name
from deploy.args import add_endpoint_url, add_region_filter, add_stack
from deploy.errors import refused_by_aws
from deploy.runbooks.base import Clients, check_region, paginate, resolve_settings, tag_map
from deploy.runbooks.findings import Finding, report
from deploy.runbooks.preflight_plan import Plan, PlannedInstance, RegionPlan, plan_stack
from deploy.runbooks.rds import engine_versions

CHECKS = (
    "availability-zone", "engine-version", "global-database-support", "upgrade-target", "instance-class",
    "fleet-instance-type", "quota", "name-taken", "ami-parameter", "backup-opt-in", "not-checked",
)

# Service Quotas codes. The names and codes are AWS's own (ListServiceQuotas / the quota ARNs
# arn:aws:servicequotas:<region>::vpc/L-F678F1CE ...); the quotas and how they count are
# documented at https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html
# ("VPCs per Region", "Elastic IP addresses per Region", "NAT gateways per Availability Zone":
# NAT gateways count in the pending, active and deleting states).
VPC_QUOTA = ("vpc", "L-F678F1CE", "VPCs per Region")
EIP_QUOTA = ("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs")
NAT_QUOTA = ("vpc", "L-FE5A380F", "NAT gateways per Availability Zone")
NAT_STATES_COUNTED = ("pending", "available", "deleting")
# EC2's own figure for the Elastic IP limit (DescribeAccountAttributes, "vpc-max-elastic-ips"),
# read when Service Quotas holds no value for the account.
EIP_ACCOUNT_ATTRIBUTE = "vpc-max-elastic-ips"


# ---------------------------------------------------------------------------------------
# Which setting to change: the keys of the primary region and of each secondary region.
# ---------------------------------------------------------------------------------------

def setting_key(settings, region: str, field_name: str) -> str:
    """``availabilityZones`` / ``instanceClass`` for the primary region; the matching field of
    ``globalDatabase.secondaryRegions[i]`` for a secondary."""
    if region == settings.primary_region or not settings.global_database:
        return field_name
    index = next(i for i, s in enumerate(settings.global_database.secondary_regions) if s.region == region)
    return f"globalDatabase.secondaryRegions[{index}].{field_name}"


def class_setting_key(settings, region: str, role: str) -> str:
    if region != settings.primary_region:
        return setting_key(settings, region, "instanceClass")
    return "readerInstanceClass" if role == "reader" else "instanceClass"  # readers default to the writer's class


# ---------------------------------------------------------------------------------------
# The checks. Each takes boto3 clients of one region and returns findings.
# ---------------------------------------------------------------------------------------

def check_zones(settings, plan: RegionPlan, ec2, available: set[str]) -> list:
    """Findings for zones that do not exist or are not available; adds the region's available
    zones to ``available`` (the zone-dependent checks look at those only)."""
    zones = {z["ZoneName"]: z.get("State") for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    available.update(name for name, state in zones.items() if state == "available")
    key = setting_key(settings, plan.region, "availabilityZones")
    findings = []
    for zone in plan.zones:
        if zone not in zones:
            findings.append(Finding("availability-zone", plan.region, zone,
                                     f"zone {zone} does not exist in {plan.region} (zones: {', '.join(sorted(zones))}); "
                                     f"set {key} to zones of the region"))
        elif zone not in available:
            findings.append(Finding("availability-zone", plan.region, zone,
                                     f"zone {zone} is {zones[zone]!r}, not 'available'; set {key} to available zones "
                                     f"({', '.join(sorted(available))})"))
    return findings


def check_engine_version(plan: Plan, region: str, rds) -> list:
    """The version is offered in the region; a global stack's version supports global databases."""
    offered = [v for v in engine_versions(rds, plan.engine, plan.engine_version) if v.get("EngineVersion") == plan.engine_version]
    label = f"{plan.engine} {plan.engine_version}"
    if not offered:
        major = plan.engine_version.split(".")[0]
        same_major = [v["EngineVersion"] for v in engine_versions(rds, plan.engine)
                      if v.get("EngineVersion", "").split(".")[0] == major]
        choices = f"versions of major {major} offered there: {', '.join(same_major)}" if same_major else \
            f"no version of major {major} is offered there"
        return [Finding("engine-version", region, label,
                         f"{label} is not offered in {region}; set engineVersion to a version every region offers ({choices})")]
    if plan.global_database and not offered[0].get("SupportsGlobalDatabases"):
        return [Finding("global-database-support", region, label,
                         f"{label} does not support Aurora Global Database in {region}; set engineVersion to a version "
                         "with SupportsGlobalDatabases (aws rds describe-db-engine-versions --engine "
                         f"{plan.engine} --query 'DBEngineVersions[?SupportsGlobalDatabases].EngineVersion')")]
    return []


def check_upgrade_target(plan: Plan, region: str, cluster: dict, rds) -> list:
    """The stack's cluster exists: the settings' version is the running one or a valid upgrade target of it."""
    running = cluster.get("EngineVersion")
    if not running or running == plan.engine_version:
        return []
    targets = [t.get("EngineVersion") for v in engine_versions(rds, plan.engine, running)
               for t in v.get("ValidUpgradeTarget", [])]
    if plan.engine_version in targets:
        return []
    return [Finding("upgrade-target", region, cluster.get("DBClusterIdentifier", ""),
                     f"the cluster runs {plan.engine} {running}; engineVersion {plan.engine_version} is not a valid upgrade "
                     f"target from it (targets: {', '.join(targets) or 'none'}); set engineVersion to {running} or one of "
                     "the targets (`python -m deploy upgrade` runs an upgrade)")]


def check_instance_classes(settings, plan: Plan, region_plan: RegionPlan, rds, zones: set[str]) -> list:
    """Each class is orderable for engine and version in the region and in the zones its instances use."""
    region = region_plan.region
    findings = []
    by_class: dict[str, list[PlannedInstance]] = {}
    for instance in region_plan.instances:
        by_class.setdefault(instance.instance_class, []).append(instance)
    for instance_class, instances in by_class.items():
        options = [o for o in paginate(rds, "describe_orderable_db_instance_options", "OrderableDBInstanceOptions",
                                        Engine=plan.engine, EngineVersion=plan.engine_version,
                                        DBInstanceClass=instance_class, Vpc=True)
                   if o.get("DBInstanceClass") == instance_class]
        keys = " / ".join(sorted({class_setting_key(settings, region, i.role) for i in instances}))
        if not options:
            findings.append(Finding("instance-class", region, instance_class,
                                     f"{instance_class} is not orderable for {plan.engine} {plan.engine_version} in {region}; "
                                     f"set {keys} to a class offered there"))
            continue
        orderable_zones = {z.get("Name") for o in options for z in o.get("AvailabilityZones", [])}
        for instance in instances:
            zone = instance.availability_zone
            if zone in zones and zone not in orderable_zones:
                offered_in, zones_key = ", ".join(sorted(orderable_zones)), setting_key(settings, region, "availabilityZones")
                findings.append(Finding("instance-class", region, instance.identifier,
                                        f"{instance_class} is not orderable in {zone} (it is in {offered_in}); "
                                        f"set {zones_key} to zones that offer it, or {keys} to a class offered in every zone"))
    return findings


def check_fleet_instance_type(settings, region_plan: RegionPlan, ec2, zones: set[str]) -> list:
    """The fleet's instance type is offered in every zone its auto scaling group launches into."""
    instance_type = region_plan.fleet_instance_type
    wanted = [z for z in region_plan.fleet_zones if z in zones]
    if not instance_type or not wanted:
        return []
    offerings = paginate(ec2, "describe_instance_type_offerings", "InstanceTypeOfferings",
                          LocationType="availability-zone",
                          Filters=[{"Name": "instance-type", "Values": [instance_type]},
                                   {"Name": "location", "Values": wanted}])
    offered = {o.get("Location") for o in offerings if o.get("InstanceType") == instance_type}
    missing = [z for z in wanted if z not in offered]
    if not missing:
        return []
    return [Finding("fleet-instance-type", region_plan.region, instance_type,
                     f"{instance_type} is not offered in {', '.join(missing)}; set fleetInstanceType to a type offered in "
                     f"every zone of the fleet ({', '.join(wanted)}), or "
                     f"{setting_key(settings, region_plan.region, 'availabilityZones')} to zones that offer it")]


def applied_quota(service_quotas, service: str, code: str) -> float | None:
    """The account's applied value of a quota, or None when Service Quotas records none for it
    (GetServiceQuota then answers NoSuchResourceException:
    https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html)."""
    from botocore.exceptions import ClientError

    try:
        return service_quotas.get_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]["Value"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchResourceException":
            raise
    return None


def default_quota(service_quotas, service: str, code: str) -> float:
    return service_quotas.get_aws_default_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]["Value"]


def eip_limit_from_ec2(ec2) -> float | None:
    """EC2's own figure for the account's Elastic IP limit (DescribeAccountAttributes
    ``vpc-max-elastic-ips``: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeAccountAttributes.html)."""
    attributes = ec2.describe_account_attributes(AttributeNames=[EIP_ACCOUNT_ATTRIBUTE])["AccountAttributes"]
    values = [v.get("AttributeValue") for a in attributes if a.get("AttributeName") == EIP_ACCOUNT_ATTRIBUTE
              for v in a.get("AttributeValues", [])]
    return float(values[0]) if values else None


def owned_count(items: Iterable[dict], stack_tags: dict[str, str]) -> int:
    """How many of the EC2 descriptions ``items`` carry the stack's ``project`` and ``stack`` tags."""
    return sum(owned_by_stack(tag_map(item.get("Tags")), stack_tags) for item in items)


def still_to_add(planned: int, owned: int) -> int:
    """What the stack adds beyond what it already has: after its first `pulumi up` its own resources
    are in use, and a later `up` keeps them rather than creating them again."""
    return max(0, planned - owned)


def _quotaFinding(region: str, quota: tuple[str, str, str], where: str, in_use: int, owned: int, adds: int,
                  limit: float):
    service, code, name = quota
    of_them = f" ({owned} of them this stack's)" if owned else ""
    return Finding("quota", region, f"{service}/{code}",
                    f"{name}{where}: {in_use} in use{of_them} + {adds} the stack adds = {in_use + adds} > quota {limit:g}; "
                    f"request an increase (aws service-quotas request-service-quota-increase --service-code {service} "
                    f"--quota-code {code} --region {region}) or release unused ones"
                    + (", or set natStrategy: single" if code == NAT_QUOTA[1] else ""))


# The quota checks: a finding only when the stack adds something (what it adds cannot be
# refused when it adds nothing), and the stack's own resources in use are not added again.
def check_vpc_quota(plan: RegionPlan, ec2, service_quotas, stack_tags: dict[str, str]) -> list:
    if not plan.vpcs:
        return []
    return _over_quota(plan.region, VPC_QUOTA, plan.vpcs, paginate(ec2, "describe_vpcs", "Vpcs"), stack_tags,
                       lambda: applied_quota(service_quotas, *VPC_QUOTA[:2]),
                       lambda: default_quota(service_quotas, *VPC_QUOTA[:2]))


def check_eip_quota(plan: RegionPlan, ec2, service_quotas, stack_tags: dict[str, str]) -> list:
    if not plan.eips:
        return []
    addresses = ec2.describe_addresses(Filters=[{"Name": "domain", "Values": ["vpc"]}])["Addresses"]
    # Without an applied value in Service Quotas, EC2's account attribute is the account's limit
    # (it reflects increases, which the AWS default would not).
    return _over_quota(plan.region, EIP_QUOTA, plan.eips, addresses, stack_tags,
                       lambda: applied_quota(service_quotas, *EIP_QUOTA[:2]), lambda: eip_limit_from_ec2(ec2),
                       lambda: default_quota(service_quotas, *EIP_QUOTA[:2]))


def _over_quota(region: str, quota, planned: int, in_use: list, stack_tags: dict[str, str], *limits) -> list:
    """A finding when what the stack still adds to ``in_use`` passes the quota; ``limits`` are read in
    order, only when the stack adds something, until one answers."""
    owned = owned_count(in_use, stack_tags)
    adds = still_to_add(planned, owned)
    if not adds:
        return []
    limit = next((value for read in limits if (value := read()) is not None), None)
    return [_quotaFinding(region, quota, "", len(in_use), owned, adds, limit)] if len(in_use) + adds > limit else []


def check_nat_quota(plan: RegionPlan, ec2, service_quotas, stack_tags: dict[str, str]) -> list:
    """NAT gateways count per zone: the zone of each gateway is its subnet's. A gateway of the
    stack's that is deleting still counts as in use, but is not one the stack keeps."""
    if not plan.nat_gateways:
        return []
    gateways = paginate(ec2, "describe_nat_gateways", "NatGateways",
                         Filters=[{"Name": "state", "Values": list(NAT_STATES_COUNTED)}])
    subnet_ids = sorted({g["SubnetId"] for g in gateways if g.get("SubnetId")})
    subnets = paginate(ec2, "describe_subnets", "Subnets", SubnetIds=subnet_ids) if subnet_ids else []
    subnet_zones = {s["SubnetId"]: s.get("AvailabilityZone") for s in subnets}
    in_use = Counter(subnet_zones.get(g.get("SubnetId")) for g in gateways)
    owned = Counter(subnet_zones.get(g.get("SubnetId")) for g in gateways
                    if g.get("State") != "deleting" and owned_count([g], stack_tags))
    adds = {zone: still_to_add(planned, owned[zone]) for zone, planned in sorted(plan.nat_gateways.items())}
    if not any(adds.values()):
        return []
    limit = applied_quota(service_quotas, *NAT_QUOTA[:2])
    if limit is None:
        limit = default_quota(service_quotas, *NAT_QUOTA[:2])
    return [_quotaFinding(plan.region, NAT_QUOTA, f" in {zone}", in_use[zone], owned[zone], added, limit)
            for zone, added in adds.items() if added and in_use[zone] + added > limit]


# Lookups of an existing resource by name: ``(tags, description)``, or None when the name is free.
def _first(items: list[dict]) -> tuple[dict[str, str], dict] | None:
    return (tag_map(items[0].get("TagList")), items[0]) if items else None


def _rds_tagged(rds, items: list[dict], arn_key: str) -> tuple[dict[str, str], dict] | None:
    if not items:
        return None
    return tag_map(rds.list_tags_for_resource(ResourceName=items[0][arn_key])["TagList"]), items[0]


def _global_cluster(clients, name):
    # Filtered here too: an emulator may answer with every global cluster.
    return _first([g for g in paginate(clients("rds"), "describe_global_clusters", "GlobalClusters",
                                        GlobalClusterIdentifier=name) if g.get("GlobalClusterIdentifier") == name])


def _kms_alias(clients, name):
    kms = clients("kms")
    alias = next((a for a in paginate(kms, "list_aliases", "Aliases") if a.get("AliasName") == name), None)
    if alias is None:
        return None
    # An alias has no tags of its own; the key it points at carries the stack's.
    target = alias.get("TargetKeyId")
    return (tag_map(paginate(kms, "list_resource_tags", "Tags", KeyId=target), "TagKey", "TagValue") if target else {}), alias


def _log_group(clients, name):
    logs = clients("logs")
    group = next((g for g in paginate(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=name)
                  if g.get("logGroupName") == name), None)
    if group is None:
        return None
    arn = group.get("logGroupArn") or group.get("arn", "").removesuffix(":*")
    return logs.list_tags_for_resource(resourceArn=arn).get("tags", {}), group


LOOKUPS: dict[str, Callable[[Callable[[str], Any], str], tuple[dict[str, str], dict] | None]] = {
    "db-cluster": lambda c, name: _first(c("rds").describe_db_clusters(DBClusterIdentifier=name)["DBClusters"]),
    "db-instance": lambda c, name: _first(c("rds").describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]),
    "global-cluster": _global_cluster,
    "db-cluster-parameter-group": lambda c, name: _rds_tagged(c("rds"), c("rds").describe_db_cluster_parameter_groups(
        DBClusterParameterGroupName=name)["DBClusterParameterGroups"], "DBClusterParameterGroupArn"),
    "db-parameter-group": lambda c, name: _rds_tagged(c("rds"), c("rds").describe_db_parameter_groups(
        DBParameterGroupName=name)["DBParameterGroups"], "DBParameterGroupArn"),
    "db-subnet-group": lambda c, name: _rds_tagged(c("rds"), c("rds").describe_db_subnet_groups(
        DBSubnetGroupName=name)["DBSubnetGroups"], "DBSubnetGroupArn"),
    "kms-alias": _kms_alias,
    "log-group": _log_group,
}
# What RDS answers for a name nobody holds (error codes of botocore's rds service model,
# botocore/data/rds/2014-10-31/service-2.json; cluster parameter groups answer DBParameterGroupNotFound).
NOT_FOUND_CODES = frozenset({"DBClusterNotFoundFault", "DBInstanceNotFound", "GlobalClusterNotFoundFault",
                             "DBParameterGroupNotFound", "DBSubnetGroupNotFoundFault"})


def existing(kind: str, name: str, clients: Callable[[str], Any]) -> tuple[dict[str, str], dict] | None:
    """Tags and description of the resource of ``kind`` that holds ``name`` in the region, or None."""
    from botocore.exceptions import ClientError

    try:
        return LOOKUPS[kind](clients, name)
    except ClientError as error:
        if error.response["Error"]["Code"] in NOT_FOUND_CODES:
            return None
        raise


def owned_by_stack(tags: dict[str, str], stack_tags: dict[str, str]) -> bool:
    """The resource carries the tags the stack's providers put on everything (``project`` and ``stack``)."""
    identity = {k: v for k, v in stack_tags.items() if k in ("project", "stack")}
    return bool(identity) and all(tags.get(k) == v for k, v in identity.items())


def check_names(plan: Plan, region_plan: RegionPlan, clients: Callable[[str], Any]) -> list:
    """Names the stack creates are free, or held by the stack's own resources (then a cluster's
    running version is checked against ``engineVersion``)."""
    region = region_plan.region
    findings = []
    shown_tags = ", ".join(f"{k}={v}" for k, v in plan.stack_tags.items() if k in ("project", "stack"))
    for planned in region_plan.names:
        found = existing(planned.kind, planned.name, clients)
        if found is None:
            continue
        tags, description = found
        if not owned_by_stack(tags, plan.stack_tags):
            findings.append(Finding("name-taken", region, planned.name,
                                     f"{planned.kind} {planned.name} already exists in {region} and does not carry this "
                                     f"stack's tags ({shown_tags}): delete or rename it, or import it into the stack "
                                     "(`pulumi import`) before the first `pulumi up`"))
        elif planned.kind == "db-cluster":
            findings += check_upgrade_target(plan, region, description, clients("rds"))
    return findings


def check_ami_parameter(region_plan: RegionPlan, ssm) -> list:
    """The public SSM parameter the launch template resolves at every launch exists and names an AMI."""
    from botocore.exceptions import ClientError

    name = region_plan.ami_parameter
    if not name:
        return []
    try:
        value = ssm.get_parameter(Name=name)["Parameter"].get("Value", "")
    except ClientError as error:
        if error.response["Error"]["Code"] != "ParameterNotFound":
            raise
        value = None
    if value and value.startswith("ami-"):
        return []
    found = f"resolves to {value!r}, not an AMI id" if value else "does not exist"
    return [Finding("ami-parameter", region_plan.region, name,
                     f"the fleet's AMI parameter {name} {found} in {region_plan.region}; check fleetInstanceType "
                     "(its architecture picks the parameter) or that the region publishes Amazon Linux 2023 parameters")]


def check_backup_opt_in(region: str, backup) -> list:
    """AWS Backup runs no job for a resource type the region is not opted in to
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/service-opt-in.html)."""
    if backup.describe_region_settings().get("ResourceTypeOptInPreference", {}).get("Aurora"):
        return []
    return [Finding("backup-opt-in", region, "Aurora",
                     f"AWS Backup is not opted in to Aurora in {region}: the backup plans would deploy and no Aurora job "
                     f"would ever run; opt in with `aws backup update-region-settings --region {region} "
                     "--resource-type-opt-in-preference Aurora=true` (or set backupPlan: false)")]


# ---------------------------------------------------------------------------------------
# All checks of a stack.
# ---------------------------------------------------------------------------------------

def _guarded(region: str, what: str, check: Callable[..., list], *args) -> list:
    """``check(*args)``; when AWS refuses a read or answers nothing readable, one ``not-checked``
    finding instead, so the other checks still run."""
    from botocore.exceptions import ClientError
    from botocore.parsers import ResponseParserError

    try:
        return check(*args)
    except ClientError as error:
        return [Finding("not-checked", region, what, str(refused_by_aws(error)).splitlines()[0])]
    except ResponseParserError as error:
        # What an emulator answers for a call it does not implement.
        return [Finding("not-checked", region, what,
                         f"no readable answer from the endpoint: {str(error).splitlines()[0]}")]


def preflight_region(settings, plan: Plan, region: str, clients: Callable[[str, str], Any]) -> list:
    region_plan = plan.regions[region]
    ec2, rds = clients("ec2", region), clients("rds", region)
    zones: set[str] = set()  # stays empty if the zones cannot be read: then no zone is checked below
    findings = _guarded(region, "DescribeAvailabilityZones", check_zones, settings, region_plan, ec2, zones)
    version_findings = _guarded(region, "DescribeDBEngineVersions", check_engine_version, plan, region, rds)
    findings += version_findings
    if not any(f.check == "engine-version" for f in version_findings):  # the version must change first
        findings += _guarded(region, "DescribeOrderableDBInstanceOptions", check_instance_classes,
                             settings, plan, region_plan, rds, zones)
    findings += _guarded(region, "DescribeInstanceTypeOfferings", check_fleet_instance_type,
                         settings, region_plan, ec2, zones)
    service_quotas = clients("service-quotas", region)
    for quota, check in ((VPC_QUOTA, check_vpc_quota), (EIP_QUOTA, check_eip_quota), (NAT_QUOTA, check_nat_quota)):
        findings += _guarded(region, f"{quota[0]}/{quota[1]}", check, region_plan, ec2, service_quotas, plan.stack_tags)
    findings += _guarded(region, "names", check_names, plan, region_plan, lambda service: clients(service, region))
    findings += _guarded(region, "GetParameter", check_ami_parameter, region_plan, clients("ssm", region))
    if settings.backup and settings.backup.enabled and region in settings.writer_capable_regions:  # where the plans are
        findings += _guarded(region, "DescribeRegionSettings", check_backup_opt_in, region, clients("backup", region))
    return findings


def preflight(settings, plan: Plan, clients: Callable[[str, str], Any], regions: Iterable[str] | None = None) -> list:
    """Every finding for the stack; ``regions`` limits the checks to some of its regions."""
    findings = []
    for region in settings.regions:
        if not regions or region in regions:
            findings += preflight_region(settings, plan, region, clients)
    return findings


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser("preflight", help="read-only AWS checks before the first `pulumi up` of a stack",
                                   description=__doc__.split("\n\n")[0])
    add_stack(parser)
    add_region_filter(parser)
    add_endpoint_url(parser)
    parser.add_argument("--json", action="store_true", help="findings as JSON on stdout")
    parser.set_defaults(func=run)


def run(args, clients: Callable[[str, str], Any] | None = None) -> int:
    settings = resolve_settings(args.stack)
    check_region("--region", args.region, settings, args.stack)
    plan = plan_stack(args.stack, settings)
    own_clients = clients is None
    clients = clients or Clients(args.endpoint_url)
    try:
        findings = preflight(settings, plan, clients, args.region or None)
    finally:
        if own_clients:
            clients.close()
    return report("preflight", short_stack_name(args.stack), args.region or settings.regions, findings, args.json)
