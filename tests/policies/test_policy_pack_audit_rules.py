"""rds-cluster-audit-logging (stack policy) through the real pack, over the analyzer protocol, on small
graphs built in update mode (references by known value) and preview mode (references unknown, linked by
dependencies): passing, failing and preview-unknown fixtures for Aurora PostgreSQL (pgaudit) and Aurora
MySQL (server_audit_logging)."""

from __future__ import annotations

from typing import Any

import pytest
from policy_fixtures import UNKNOWN, Resource, StackPack, expected_level, of, resource
from test_policy_pack_stack_rules import MODES, Graph

POLICY = "rds-cluster-audit-logging"
CLUSTER = "aws:rds/cluster:Cluster"
PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"

PGAUDIT = [
    {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"},
    {"name": "shared_preload_libraries", "value": "pg_stat_statements,pgaudit", "applyMethod": "pending-reboot"},
    {"name": "pgaudit.log", "value": "ddl,role", "applyMethod": "immediate"},
    {"name": "pgaudit.role", "value": "rds_pgaudit", "applyMethod": "immediate"},
]
MYSQL_AUDIT = [{"name": "server_audit_logging", "value": "1"}, {"name": "server_audit_events", "value": "CONNECT"}]
EXPORTS = {"aurora-postgresql": ["postgresql"], "aurora-mysql": ["audit", "error", "general", "slowquery"]}


def audited(mode: str, engine: str = "aurora-postgresql", parameters: Any = None,
            exports: Any = None) -> tuple[Graph, Resource]:
    """A cluster naming its parameter group; ``parameters`` None: the engine's audit parameters."""
    g = Graph(mode)
    family = "aurora-postgresql16" if engine == "aurora-postgresql" else "aurora-mysql8.0"
    default = PGAUDIT if engine == "aurora-postgresql" else MYSQL_AUDIT
    group = g.add(PARAMETER_GROUP, "audit", {"name": "orders-audit", "family": family,
                                             "parameters": default if parameters is None else parameters})
    inputs = {"engine": engine, "enabledCloudwatchLogsExports": EXPORTS[engine] if exports is None else exports}
    return g, g.add(CLUSTER, "orders", inputs, {"dbClusterParameterGroupName": (group, "name")})


def without(parameters: list[dict], name: str) -> list[dict]:
    return [p for p in parameters if p["name"] != name]


def with_value(parameters: list[dict], name: str, value: str) -> list[dict]:
    return [{**p, "value": value} if p["name"] == name else p for p in parameters]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("engine", "parameters"), [
    ("aurora-postgresql", None),
    ("aurora-postgresql", with_value(PGAUDIT, "shared_preload_libraries", "pgaudit")),
    ("aurora-postgresql", with_value(PGAUDIT, "pgaudit.log", "all,-misc")),
    ("aurora-mysql", None),
    ("aurora-mysql", with_value(MYSQL_AUDIT, "server_audit_logging", "ON")),
])
def test_a_cluster_auditing_its_engine_and_exporting_the_log_passes(pack: StackPack, mode: str, engine: str,
                                                                     parameters: list | None) -> None:
    g, _ = audited(mode, engine, parameters)

    assert of(pack.analyze_stack("prod", *g.resources), POLICY) == []


# (engine, parameters, log exports, what the message says)
FAILING = [
    ("aurora-postgresql", without(PGAUDIT, "shared_preload_libraries"), None,
     "shared_preload_libraries is not set, without pgaudit"),
    ("aurora-postgresql", with_value(PGAUDIT, "shared_preload_libraries", "pg_stat_statements"), None,
     'shared_preload_libraries is "pg_stat_statements", without pgaudit'),
    ("aurora-postgresql", without(PGAUDIT, "pgaudit.log"), None, "pgaudit.log is not set"),
    ("aurora-postgresql", with_value(PGAUDIT, "pgaudit.log", "none"), None, 'pgaudit.log is "none"'),
    ("aurora-postgresql", None, [], 'enabledCloudwatchLogsExports is [], without "postgresql"'),
    ("aurora-mysql", without(MYSQL_AUDIT, "server_audit_logging"), None, "server_audit_logging is not set"),
    ("aurora-mysql", with_value(MYSQL_AUDIT, "server_audit_logging", "0"), None, 'server_audit_logging is "0"'),
    ("aurora-mysql", None, ["error", "slowquery"], 'without "audit"'),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("engine", "parameters", "exports", "says"), FAILING, ids=[f[3][:40] for f in FAILING])
def test_a_cluster_without_audit_logging_is_reported(pack: StackPack, mode: str, engine: str, parameters: list | None,
                                                      exports: list | None, says: str) -> None:
    g, cluster = audited(mode, engine, parameters, exports)

    (violation,) = of(pack.analyze_stack("prod", *g.resources), POLICY)

    assert violation.urn == cluster.urn and violation.level == "mandatory" and says in violation.message
    fix = "pgaudit" if engine == "aurora-postgresql" else "server_audit_logging=1"
    assert fix in violation.message or "enabled_cloudwatch_logs_exports" in violation.message


def test_a_cluster_on_the_default_parameter_group_is_reported(pack: StackPack) -> None:
    cluster = resource(CLUSTER, "orders", {"engine": "aurora-postgresql", "enabledCloudwatchLogsExports": ["postgresql"],
                                           "dbClusterParameterGroupName": "default.aurora-postgresql16"})

    (violation,) = of(pack.analyze_stack("prod", cluster), POLICY)

    assert "uses the default parameter group, where database audit logging is off" in violation.message


# First-preview values: each unknown fails closed, mandatory, never an advisory "can't run" notice.
PREVIEW_UNKNOWN = [
    # An unknown input with no dependency is an unset attribute the provider computes: no parameters at all.
    ("parameters unknown", {"parameters": UNKNOWN}, {}, "leaves database audit logging off (shared_preload_libraries is not set"),
    ("a value unknown", {"parameters": with_value(PGAUDIT, "pgaudit.log", UNKNOWN)}, {},
     "the parameters of parameter group 'audit' are unknown"),
    ("log exports unknown", {}, {"enabledCloudwatchLogsExports": UNKNOWN},
     "enabledCloudwatchLogsExports is unknown during preview"),
    ("engine unknown", {}, {"engine": UNKNOWN}, "engine is unknown during preview"),
]


@pytest.mark.parametrize(("case", "group_inputs", "cluster_inputs", "says"), PREVIEW_UNKNOWN, ids=[c[0] for c in PREVIEW_UNKNOWN])
def test_values_unknown_on_a_first_preview_fail_closed(pack: StackPack, case: str, group_inputs: dict,
                                                       cluster_inputs: dict, says: str) -> None:
    group = resource(PARAMETER_GROUP, "audit", {"name": "orders-audit", "family": "aurora-postgresql16",
                                                "parameters": PGAUDIT, **group_inputs})
    cluster = resource(CLUSTER, "orders", {"engine": "aurora-postgresql", "enabledCloudwatchLogsExports": ["postgresql"],
                                           "dbClusterParameterGroupName": UNKNOWN, **cluster_inputs},
                       # computed from another resource (here the group): an unknown the program set, not an unset one
                       deps={"dbClusterParameterGroupName": [group], **dict.fromkeys(cluster_inputs, [group])})

    violations = of(pack.analyze_stack("prod", group, cluster), POLICY)  # the fixture refuses "can't run" notices

    assert violations and all(v.level == "mandatory" and v.urn == cluster.urn for v in violations)
    assert any(says in v.message for v in violations), violations


def test_a_parameter_group_computed_from_elsewhere_fails_closed(pack: StackPack) -> None:
    outside = resource("aws:ssm/parameter:Parameter", "group-name", {"type": "String"})
    cluster = resource(CLUSTER, "orders", {"engine": "aurora-postgresql", "enabledCloudwatchLogsExports": ["postgresql"],
                                           "dbClusterParameterGroupName": UNKNOWN},
                       deps={"dbClusterParameterGroupName": [outside]})

    (violation,) = of(pack.analyze_stack("prod", outside, cluster), POLICY)

    assert violation.level == "mandatory"
    assert "is unknown during preview and depends on no cluster parameter group of this stack" in violation.message


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_advisory_in_dev_and_mandatory_in_prod(pack: StackPack, stack: str) -> None:
    g, _ = audited("update", parameters=without(PGAUDIT, "shared_preload_libraries"))

    violations = of(pack.analyze_stack(stack, *g.resources), POLICY)

    assert violations and {v.level for v in violations} == {expected_level(stack, POLICY)}
    assert expected_level(stack, POLICY) == {"dev": "advisory", "prod": "mandatory"}[stack]
