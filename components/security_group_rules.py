"""Security group rules between two groups on one TCP port: the only shape the paths to the
database take (application -> proxy -> database, or application -> database), each half a
standalone rule so neither group's resource owns the other's rules."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def _port_rule(rule: type, name: str, security_group_id: pulumi.Input[str], other_security_group_id: pulumi.Input[str],
               port: int, description: str, opts: pulumi.ResourceOptions):
    return rule(
        name,
        security_group_id=security_group_id,
        referenced_security_group_id=other_security_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=description,
        opts=opts,
    )


def port_ingress(name: str, security_group_id: pulumi.Input[str], source_security_group_id: pulumi.Input[str],
                 port: int, description: str, opts: pulumi.ResourceOptions) -> aws.vpc.SecurityGroupIngressRule:
    """``security_group_id`` admits ``source_security_group_id`` on TCP ``port`` only."""
    return _port_rule(aws.vpc.SecurityGroupIngressRule, name, security_group_id, source_security_group_id, port,
                      description, opts)


def port_egress(name: str, security_group_id: pulumi.Input[str], target_security_group_id: pulumi.Input[str],
                port: int, description: str, opts: pulumi.ResourceOptions) -> aws.vpc.SecurityGroupEgressRule:
    """``security_group_id`` may reach ``target_security_group_id`` on TCP ``port`` only."""
    return _port_rule(aws.vpc.SecurityGroupEgressRule, name, security_group_id, target_security_group_id, port,
                      description, opts)
