"""Rules over the whole stack: how resources are wired to each other and which options they carry.

References between resources are followed with ``StackView.referenced`` and
``StackView.referencing``: by the property dependencies the engine records (the
only link while ids are unknown during a first preview) and by known id values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._framework import HIGH, MEDIUM, Rule, stack_policies_of
from ._props import PREVIEW_NOTE, arn_region, as_list, is_set, is_unknown, shown
from ._types import (
    DEFAULT_ROUTE_TABLE,
    DEFAULT_SECURITY_GROUP,
    INTERNET_GATEWAY,
    KMS_KEY,
    KMS_REPLICA_KEY,
    MAIN_ROUTE_TABLE_ASSOCIATION,
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
    RDS_CLUSTER_PARAMETER_GROUP,
    RDS_GLOBAL_CLUSTER,
    RDS_INSTANCE,
    RDS_SUBNET_GROUP,
    ROUTE,
    ROUTE_TABLE,
    ROUTE_TABLE_ASSOCIATION,
    SECRET,
    SECURITY_GROUP,
    SECURITY_GROUP_INGRESS_RULE,
    SECURITY_GROUP_RULE,
    SUBNET,
    VPC,
)
from ._views import ResourceView, StackView
from .rds import engine_family

Finding = tuple[str, str]

# --- db-subnets-private ------------------------------------------------------------------


# A subnet's route table is a RouteTable, a DefaultRouteTable, or a VPC standing for its
# implicit main route table (referred to by the VPC's mainRouteTableId / defaultRouteTableId).
_TABLE_TYPES = (ROUTE_TABLE, DEFAULT_ROUTE_TABLE, VPC)
_TABLE_IDENTITIES = ("id", "mainRouteTableId", "defaultRouteTableId")


def _route_tables_of(stack: StackView, subnet: ResourceView) -> list[ResourceView]:
    """The route tables a subnet uses: its explicit association, else its VPC's main route table."""
    associations = stack.referencing(subnet, [ROUTE_TABLE_ASSOCIATION], "subnetId")
    if associations:
        return [
            table
            for association in associations
            for table in stack.referenced(association, "routeTableId", _TABLE_TYPES, _TABLE_IDENTITIES)
        ]
    tables: list[ResourceView] = []
    for vpc in stack.referenced(subnet, "vpcId", [VPC]):
        main_associations = stack.referencing(vpc, [MAIN_ROUTE_TABLE_ASSOCIATION], "vpcId")
        for association in main_associations:
            tables += stack.referenced(association, "routeTableId", _TABLE_TYPES, _TABLE_IDENTITIES)
        if not main_associations:
            tables.append(vpc)
            tables += stack.referencing(
                vpc, [DEFAULT_ROUTE_TABLE], "defaultRouteTableId", identities=("defaultRouteTableId", "mainRouteTableId")
            )
    return tables


def _table_label(table: ResourceView) -> str:
    return f"the main route table of VPC '{table.name}'" if table.type == VPC else f"route table '{table.name}'"


def _gateway_verdict(stack: StackView, owner: ResourceView, prop: str, gateway_id: Any) -> str | None:
    """'igw' when a route target is an internet gateway, 'unknown' when it cannot be told, else None.

    ``owner``'s property ``prop`` holds the target; for inline routes that is the whole
    ``routes`` list, whose dependencies then stand for every route in it.
    """
    gateways = stack.of_type(INTERNET_GATEWAY)
    if isinstance(gateway_id, str) and not is_unknown(gateway_id):
        if gateway_id.startswith("igw-"):
            return "igw"
        return "igw" if any(gateway_id in as_list(gateway.props.get("id")) for gateway in gateways) else None
    if gateway_id is None:
        return None
    dependencies = [stack.get(urn) for urn in owner.property_dependencies.get(prop, ())]
    if any(dep is not None and dep.type == INTERNET_GATEWAY for dep in dependencies):
        return "igw"
    return None if dependencies else "unknown"


def _internet_routes(stack: StackView, table: ResourceView) -> Iterator[tuple[str, str, str]]:
    """(route description, destination, verdict) for every route of ``table`` that may reach an IGW."""
    identities = ("mainRouteTableId", "defaultRouteTableId") if table.type == VPC else ("id",)
    for route in stack.referencing(table, [ROUTE], "routeTableId", identities):
        verdict = _gateway_verdict(stack, route, "gatewayId", route.get("gatewayId"))
        if verdict:
            destination = (
                route.get("destinationCidrBlock")
                or route.get("destinationIpv6CidrBlock")
                or route.get("destinationPrefixListId")
            )
            yield f"route '{route.name}'", shown(destination), verdict
    if table.type == VPC:
        return
    routes = table.set_value("routes")
    if is_unknown(routes):
        yield "its inline routes", "unknown during preview", "unknown"
        return
    for index, route in enumerate(as_list(routes)):
        if not isinstance(route, dict):
            continue
        verdict = _gateway_verdict(stack, table, "routes", route.get("gatewayId"))
        if verdict:
            destination = route.get("cidrBlock") or route.get("ipv6CidrBlock") or route.get("destinationPrefixListId")
            yield f"inline route routes[{index}]", shown(destination), verdict


def _db_subnets_private(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    for group in stack.of_type(RDS_SUBNET_GROUP):
        subnet_ids = group.get("subnetIds")
        subnets = stack.referenced(group, "subnetIds", [SUBNET])
        if not subnets and (is_unknown(subnet_ids) or any(is_unknown(value) for value in as_list(subnet_ids))):
            yield (
                f"{group.label}: subnetIds is unknown during preview and depends on no subnet of this stack, so "
                "the subnets' routes cannot be checked; pass the ids of aws.ec2.Subnet resources.",
                group.urn,
            )
        for subnet in subnets:
            for table in _route_tables_of(stack, subnet):
                for route, destination, verdict in _internet_routes(stack, table):
                    if verdict == "igw":
                        yield (
                            f"{group.label}: subnet '{subnet.name}' is public: {route} of {_table_label(table)} "
                            f"sends {destination} to an internet gateway. Database subnets must "
                            "use a route table without internet gateway routes (an isolated tier); associate "
                            "them with such a table.",
                            group.urn,
                        )
                    else:
                        yield (
                            f"{group.label}: subnet '{subnet.name}': the target of {route} of {_table_label(table)} "
                            f"is unknown during preview ({PREVIEW_NOTE}) and could be an internet "
                            "gateway; reference the gateway resource directly (gateway_id=igw.id) so the "
                            "dependency is visible.",
                            group.urn,
                        )


# --- db-ingress-from-security-groups-only ------------------------------------------------

_CIDR_PROPS_INLINE = ("cidrBlocks", "ipv6CidrBlocks", "prefixListIds")
_CIDR_PROPS_INGRESS_RULE = ("cidrIpv4", "cidrIpv6", "prefixListId")


def _cidr_sources(rule: Any, props: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """(property, value) for every CIDR or prefix list source of a rule; an unknown list could hold one."""
    if is_unknown(rule):
        yield "(whole rule)", rule
        return
    if not isinstance(rule, Mapping):
        return
    for prop in props:
        value = rule.get(prop)
        if is_unknown(value) or (isinstance(value, list) and value) or (isinstance(value, str) and value):
            yield prop, value


def _database_security_groups(stack: StackView) -> tuple[list[Finding], list[ResourceView]]:
    """The security groups of every database, and findings for databases whose groups cannot be seen."""
    findings: list[Finding] = []
    groups: dict[str, ResourceView] = {}
    for database in stack.of_type(RDS_CLUSTER, RDS_INSTANCE):
        ids = database.set_value("vpcSecurityGroupIds")
        referenced = stack.referenced(database, "vpcSecurityGroupIds", [SECURITY_GROUP, DEFAULT_SECURITY_GROUP])
        if not referenced and not is_unknown(ids) and not as_list(ids):
            findings.append(
                (
                    f"{database.label}: vpcSecurityGroupIds is not set, so the database gets the VPC's default "
                    "security group. Give it a dedicated security group that admits only the application's "
                    "security groups on the engine port.",
                    database.urn,
                )
            )
        elif not referenced and (is_unknown(ids) or any(is_unknown(value) for value in as_list(ids))):
            findings.append(
                (
                    f"{database.label}: vpcSecurityGroupIds is unknown during preview and depends on no security "
                    "group of this stack, so its ingress cannot be checked; pass the ids of aws.ec2.SecurityGroup "
                    "resources.",
                    database.urn,
                )
            )
        for group in referenced:
            groups.setdefault(group.urn, group)
    return findings, list(groups.values())


def _db_ingress_from_security_groups_only(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    fix = (
        "A database security group admits the application's security groups only: use "
        "security_groups / source_security_group_id / referenced_security_group_id instead of CIDR ranges."
    )
    findings, groups = _database_security_groups(stack)
    yield from findings
    for group in groups:
        rules = group.set_value("ingress")
        if is_unknown(rules):
            yield (
                f"{group.label} (database security group): ingress is unknown during preview and could admit CIDR "
                f"ranges; declare the rules as a literal list. {fix}",
                group.urn,
            )
            rules = []
        for index, rule in enumerate(as_list(rules)):
            for prop, value in _cidr_sources(rule, _CIDR_PROPS_INLINE):
                yield (
                    f"{group.label} (database security group): ingress[{index}].{prop} is {shown(value)}. {fix}",
                    group.urn,
                )
        for rule in stack.referencing(group, [SECURITY_GROUP_RULE], "securityGroupId"):
            if rule.get("type") == "egress":
                continue
            for prop, value in _cidr_sources(rule.props, _CIDR_PROPS_INLINE):
                yield (
                    f"{rule.label} adds ingress to database security group '{group.name}' from {prop} "
                    f"{shown(value)}. {fix}",
                    rule.urn,
                )
        for rule in stack.referencing(group, [SECURITY_GROUP_INGRESS_RULE], "securityGroupId"):
            for prop, value in _cidr_sources(rule.props, _CIDR_PROPS_INGRESS_RULE):
                yield (
                    f"{rule.label} adds ingress to database security group '{group.name}' from {prop} "
                    f"{shown(value)}. {fix}",
                    rule.urn,
                )


# --- rds-cluster-tls-enforced ------------------------------------------------------------

# engine family -> (parameter, value to set, values that force TLS)
_TLS_PARAMETERS = {
    "postgresql": ("rds.force_ssl", "1", {"1"}),
    "mysql": ("require_secure_transport", "ON", {"ON", "1"}),
}


def _rds_cluster_tls_enforced(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    for cluster in stack.of_type(RDS_CLUSTER):
        engine = cluster.get("engine")
        if is_unknown(engine):
            yield (
                f"{cluster.label}: engine is unknown during preview, so the TLS parameter to check cannot be "
                "chosen; set engine as a literal.",
                cluster.urn,
            )
            continue
        family = engine_family(engine or "aurora")  # RDS creates an "aurora" (MySQL) cluster when unset.
        if family is None:
            continue
        parameter, value_to_set, accepted = _TLS_PARAMETERS[family]
        wanted = f"{parameter}={value_to_set}"
        name = cluster.set_value("dbClusterParameterGroupName")
        if not is_set(name) or (isinstance(name, str) and name.startswith("default.")):
            yield (
                f"{cluster.label}: dbClusterParameterGroupName is {shown(name)}, so the cluster uses the default "
                f"parameter group, which accepts unencrypted connections. Create an "
                f"aws.rds.ClusterParameterGroup with {wanted} and set db_cluster_parameter_group_name to it.",
                cluster.urn,
            )
            continue
        groups = stack.referenced(cluster, "dbClusterParameterGroupName", [RDS_CLUSTER_PARAMETER_GROUP], ("name", "id"))
        if not groups:
            reason = "is unknown during preview and depends on" if is_unknown(name) else f"is {shown(name)}, which is"
            yield (
                f"{cluster.label}: dbClusterParameterGroupName {reason} no cluster parameter group of this "
                f"stack, so TLS enforcement cannot be verified. Declare the parameter group with {wanted} in "
                "the stack and pass its name.",
                cluster.urn,
            )
            continue
        for group in groups:
            parameters = group.set_value("parameters")
            values = (
                None
                if is_unknown(parameters)
                else [p.get("value") for p in as_list(parameters) if isinstance(p, dict) and p.get("name") == parameter]
            )
            if values is None or any(is_unknown(value) for value in values):
                yield (
                    f"{cluster.label}: the {parameter} setting of parameter group '{group.name}' is unknown "
                    f"during preview; set {wanted} as a literal.",
                    cluster.urn,
                )
            elif not values or str(values[-1]).upper() not in accepted:
                yield (
                    f"{cluster.label}: parameter group '{group.name}' has {parameter} "
                    f"{shown(values[-1]) if values else 'not set'}, so clients may connect without TLS. "
                    f"Add the parameter {wanted} to the cluster parameter group.",
                    cluster.urn,
                )


# --- rds-cluster-multi-az ----------------------------------------------------------------


def _rds_cluster_multi_az(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    for cluster in stack.of_type(RDS_CLUSTER):
        if cluster.get("engineMode") == "serverless" or is_set(cluster.get("dbClusterInstanceClass")):
            continue  # Serverless v1 and Multi-AZ DB clusters place their own capacity across AZs.
        instances = stack.referencing(
            cluster, [RDS_CLUSTER_INSTANCE], "clusterIdentifier", identities=("clusterIdentifier", "id")
        )
        names = ", ".join(f"'{instance.name}'" for instance in instances) or "none"
        if len(instances) < 2:
            yield (
                f"{cluster.label} has {len(instances)} cluster instance(s) ({names}), so there is no replica to "
                "fail over to when an instance or its availability zone fails. Add a reader "
                "(aws.rds.ClusterInstance) in another availability zone.",
                cluster.urn,
            )
            continue
        zones = {instance.name: instance.set_value("availabilityZone") for instance in instances}
        unknown = [name for name, zone in zones.items() if is_unknown(zone)]
        if unknown:
            yield (
                f"{cluster.label}: availabilityZone of instance(s) {unknown} is unknown during preview "
                f"({PREVIEW_NOTE}), so the AZ spread cannot be confirmed; set availability_zone from the "
                "configured zone names.",
                cluster.urn,
            )
            continue
        distinct = sorted({zone for zone in zones.values() if isinstance(zone, str) and zone})
        if len(distinct) < 2:
            unplaced = [name for name, zone in zones.items() if not zone]
            detail = f" ({unplaced} set no availability_zone and may land in the same AZ)" if unplaced else ""
            yield (
                f"{cluster.label}: its instances {names} are in {len(distinct)} explicit availability zone(s) "
                f"{distinct}{detail}. Set availability_zone on each instance so at least two AZs hold one.",
                cluster.urn,
            )


# --- global clusters ---------------------------------------------------------------------


def _members(stack: StackView, global_cluster: ResourceView) -> list[ResourceView]:
    members = {
        member.urn: member
        for member in stack.referencing(
            global_cluster, [RDS_CLUSTER], "globalClusterIdentifier", identities=("globalClusterIdentifier", "id")
        )
    }
    for source in stack.referenced(
        global_cluster, "sourceDbClusterIdentifier", [RDS_CLUSTER], identities=("arn", "clusterIdentifier", "id")
    ):
        members.setdefault(source.urn, source)
    return list(members.values())


def _same_region(stack: StackView, first: ResourceView, second: ResourceView) -> bool | None:
    """Whether two resources live in the same region; None when that cannot be told."""
    first_region, second_region = stack.region_of(first), stack.region_of(second)
    if first_region and second_region:
        return first_region == second_region
    if first_region is None and second_region is None:
        first_provider = first.provider.urn if first.provider else None
        second_provider = second.provider.urn if second.provider else None
        if first_provider == second_provider:
            return True
    return None


def _global_cluster_regional_keys(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    for global_cluster in stack.of_type(RDS_GLOBAL_CLUSTER):
        for member in _members(stack, global_cluster):
            key_id = member.set_value("kmsKeyId")
            member_region = stack.region_of(member) or "its provider's region"
            where = f"{member.label} (member of global cluster '{global_cluster.name}')"
            if not is_set(key_id):
                yield (
                    f"{where}: kmsKeyId is not set. Every member of an encrypted global database needs a "
                    f"customer managed key of its own region ({member_region}); set kms_key_id to it.",
                    member.urn,
                )
                continue
            literal_region = arn_region(key_id)
            if literal_region:
                region = stack.region_of(member)
                if region and region != literal_region:
                    yield (
                        f"{where}: kmsKeyId {shown(key_id)} is a key of {literal_region}, but the cluster is in "
                        f"{region}. Use a key created in {region} (an aws.kms.Key on that region's provider).",
                        member.urn,
                    )
                elif region is None:
                    yield (
                        f"{where}: the cluster's region cannot be determined, so the region of kmsKeyId "
                        f"({literal_region}) cannot be compared with it; give the cluster an explicit provider.",
                        member.urn,
                    )
                continue
            keys = stack.referenced(member, "kmsKeyId", [KMS_KEY, KMS_REPLICA_KEY], identities=("arn", "keyId", "id"))
            if not keys:
                if is_unknown(key_id):
                    yield (
                        f"{where}: kmsKeyId is unknown during preview and depends on no KMS key of this stack, "
                        "so its region cannot be checked; pass the arn of an aws.kms.Key of the member's region.",
                        member.urn,
                    )
                continue  # A key id or alias without a region resolves in the cluster's own region.
            for key in keys:
                same = _same_region(stack, member, key)
                if same is False:
                    yield (
                        f"{where}: kmsKeyId is key '{key.name}' of {stack.region_of(key)}, but the cluster is in "
                        f"{stack.region_of(member)}. Each member needs a key of its own region: create an "
                        "aws.kms.Key with that region's provider and pass its arn.",
                        member.urn,
                    )
                elif same is None:
                    yield (
                        f"{where}: the regions of the cluster and of its key '{key.name}' cannot be determined "
                        "(no region on their providers); give both the provider of the member's region.",
                        member.urn,
                    )


def major_version(engine: str, version: str) -> str:
    """The major version: "16" of PostgreSQL 16.6, "8.0" of MySQL 8.0.mysql_aurora.3.08.0."""
    parts = version.split(".")
    if engine_family(engine) == "mysql" and len(parts) >= 2:
        return ".".join(parts[:2])
    return parts[0]


def _global_cluster_members_consistent(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    for global_cluster in stack.of_type(RDS_GLOBAL_CLUSTER):
        participants = [global_cluster, *_members(stack, global_cluster)]
        engines: dict[str, str] = {}
        majors: dict[str, str] = {}
        unset_versions: list[str] = []
        for resource in participants:
            engine, version = resource.set_value("engine"), resource.set_value("engineVersion")
            if is_unknown(engine) or is_unknown(version):
                yield (
                    f"{resource.label}: engine or engineVersion is unknown during preview ({PREVIEW_NOTE}), so "
                    f"consistency with global cluster '{global_cluster.name}' cannot be confirmed; set both "
                    "as literals.",
                    resource.urn,
                )
                continue
            if isinstance(engine, str) and engine:
                engines[resource.name] = engine
            elif resource is not global_cluster:
                yield (
                    f"{resource.label} (member of global cluster '{global_cluster.name}'): engine is not set; "
                    "set the same engine as the global cluster.",
                    resource.urn,
                )
            if isinstance(version, str) and version and isinstance(engine, str):
                majors[resource.name] = major_version(engine, version)
            elif resource is not global_cluster:
                unset_versions.append(resource.name)
        if len(set(engines.values())) > 1:
            yield (
                f"global cluster '{global_cluster.name}': it and its members run different engines {engines}; "
                "every member must run the global cluster's engine.",
                global_cluster.urn,
            )
        if len(set(majors.values())) > 1:
            yield (
                f"global cluster '{global_cluster.name}': it and its members run different major versions {majors}; "
                "replication across regions needs one major version. Set the same engine_version on all members.",
                global_cluster.urn,
            )
        if unset_versions and majors:
            yield (
                f"global cluster '{global_cluster.name}': member(s) {unset_versions} set no engineVersion while "
                f"others pin {sorted(set(majors.values()))}; AWS would pick its default version. Set engine_version "
                "on every member.",
                global_cluster.urn,
            )


# --- stateful-resources-protected ----------------------------------------------------------

STATEFUL_TYPES = (RDS_CLUSTER, RDS_GLOBAL_CLUSTER, RDS_INSTANCE, KMS_KEY, KMS_REPLICA_KEY, SECRET)


def _stateful_resources_protected(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    for resource in stack.of_type(*STATEFUL_TYPES):
        if not resource.protect:
            yield (
                f"{resource.label} holds state that cannot be recreated (data, key material or credentials) but "
                "is not protected, so `pulumi destroy` or a replacement would delete it. Set "
                "opts=pulumi.ResourceOptions(protect=True).",
                resource.urn,
            )


# Rule(name, resource types, severity, tags, summary, external ids, check)
POLICIES = stack_policies_of(
    Rule("db-subnets-private",
         [RDS_SUBNET_GROUP, SUBNET, ROUTE_TABLE, DEFAULT_ROUTE_TABLE, ROUTE_TABLE_ASSOCIATION,
          MAIN_ROUTE_TABLE_ASSOCIATION, ROUTE, INTERNET_GATEWAY], HIGH, ("public-access",),
         "No subnet of a DB subnet group routes to an internet gateway (explicit or main route table).",
         [], _db_subnets_private),
    Rule("db-ingress-from-security-groups-only",
         [RDS_CLUSTER, RDS_INSTANCE, SECURITY_GROUP, DEFAULT_SECURITY_GROUP, SECURITY_GROUP_RULE,
          SECURITY_GROUP_INGRESS_RULE], HIGH, ("public-access",),
         "A database's security groups admit other security groups only, never CIDR ranges or prefix lists.",
         [], _db_ingress_from_security_groups_only),
    Rule("rds-cluster-tls-enforced", [RDS_CLUSTER, RDS_CLUSTER_PARAMETER_GROUP], HIGH, ("encryption",),
         "Each Aurora cluster's parameter group forces TLS (rds.force_ssl=1 for PostgreSQL, "
         "require_secure_transport=ON for MySQL).",
         [], _rds_cluster_tls_enforced),
    Rule("rds-cluster-multi-az", [RDS_CLUSTER, RDS_CLUSTER_INSTANCE], MEDIUM, ("resilience",),
         "Each Aurora cluster has at least two instances in at least two explicit availability zones.",
         ["AWS Config rds-cluster-multi-az-enabled"], _rds_cluster_multi_az),
    Rule("global-cluster-regional-keys", [RDS_GLOBAL_CLUSTER, RDS_CLUSTER, KMS_KEY, KMS_REPLICA_KEY], HIGH, ("encryption",),
         "Each member of an Aurora global database is encrypted with a KMS key of its own region.",
         [], _global_cluster_regional_keys),
    Rule("global-cluster-members-consistent", [RDS_GLOBAL_CLUSTER, RDS_CLUSTER], MEDIUM, ("resilience",),
         "The members of an Aurora global database share the global cluster's engine and major version.",
         [], _global_cluster_members_consistent),
    Rule("stateful-resources-protected", list(STATEFUL_TYPES), MEDIUM, ("resilience",),
         "Stateful resources (clusters, global clusters, DB instances, KMS keys, secrets) carry Pulumi's protect option.",
         [], _stateful_resources_protected),
)
