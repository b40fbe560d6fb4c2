"""RDS reads more than one runbook makes: the engine versions on offer, the global cluster, a cluster or an
instance that may not exist, and a cluster's tags."""

from __future__ import annotations

from collections.abc import Callable

from deploy.errors import CommandRefused
from deploy.runbooks.base import described, paginate


def serverless_scaling(cluster: dict) -> dict | None:
    """A cluster's Serverless v2 capacity range as the restore and create calls take it (None without one)."""
    found = cluster.get("ServerlessV2ScalingConfiguration")
    return {"MinCapacity": found["MinCapacity"], "MaxCapacity": found["MaxCapacity"]} if found else None


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


def delete_owned_instance(rds, identifier: str, owned: Callable[[dict], bool], refusal: str) -> None:
    """Delete instance ``identifier`` (final snapshot skipped) when ``owned(instance)``; gone already is fine;
    otherwise a refusal with ``refusal``: a runbook deletes only what it created."""
    instance = find_instance(rds, identifier)
    if instance is None:
        return
    if not owned(instance):
        raise CommandRefused(refusal)
    rds.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)


def delete_owned_cluster(rds, identifier: str, owned: Callable[[list[dict]], bool], refusal: str) -> None:
    """Delete cluster ``identifier`` (final snapshot skipped) when ``owned(its tags)``; gone already is fine;
    otherwise a refusal with ``refusal``."""
    cluster = find_cluster(rds, identifier)
    if cluster is None:
        return
    if not owned(cluster_tags(rds, cluster)):
        raise CommandRefused(refusal)
    rds.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)
