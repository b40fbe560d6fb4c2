"""rds-cluster-audit-logging (a stack policy: a cluster and the parameter group it names).

Each Aurora cluster turns on its engine's database audit logging in its cluster parameter group and
exports that log type to CloudWatch Logs:

- Aurora PostgreSQL: ``pgaudit`` in ``shared_preload_libraries`` and ``pgaudit.log`` set to a class other
  than ``none`` ("Using pgAudit to log database activity", Aurora user guide), the ``postgresql`` log exported;
- Aurora MySQL: ``server_audit_logging`` on (Advanced Auditing), the ``audit`` log exported.

Values unknown on a first preview fail closed (still at the configured level): the program sets the
parameters and the log exports as literals, so only a group computed elsewhere leaves them unknown.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._framework import MEDIUM, Rule, stack_policies_of
from ._props import as_list, is_set, is_unknown, shown
from ._types import RDS_CLUSTER, RDS_CLUSTER_PARAMETER_GROUP
from ._views import ResourceView, StackView
from .rds import engine_family

Finding = tuple[str, str]

# engine family -> (log type to export, the parameters that turn audit logging on, as a fix says it)
_AUDIT = {
    "postgresql": ("postgresql", "shared_preload_libraries including pgaudit (e.g. pg_stat_statements,pgaudit) and "
                                 "pgaudit.log (e.g. ddl,role), with pgaudit.role=rds_pgaudit"),
    "mysql": ("audit", "server_audit_logging=1 and server_audit_events (e.g. CONNECT,QUERY_DCL,QUERY_DDL)"),
}


def _parameters(group: ResourceView) -> dict[str, Any] | None:
    """The group's parameters by name (the last one of a name wins); None while unknown."""
    parameters = group.set_value("parameters")
    if is_unknown(parameters):
        return None
    found = {p.get("name"): p.get("value") for p in as_list(parameters) if isinstance(p, dict)}
    return None if any(is_unknown(value) for value in found.values()) else found


def _audit_gaps(family: str, parameters: Mapping[str, Any]) -> list[str]:
    """What keeps the engine's audit logging off in these parameters (empty when it is on)."""
    if family == "mysql":
        value = parameters.get("server_audit_logging")
        return [] if str(value).upper() in ("1", "ON") else [f"server_audit_logging is {shown(value)}"]
    gaps = []
    libraries = parameters.get("shared_preload_libraries")
    if "pgaudit" not in [library.strip().lower() for library in str(libraries or "").split(",")]:
        gaps.append(f"shared_preload_libraries is {shown(libraries)}, without pgaudit")
    classes = parameters.get("pgaudit.log")
    if str(classes or "").strip().lower() in ("", "none"):
        gaps.append(f"pgaudit.log is {shown(classes)}")
    return gaps


def _cluster_groups(stack: StackView, cluster: ResourceView, fix: str) -> tuple[list[ResourceView], str | None]:
    """The stack's parameter groups the cluster names, or why there is none to check."""
    name = cluster.set_value("dbClusterParameterGroupName")
    if not is_set(name) or (isinstance(name, str) and name.startswith("default.")):
        return [], (f"dbClusterParameterGroupName is {shown(name)}, so the cluster uses the default parameter group, "
                    f"where database audit logging is off. Create an aws.rds.ClusterParameterGroup with {fix} and "
                    "set db_cluster_parameter_group_name to it.")
    groups = stack.referenced(cluster, "dbClusterParameterGroupName", [RDS_CLUSTER_PARAMETER_GROUP], ("name", "id"))
    if groups:
        return groups, None
    reason = "is unknown during preview and depends on" if is_unknown(name) else f"is {shown(name)}, which is"
    return [], (f"dbClusterParameterGroupName {reason} no cluster parameter group of this stack, so audit logging "
                f"cannot be verified. Declare the parameter group with {fix} in the stack and pass its name.")


def _exports_finding(cluster: ResourceView, log_type: str) -> str | None:
    exports = cluster.set_value("enabledCloudwatchLogsExports")
    if is_unknown(exports):
        return (f"{cluster.label}: enabledCloudwatchLogsExports is unknown during preview, so the {log_type} log's "
                f"export cannot be verified; set the list as a literal including \"{log_type}\".")
    if log_type not in [str(item) for item in as_list(exports)]:
        return (f"{cluster.label}: enabledCloudwatchLogsExports is {shown(exports)}, without \"{log_type}\", so the "
                f"audit records stay on the instances and are lost with them. Add \"{log_type}\" to "
                "enabled_cloudwatch_logs_exports.")
    return None


def _rds_cluster_audit_logging(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    for cluster in stack.of_type(RDS_CLUSTER):
        engine = cluster.get("engine")
        if is_unknown(engine):
            yield (f"{cluster.label}: engine is unknown during preview, so the audit parameters to check cannot be "
                   "chosen; set engine as a literal.", cluster.urn)
            continue
        family = engine_family(engine or "aurora")  # RDS creates an "aurora" (MySQL) cluster when unset.
        if family is None:
            continue
        log_type, fix = _AUDIT[family]
        exports = _exports_finding(cluster, log_type)
        if exports:
            yield exports, cluster.urn
        groups, missing = _cluster_groups(stack, cluster, fix)
        if missing:
            yield f"{cluster.label}: {missing}", cluster.urn
        for group in groups:
            parameters = _parameters(group)
            if parameters is None:
                yield (f"{cluster.label}: the parameters of parameter group '{group.name}' are unknown during preview; "
                       f"set {fix} as literals.", cluster.urn)
            elif gaps := _audit_gaps(family, parameters):
                yield (f"{cluster.label}: parameter group '{group.name}' leaves database audit logging off "
                       f"({'; '.join(gaps)}). Set {fix} in the cluster parameter group.", cluster.urn)


# Rule(name, resource types, severity, tags, summary, external ids, check)
POLICIES = stack_policies_of(
    Rule("rds-cluster-audit-logging", [RDS_CLUSTER, RDS_CLUSTER_PARAMETER_GROUP], MEDIUM, ("logging",),
         "Each Aurora cluster's parameter group turns on the engine's database audit logging (pgaudit in "
         "shared_preload_libraries and pgaudit.log for PostgreSQL, server_audit_logging for MySQL) and the cluster "
         "exports that log (postgresql / audit) to CloudWatch Logs.",
         ["CKV2_AWS_27 (the nearest Checkov control: query logging, log_statement and log_min_duration_statement, "
          "in a PostgreSQL cluster's parameter group)",
          "AWS Config aurora-mysql-cluster-audit-logging",
          "rds-aurora-mysql-audit-logging-enabled (Security Hub RDS.34)"],
         _rds_cluster_audit_logging),
)
