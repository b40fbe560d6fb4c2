"""RDS reads more than one runbook makes: the engine versions on offer, and the global cluster."""

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
