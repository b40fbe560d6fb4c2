"""RDS reads more than one runbook makes: the engine versions on offer, the global cluster, a cluster or an
instance that may not exist, and a cluster's tags."""

from __future__ import annotations

from deploy.errors import CommandRefused
from deploy.runbooks.base import described, paginate


def engine_versions(rds, engine: str, version: str | None = None) -> list[dict]:
    """``DescribeDBEngineVersions`` of ``engine`` (and ``version`` when given), every page."""
    params = {"Engine": engine, **({"EngineVersion": version} if version else {})}
    return paginate(rds, "describe_db_engine_versions", "DBEngineVersions", **params)


def describe_global_cluster(rds, gid: str) -> dict:
    """The global cluster ``gid``; a refusal (exit 2) when it does not exist."""
    clusters = described(rds.describe_global_clusters, "GlobalClusters", "GlobalClusterNotFoundFault",
                         GlobalClusterIdentifier=gid)
    matching = [c for c in clusters if c.get("GlobalClusterIdentifier") == gid]
    if not matching:
        raise CommandRefused(f"global cluster {gid} does not exist")
    return matching[0]


def find_cluster(rds, identifier: str) -> dict | None:
    try:
        return rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
    except rds.exceptions.DBClusterNotFoundFault:
        return None


def find_instance(rds, identifier: str) -> dict | None:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except rds.exceptions.DBInstanceNotFoundFault:
        return None


def cluster_tags(rds, cluster: dict) -> list[dict]:
    return cluster.get("TagList") or rds.list_tags_for_resource(ResourceName=cluster["DBClusterArn"]).get("TagList", [])
