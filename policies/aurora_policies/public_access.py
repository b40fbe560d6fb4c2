"""Nothing reachable from the internet: databases, security groups, instances and subnets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._checks import each_entry, must_not_be_true
from ._framework import HIGH, Rule, resource_policies
from ._props import PREVIEW_NOTE, Flag, as_list, flag, is_unknown, is_world_cidr, shown
from ._types import (
    DEFAULT_SECURITY_GROUP,
    EC2_INSTANCE,
    EC2_LAUNCH_CONFIGURATION,
    EC2_LAUNCH_TEMPLATE,
    RDS_CLUSTER_INSTANCE,
    RDS_INSTANCE,
    SECURITY_GROUP,
    SECURITY_GROUP_INGRESS_RULE,
    SECURITY_GROUP_RULE,
    SUBNET,
)
from ._views import ResourceView

TAGS = ("public-access",)


def _world_cidrs(values: Any) -> list[str]:
    # A single unknown CIDR is an attribute of another resource (a VPC or subnet block),
    # never the world; only known values can be 0.0.0.0/0 or ::/0.
    return [value for value in as_list(values) if is_world_cidr(value)]


def _inline_ingress_rule(resource: ResourceView, index: int, rule: Any) -> Iterator[str]:
    if is_unknown(rule) or not isinstance(rule, dict):
        yield f"{resource.label}: ingress[{index}] is unknown during preview and could admit 0.0.0.0/0."
        return
    for prop in ("cidrBlocks", "ipv6CidrBlocks"):
        for cidr in _world_cidrs(rule.get(prop)):
            yield (
                f"{resource.label}: ingress[{index}].{prop} contains {cidr}, which admits the whole "
                f"internet on {_ports(rule)}. Remove it and admit the callers' security groups "
                "(security_groups) or specific private CIDR ranges instead."
            )


def _ports(rule: Mapping[str, Any]) -> str:
    low, high, protocol = rule.get("fromPort"), rule.get("toPort"), rule.get("protocol") or rule.get("ipProtocol")
    if str(protocol) in ("-1", "all"):
        return "all ports"
    return f"ports {shown(low)}-{shown(high)}/{protocol}"


def _security_group_no_public_ingress(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    if resource.type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        yield from each_entry(
            resource,
            "ingress",
            " (the rule list is assembled from values computed by other resources) and could admit 0.0.0.0/0; "
            "declare the rules as a literal list or as aws.vpc.SecurityGroupIngressRule resources.",
            _inline_ingress_rule,
        )
    elif resource.type == SECURITY_GROUP_RULE:
        rule_type = resource.get("type")
        if rule_type == "egress":
            return
        caveat = " (type is unknown during preview, so the rule may be ingress)" if is_unknown(rule_type) else ""
        for prop in ("cidrBlocks", "ipv6CidrBlocks"):
            for cidr in _world_cidrs(resource.get(prop)):
                yield (
                    f"{resource.label}: {prop} contains {cidr}, which admits the whole internet on "
                    f"{_ports(resource.props)}{caveat}. Use source_security_group_id or a private CIDR range."
                )
    elif resource.type == SECURITY_GROUP_INGRESS_RULE:
        for prop in ("cidrIpv4", "cidrIpv6"):
            if is_world_cidr(resource.get(prop)):
                yield (
                    f"{resource.label}: {prop} is {shown(resource.get(prop))}, which admits the whole internet "
                    f"on {_ports(resource.props)}. Use referenced_security_group_id or a private CIDR range."
                )


_instance_public_ip = must_not_be_true("associatePublicIpAddress", "so the instance gets a public IP address")


def _interface_public_ip(resource: ResourceView, index: int, interface: Any) -> Iterator[str]:
    value = interface.get("associatePublicIpAddress") if isinstance(interface, dict) else interface
    if flag(value) is Flag.TRUE:
        yield (
            f"{resource.label}: networkInterfaces[{index}].associatePublicIpAddress is {shown(value)}, so "
            'every instance launched from it gets a public IP address. Set associate_public_ip_address="false".'
        )
    elif flag(value) is Flag.UNKNOWN:
        yield (
            f"{resource.label}: networkInterfaces[{index}].associatePublicIpAddress is unknown during preview "
            f'({PREVIEW_NOTE}) and could be "true"; set associate_public_ip_address="false" as a literal.'
        )


def _ec2_no_public_ip(resource: ResourceView, config: Mapping[str, Any]) -> Iterator[str]:
    if resource.type in (EC2_INSTANCE, EC2_LAUNCH_CONFIGURATION):
        yield from _instance_public_ip(resource, config)
        return
    yield from each_entry(
        resource,
        "networkInterfaces",
        " and could associate a public IP address; declare the interfaces as a literal list.",
        _interface_public_ip,
    )


_database_public = must_not_be_true(
    "publiclyAccessible", "so the instance gets a public DNS name and IP address reachable from outside the VPC"
)
_subnet_public_ip = must_not_be_true("mapPublicIpOnLaunch", "so every instance launched into the subnet gets a public IP address")

# Rule(name, resource types, severity, tags, summary, external ids, check)
POLICIES = resource_policies(
    Rule("rds-instance-not-public", [RDS_CLUSTER_INSTANCE, RDS_INSTANCE], HIGH, TAGS,
         "Database instances must not be publicly accessible (publiclyAccessible is not true).",
         ["Checkov CKV_AWS_17", "AWS Config rds-instance-public-access-check"], _database_public),
    Rule("security-group-no-public-ingress",
         [SECURITY_GROUP, DEFAULT_SECURITY_GROUP, SECURITY_GROUP_RULE, SECURITY_GROUP_INGRESS_RULE], HIGH, TAGS,
         "No security group admits 0.0.0.0/0 or ::/0, neither in inline ingress rules nor in standalone rules.",
         ["Checkov CKV_AWS_24", "Checkov CKV_AWS_25", "Checkov CKV_AWS_260", "Checkov CKV_AWS_277",
          "AWS Config vpc-sg-open-only-to-authorized-ports"], _security_group_no_public_ingress),
    Rule("ec2-no-public-ip", [EC2_INSTANCE, EC2_LAUNCH_TEMPLATE, EC2_LAUNCH_CONFIGURATION], HIGH, TAGS,
         "Instances and launch template network interfaces must not associate a public IP address.",
         ["Checkov CKV_AWS_88", "AWS Config ec2-instance-no-public-ip"], _ec2_no_public_ip),
    Rule("subnet-no-public-ip-on-launch", [SUBNET], HIGH, TAGS,
         "Subnets must not assign public IP addresses on launch (mapPublicIpOnLaunch is not true).",
         ["Checkov CKV_AWS_130", "AWS Config subnet-auto-assign-public-ip-disabled"], _subnet_public_ip),
)
