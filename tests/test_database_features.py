"""Database features on the mock engine, on the committed stacks and on `--set` what-ifs (the values
parsed as `deploy check --set` parses them): reader auto scaling on connections, custom endpoints, database
audit logging (pgaudit on Aurora PostgreSQL, server_audit_logging on Aurora MySQL)."""

from __future__ import annotations

import functools

import pytest

from components.settings import SettingsError
from deploy.offline.capture import Capture, run_program
from deploy.offline.check import parse_overrides
from tests.conftest import captured
from tests.helpers import region_of

POLICY = "aws:appautoscaling/policy:Policy"
ENDPOINT = "aws:rds/clusterEndpoint:ClusterEndpoint"
ANALYTICS = "customEndpoints=[{name: analytics, type: READER, instances: [2, 3]}]"


@functools.cache
def what_if(stack: str, *pairs: str, mode: str = "update") -> Capture:
    """``stack`` planned with ``deploy check --set`` pairs laid over its settings."""
    return run_program(stack, mode, overrides=parse_overrides(list(pairs)))


def scaling_policy(capture: Capture) -> dict:
    (policy,) = capture.by_type(POLICY)
    return policy


# --- reader auto scaling on connections ----------------------------------------------------------


def test_reader_auto_scaling_tracks_cpu_by_default():
    policy = scaling_policy(captured("prod"))
    config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert policy.name.endswith("-readers-cpu")
    assert config["predefinedMetricSpecification"] == {"predefinedMetricType": "RDSReaderAverageCPUUtilization"}
    assert config["targetValue"] == 70


@pytest.mark.parametrize("mode", ["preview", "update"])
def test_reader_auto_scaling_on_connections_tracks_the_average_reader_connections(mode):
    capture = what_if("dev", "readerAutoScaling=true", "readerAutoScalingMetric=connections",
                      "readerAutoScalingConnectionsTarget=800", mode=mode)
    policy = scaling_policy(capture)
    config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert policy.inputs["policyType"] == "TargetTrackingScaling" and policy.name.endswith("-readers-connections")
    assert config["predefinedMetricSpecification"] == {"predefinedMetricType": "RDSReaderAverageDatabaseConnections"}
    assert config["targetValue"] == 800
    (target,) = capture.by_type("aws:appautoscaling/target:Target")
    assert target.inputs["scalableDimension"] == "rds:cluster:ReadReplicaCount"


def test_the_connections_target_defaults_to_500_and_is_bounded():
    config = scaling_policy(what_if("dev", "readerAutoScaling=true", "readerAutoScalingMetric=connections"))
    assert config.inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"] == 500
    with pytest.raises(SettingsError, match=r"readerAutoScalingConnectionsTarget = 5: allowed: 10 to 16000"):
        what_if("dev", "readerAutoScalingConnectionsTarget=5")
    with pytest.raises(SettingsError, match=r"readerAutoScalingMetric = 'memory': allowed: cpu, connections"):
        what_if("dev", "readerAutoScalingMetric=memory")


def test_a_connections_target_at_or_above_the_connections_alarm_is_a_warning():
    from tests.test_settings import settings_of

    on = {"readerAutoScaling": "true", "readerAutoScalingMetric": "connections"}
    assert not [w for w in settings_of("dev", **on).warnings if "ConnectionsTarget" in w]
    (warning,) = [w for w in settings_of("dev", readerAutoScalingConnectionsTarget="1000", **on).warnings
                  if "ConnectionsTarget" in w]
    assert warning == ("aurora-platform:readerAutoScalingConnectionsTarget = 1000 is at or above "
                       "aurora-platform:alarmMaxConnections (1000): readers are added only after the connections alarm fires")


# --- custom endpoints ---------------------------------------------------------------------------


def test_committed_stacks_declare_no_custom_endpoint():
    for stack in ("dev", "prod"):
        capture = captured(stack)
        assert capture.by_type(ENDPOINT) == [] and capture.outputs["customEndpoints"] == {}
        assert all(region["customEndpoints"] == {} for region in capture.outputs["regions"].values())


@pytest.mark.parametrize("mode", ["preview", "update"])
def test_a_reader_endpoint_has_its_instances_as_static_members_in_the_writer_region(mode):
    capture = what_if("prod", ANALYTICS, mode=mode)
    (endpoint,) = capture.by_type(ENDPOINT)
    assert endpoint.inputs["customEndpointType"] == "READER"
    assert endpoint.inputs["staticMembers"] == ["aurora-platform-prod-us-east-1-2", "aurora-platform-prod-us-east-1-3"]
    assert "excludedMembers" not in endpoint.inputs
    assert endpoint.inputs["clusterEndpointIdentifier"] == "aurora-platform-prod-us-east-1-analytics"
    assert endpoint.inputs["clusterIdentifier"] == "aurora-platform-prod-us-east-1"
    assert region_of(capture, endpoint) == "us-east-1"
    instances = {i.inputs["identifier"]: i.urn for i in capture.by_type("aws:rds/clusterInstance:ClusterInstance")}
    assert {instances["aurora-platform-prod-us-east-1-2"], instances["aurora-platform-prod-us-east-1-3"]} <= set(
        endpoint.property_dependencies["staticMembers"])


def test_endpoint_addresses_are_outputs_of_the_writer_region_only():
    capture = what_if("prod", ANALYTICS)
    (endpoint,) = capture.by_type(ENDPOINT)
    assert capture.outputs["customEndpoints"] == {"analytics": endpoint.outputs["endpoint"]}
    regions = capture.outputs["regions"]
    assert regions["us-east-1"]["customEndpoints"] == {"analytics": endpoint.outputs["endpoint"]}
    assert regions["us-west-2"]["customEndpoints"] == {}


def test_an_exclusion_endpoint_lists_the_excluded_instances_and_follows_the_writer_region():
    capture = what_if("prod", "customEndpoints=[{name: all-but-two, type: ANY, excludeInstances: [2]}, "
                              "{name: readers, type: READER, excludeInstances: []}]",
                      "globalDatabase={writerRegion: us-west-2, secondaryRegions: [{region: us-west-2, vpcCidr: 10.1.0.0/16, "
                      "instances: 2}]}")
    endpoints = {e.inputs["clusterEndpointIdentifier"]: e.inputs for e in capture.by_type(ENDPOINT)}
    assert endpoints == {
        "aurora-platform-prod-us-west-2-all-but-two": {
            "clusterIdentifier": "aurora-platform-prod-us-west-2", "customEndpointType": "ANY",
            "clusterEndpointIdentifier": "aurora-platform-prod-us-west-2-all-but-two",
            "excludedMembers": ["aurora-platform-prod-us-west-2-2"]},
        "aurora-platform-prod-us-west-2-readers": {
            "clusterIdentifier": "aurora-platform-prod-us-west-2", "customEndpointType": "READER",
            "clusterEndpointIdentifier": "aurora-platform-prod-us-west-2-readers"},
    }


# (what-if, key the message names, what it says is allowed)
REFUSED_ENDPOINTS = [
    ("[{name: analytics, type: READER, instances: [1, 2]}]", "customEndpoints[0].instances = [1, 2]",
     "instance 1 is the writer, which a READER endpoint never routes to; allowed: readers 2 to 3, or type ANY"),
    ("[{name: analytics, type: ANY, instances: [2, 4]}]", "customEndpoints[0].instances = [2, 4]",
     "no instance 4 in the writer region's cluster; allowed: 1 (the writer) to 3"),
    ("[{name: analytics, type: ANY, instances: []}]", "customEndpoints[0].instances = []",
     "an empty endpoint routes nowhere"),
    ("[{name: analytics, type: READER, excludeInstances: [2, 3]}]", "customEndpoints[0].excludeInstances = [2, 3]",
     "excludes every instance a READER endpoint may route to"),
    ("[{name: analytics, type: ANY}]", "customEndpoints[0] = ", "give exactly one of instances"),
    ("[{name: a, type: ANY, instances: [1]}, {name: A, type: READER, instances: [2]}]", "customEndpoints[1].name = 'A'",
     "names another endpoint already"),
    ("[{name: 9lives, type: ANY, instances: [1]}]", "customEndpoints[0].name = '9lives'",
     "1-63 letters, digits or hyphens, starting with a letter, with no two hyphens in a row and no hyphen at the end"),
    ("[{name: a--b, type: ANY, instances: [1]}]", "customEndpoints[0].name = 'a--b'", "no two hyphens in a row"),
    ("[{name: trailing-, type: ANY, instances: [1]}]", "customEndpoints[0].name = 'trailing-'", "no hyphen at the end"),
    ("[{name: " + "x" * 33 + ", type: ANY, instances: [1]}]", "customEndpoints[0].name = '" + "x" * 33 + "'",
     "longer than AWS's 63 characters; allowed: at most 32 characters here"),
    ("[{name: analytics, type: WRITER, instances: [2]}]", "customEndpoints[0].type = 'WRITER'", "allowed: READER, ANY"),
    ("[{name: analytics, type: ANY, instances: [2], weight: 3}]", "customEndpoints[0].weight = 3", "unknown field"),
    ("[{name: analytics, type: ANY, instances: [two]}]", "customEndpoints[0].instances = [\"two\"]",
     "expected a list of instance numbers"),
    ("{name: analytics}", "customEndpoints = ", "expected a list"),
    ("[" + ", ".join(f"{{name: e{i}, type: ANY, instances: [1]}}" for i in range(6)) + "]", "customEndpoints = ",
     "6 endpoints; allowed: at most 5 custom endpoints per Aurora cluster"),
]


@pytest.mark.parametrize(("value", "key", "allowed"), REFUSED_ENDPOINTS, ids=[r[2][:40] for r in REFUSED_ENDPOINTS])
def test_a_custom_endpoint_aws_would_refuse_or_that_routes_nowhere_is_refused_naming_the_key(value, key, allowed):
    with pytest.raises(SettingsError) as caught:
        what_if("prod", f"customEndpoints={value}")
    (problem,) = caught.value.problems
    assert problem.startswith(f"aurora-platform:{key}") and allowed in problem, problem


def test_check_refuses_a_reader_endpoint_naming_the_writer_with_exit_2(capsys):
    from deploy import cli

    code = cli.main(["check", "--stack", "prod", "--json", "--set",
                     "customEndpoints=[{name: analytics, type: READER, instances: [1, 2]}]"])
    assert code == 2
    captured_err = capsys.readouterr()
    assert captured_err.out == ""
    assert "aurora-platform:customEndpoints[0].instances = [1, 2]: instance 1 is the writer" in captured_err.err


# --- audit logging --------------------------------------------------------------------------------

CLUSTER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
PGAUDIT = {
    "shared_preload_libraries": ("pg_stat_statements,pgaudit", "pending-reboot"),
    "pgaudit.log": ("ddl,role", "immediate"),
    "pgaudit.role": ("rds_pgaudit", "immediate"),
    "log_connections": ("1", "immediate"),
    "log_disconnections": ("1", "immediate"),
}


def parameters(group) -> dict[str, tuple[str, str]]:
    return {p["name"]: (p["value"], p["applyMethod"]) for p in group.inputs["parameters"]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("mode", ["preview", "update"])
def test_committed_stacks_load_pgaudit_in_every_cluster_parameter_group(stack, mode):
    capture = captured(stack, mode)
    groups = capture.by_type(CLUSTER_GROUP)
    assert len(groups) == (2 if stack == "prod" else 1)
    for group in groups:
        assert parameters(group) == {"rds.force_ssl": ("1", "immediate"), **PGAUDIT}
    for cluster in capture.by_type("aws:rds/cluster:Cluster"):
        assert cluster.inputs["enabledCloudwatchLogsExports"] == ["postgresql"]


def test_pgaudit_log_takes_the_classes_set():
    (group,) = what_if("dev", "pgauditLog=ddl,role,write").by_type(CLUSTER_GROUP)
    assert parameters(group)["pgaudit.log"] == ("ddl,role,write", "immediate")


def test_audit_logging_off_outside_production_leaves_connection_logging_only():
    (group,) = what_if("dev", "auditLogging=false").by_type(CLUSTER_GROUP)
    assert parameters(group) == {"rds.force_ssl": ("1", "immediate"), "log_connections": ("1", "immediate"),
                                 "log_disconnections": ("1", "immediate")}


def test_production_refuses_audit_logging_off():
    with pytest.raises(SettingsError) as caught:
        what_if("prod", "auditLogging=false")
    assert caught.value.problems == [
        "aurora-platform:auditLogging = false: allowed in a production stack (production: true): true"]


@pytest.mark.parametrize("value", ["ddl,bogus", "", "ddl;role"])
def test_pgaudit_log_accepts_only_pgaudit_classes(value):
    with pytest.raises(SettingsError, match=r"pgauditLog = .*allowed classes: read, write, function, role, ddl, misc, "
                                            r"misc_set, all, none"):
        what_if("dev", f"pgauditLog={value}" if value else "pgauditLog=''")


@pytest.mark.parametrize("audit", [True, False])
def test_mysql_audit_logging_is_server_audit_logging(audit):
    capture = what_if("dev", "engine=aurora-mysql", "engineVersion=8.0.mysql_aurora.3.08.0", f"auditLogging={audit}")
    (group,) = capture.by_type(CLUSTER_GROUP)
    values = parameters(group)
    audited = {"server_audit_logging": ("1", "immediate"), "server_audit_events": ("CONNECT,QUERY_DCL,QUERY_DDL", "immediate")}
    assert (audited.items() <= values.items()) is audit and ("server_audit_logging" in values) is audit
    assert not any(name.startswith("pgaudit") or name == "shared_preload_libraries" for name in values)
    (cluster,) = capture.by_type("aws:rds/cluster:Cluster")
    assert "audit" in cluster.inputs["enabledCloudwatchLogsExports"]


def test_check_json_of_prod_shows_pgaudit_and_the_audit_policy_mandatory_without_violation(capsys):
    import json

    from deploy import cli

    assert cli.main(["check", "--stack", "prod", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    groups = [r for r in report["resources"] if r["type"] == CLUSTER_GROUP]
    assert groups and all({"name": "shared_preload_libraries", "value": "pg_stat_statements,pgaudit",
                           "applyMethod": "pending-reboot"} in g["inputs"]["parameters"] for g in groups)
    policies = {p["name"]: p for p in report["policies"]}
    assert policies["rds-cluster-audit-logging"] == {"name": "rds-cluster-audit-logging", "type": "stack",
                                                     "enforcementLevel": "mandatory"}
    assert report["violations"] == []


def test_diff_warns_that_switching_audit_logging_waits_for_a_reboot(capsys):
    """`deploy diff` of the committed dev stack against `--set auditLogging=false`: the group changes in place,
    and shared_preload_libraries (static) applies at the instances' next reboot."""
    import json

    from deploy import cli

    assert cli.main(["diff", "--stack", "dev", "--set", "auditLogging=false", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(c["type"], c["action"], c["properties"]) for c in report["changes"]] == [
        (CLUSTER_GROUP, "update", ["parameters"])]
    (finding,) = report["findings"]
    assert finding["level"] == "warning"
    assert "shared_preload_libraries changed, a static parameter (pending-reboot)" in finding["message"]


# ---------------------------------------------------------------------------------------
# Custom endpoints on a deployed stack: what adding, changing and removing one does (deploy diff).
# ---------------------------------------------------------------------------------------

def endpoint_diff(before: str, after: str):
    from deploy.offline.diff import diff_captures

    def capture(endpoints: str):
        return captured("prod", "update", {"aurora-platform:customEndpoints": endpoints})

    return diff_captures(capture(before), capture(after))


ANALYTICS_JSON = '[{"name": "analytics", "type": "READER", "instances": [2, 3]}]'


@pytest.mark.parametrize("after, action, properties", [
    ('[{"name": "analytics", "type": "READER", "instances": [2]}]', "update", ["staticMembers"]),
    ('[{"name": "analytics", "type": "ANY", "instances": [1, 2]}]', "update", ["customEndpointType", "staticMembers"]),
    ('[{"name": "analytics", "type": "READER", "excludeInstances": [3]}]', "update", ["excludedMembers", "staticMembers"]),
    ("[]", "delete", []),
])
def test_changing_or_removing_a_custom_endpoint_updates_or_deletes_it_and_touches_nothing_else(after, action, properties):
    result = endpoint_diff(ANALYTICS_JSON, after)
    (change,) = [c for c in result.changes if c.type.startswith("aws:")]  # the component goes with its last endpoint
    assert (change.type, change.action, change.properties) == (ENDPOINT, action, properties)
    assert result.errors == []


def test_renaming_a_custom_endpoint_creates_the_new_name_before_deleting_the_old_without_a_clash():
    result = endpoint_diff(ANALYTICS_JSON, ANALYTICS_JSON.replace("analytics", "reporting"))
    assert sorted((c.name, c.action) for c in result.changes if c.type == ENDPOINT) == [
        ("endpoints-us-east-1-analytics", "delete"), ("endpoints-us-east-1-reporting", "create")]
    assert result.errors == []
