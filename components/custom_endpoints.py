"""CustomEndpoints: the custom endpoints (``aws.rds.ClusterEndpoint``) of one cluster, from ``customEndpoints``.

A custom endpoint routes a workload (analytics, reports) to the instances it names: static members, or every
eligible instance but the ones it excludes, so that readers added by auto scaling join on their own
(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Endpoints.Custom.html). The settings
have checked the names and the instance numbers against the cluster (components/database_rules.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aurora_cluster import AuroraCluster
from components.database_rules import CustomEndpoint
from components.naming import custom_endpoint_identifier


@dataclass
class CustomEndpointsArgs:
    endpoints: Sequence[CustomEndpoint]
    """The endpoints (``DatabaseSettings.custom_endpoints``); instance N is the cluster's ``<identifier>-N``."""
    cluster: AuroraCluster
    """The cluster they belong to: the writer region's."""
    stack: str
    """Stack name: the endpoint identifiers carry the cluster's (a region's endpoint names are unique)."""
    region: str
    """Region of the cluster."""


class CustomEndpoints(pulumi.ComponentResource):
    """One ``aws.rds.ClusterEndpoint`` per declared endpoint; ``addresses`` maps each name to its DNS address."""

    endpoints: dict[str, aws.rds.ClusterEndpoint]
    addresses: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: CustomEndpointsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:database:CustomEndpoints", name, None, opts)
        # The instance identifiers as outputs: an endpoint is created once its members exist.
        instances = {number: instance.identifier for number, instance in enumerate(args.cluster.instances, start=1)}
        self.endpoints = {}
        for endpoint in args.endpoints:
            members = [instances[number] for number in (endpoint.instances if endpoint.static else endpoint.exclude_instances)]
            self.endpoints[endpoint.name] = aws.rds.ClusterEndpoint(
                f"{name}-{endpoint.name.lower()}",
                cluster_identifier=args.cluster.cluster_identifier,
                cluster_endpoint_identifier=custom_endpoint_identifier(args.stack, args.region, endpoint.name),
                custom_endpoint_type=endpoint.type,
                static_members=members if endpoint.static else None,
                excluded_members=members if not endpoint.static and members else None,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.addresses = {endpoint_name: resource.endpoint for endpoint_name, resource in self.endpoints.items()}
        self.register_outputs({"addresses": self.addresses})
