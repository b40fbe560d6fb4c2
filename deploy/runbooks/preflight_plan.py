"""`deploy preflight`: what the stack declares, from one model: the program run on the mock engine
(``deploy.offline.capture.run_program``, as ``deploy check`` runs it), per region: its zones,
instances, fleet, VPCs, Elastic IPs and NAT gateways, and the physical names it sets."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from components.naming import short_stack_name
from deploy.errors import EXIT_FAILED, EXIT_USAGE, CommandRefused

SSM_RESOLVE_PREFIX = "resolve:ssm:"


@dataclass(frozen=True)
class PlannedInstance:
    identifier: str
    instance_class: str
    availability_zone: str
    role: str  # writer | reader


@dataclass(frozen=True)
class PlannedName:
    kind: str  # db-cluster, db-instance, global-cluster, ... (NAMED_TYPES)
    name: str


@dataclass
class RegionPlan:
    region: str
    zones: list[str] = field(default_factory=list)  # every subnet's zone, first seen first
    instances: list[PlannedInstance] = field(default_factory=list)
    fleet_instance_type: str | None = None
    fleet_zones: list[str] = field(default_factory=list)
    ami_parameter: str | None = None
    vpcs: int = 0
    eips: int = 0
    nat_gateways: Counter = field(default_factory=Counter)  # zone -> gateways the stack adds there
    names: list[PlannedName] = field(default_factory=list)


@dataclass
class Plan:
    engine: str
    engine_version: str
    global_database: bool
    stack_tags: dict[str, str]
    regions: dict[str, RegionPlan]


# Resource types whose physical name the program sets, and the input that holds it. Names the
# provider generates (auto-naming adds a random suffix at creation) cannot collide in advance.
NAMED_TYPES = {
    "aws:rds/cluster:Cluster": ("db-cluster", "clusterIdentifier"),
    "aws:rds/clusterInstance:ClusterInstance": ("db-instance", "identifier"),
    "aws:rds/globalCluster:GlobalCluster": ("global-cluster", "globalClusterIdentifier"),
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": ("db-cluster-parameter-group", "name"),
    "aws:rds/parameterGroup:ParameterGroup": ("db-parameter-group", "name"),
    "aws:rds/subnetGroup:SubnetGroup": ("db-subnet-group", "name"),
    "aws:kms/alias:Alias": ("kms-alias", "name"),
    "aws:cloudwatch/logGroup:LogGroup": ("log-group", "name"),
}


def _provider_default_tags(inputs: dict) -> dict[str, str]:
    """The provider's ``defaultTags.tags``; provider inputs reach the engine JSON-encoded."""
    default_tags = inputs.get("defaultTags") or {}
    if isinstance(default_tags, str):
        default_tags = json.loads(default_tags)
    return default_tags.get("tags") or {}


def plan_from_capture(capture, settings) -> Plan:
    """The per-region plan of a captured program run (``deploy.offline.capture.Capture``)."""
    from deploy.offline.aws_model import autoname

    provider_regions: dict[str, str] = {}
    stack_tags: dict[str, str] = {}
    for resource in capture.resources:
        if resource.type == "pulumi:providers:aws":
            provider_regions[f"{resource.urn}::{resource.id}"] = resource.inputs.get("region") or settings.primary_region
            stack_tags = _provider_default_tags(resource.inputs) or stack_tags
    regions = {region: RegionPlan(region) for region in settings.regions}
    by_urn = capture.by_urn()

    def region_of(resource) -> str:
        return provider_regions.get(resource.provider or "", settings.primary_region)

    for resource in capture.resources:
        if not resource.custom or resource.type.startswith("pulumi:providers:"):
            continue
        plan = regions.setdefault(region_of(resource), RegionPlan(region_of(resource)))
        inputs = resource.inputs
        if resource.type == "aws:ec2/subnet:Subnet":
            zone = inputs.get("availabilityZone")
            if zone and zone not in plan.zones:
                plan.zones.append(zone)
            if (inputs.get("tags") or {}).get("tier") == "private" and zone not in plan.fleet_zones:
                plan.fleet_zones.append(zone)  # the fleet's auto scaling group launches into the private tier
        elif resource.type == "aws:ec2/vpc:Vpc":
            plan.vpcs += 1
        elif resource.type == "aws:ec2/eip:Eip":
            plan.eips += 1
        elif resource.type == "aws:ec2/natGateway:NatGateway":
            subnet = next((by_urn[urn] for urn in resource.property_dependencies.get("subnetId", []) if urn in by_urn), None)
            plan.nat_gateways[(subnet.inputs.get("availabilityZone") if subnet else None) or "?"] += 1
        elif resource.type == "aws:rds/clusterInstance:ClusterInstance":
            plan.instances.append(PlannedInstance(
                identifier=inputs.get("identifier", resource.name), instance_class=inputs.get("instanceClass", ""),
                availability_zone=inputs.get("availabilityZone", ""),
                role=(inputs.get("tags") or {}).get("role", "reader")))
        elif resource.type == "aws:ec2/launchTemplate:LaunchTemplate":
            plan.fleet_instance_type = inputs.get("instanceType")
            image = inputs.get("imageId") or ""
            plan.ami_parameter = image.removeprefix(SSM_RESOLVE_PREFIX) if image.startswith(SSM_RESOLVE_PREFIX) else None
        if resource.type in NAMED_TYPES:
            kind, key = NAMED_TYPES[resource.type]
            name = inputs.get(key)
            if isinstance(name, str) and name and name != autoname(resource.type, resource.name, {}).get("name"):
                plan.names.append(PlannedName(kind, name))
    db = settings.database
    return Plan(engine=db.engine, engine_version=db.engine_version, global_database=settings.global_database is not None,
                stack_tags=stack_tags, regions=regions)


def plan_stack(stack: str, settings) -> Plan:
    """Run the program for ``stack`` on the mock engine, as a first preview sees it, and plan from it."""
    from deploy.offline.capture import DuplicateResourceError, run_program

    try:
        capture = run_program(short_stack_name(stack), "preview")
    except DuplicateResourceError as error:
        raise CommandRefused(f"the program is invalid: {error}", EXIT_FAILED) from None
    except ValueError as error:
        raise CommandRefused(f"stack {short_stack_name(stack)}: {error}", EXIT_USAGE) from None
    except Exception as error:  # the program itself fails: what it declares is unknown
        short = short_stack_name(stack)
        raise CommandRefused(f"the program failed on the mock engine, so what stack {short} declares is unknown "
                             f"({type(error).__name__}: {error}); `python -m deploy check --stack {short}` shows the "
                             "failure", EXIT_FAILED) from None
    return plan_from_capture(capture, settings)
