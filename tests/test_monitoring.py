"""DatabaseMonitoring on the committed dev and prod stacks: alarms, topic, event subscriptions, dashboard."""

from __future__ import annotations

import dataclasses
import fnmatch
import json

import pytest

from components.monitoring import DatabaseMonitoringArgs
from components.settings import MonitoringSettings, parse_settings
from deploy.offline.capture import Capture, CapturedResource, run_program
from deploy.offline.stack_config import load_stack_config
from tests.conftest import captured
from tests.helpers import children_of

MONITORING = "aurora-platform:monitoring:DatabaseMonitoring"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"

# (metric, dimension names) -> (namespace, statistic, comparison, treat missing data)
INSTANCE_DIM, READERS_DIM = ("DBInstanceIdentifier",), ("DBClusterIdentifier", "Role")
EXPECTED = {
    ("CPUUtilization", INSTANCE_DIM): ("AWS/RDS", "Average", "GreaterThanThreshold", "notBreaching"),
    ("FreeableMemory", INSTANCE_DIM): ("AWS/RDS", "Average", "LessThanThreshold", "breaching"),
    ("DatabaseConnections", INSTANCE_DIM): ("AWS/RDS", "Maximum", "GreaterThanThreshold", "notBreaching"),
    ("AuroraReplicaLag", INSTANCE_DIM): ("AWS/RDS", "Maximum", "GreaterThanThreshold", "missing"),
    ("Deadlocks", INSTANCE_DIM): ("AWS/RDS", "Average", "GreaterThanThreshold", "notBreaching"),
    # every reader of a cluster with reader auto scaling, the added ones too
    ("CPUUtilization", READERS_DIM): ("AWS/RDS", "Maximum", "GreaterThanThreshold", "notBreaching"),
    ("FreeableMemory", READERS_DIM): ("AWS/RDS", "Minimum", "LessThanThreshold", "missing"),
    ("DatabaseConnections", READERS_DIM): ("AWS/RDS", "Maximum", "GreaterThanThreshold", "notBreaching"),
    ("AuroraReplicaLag", READERS_DIM): ("AWS/RDS", "Maximum", "GreaterThanThreshold", "missing"),
    ("AuroraGlobalDBReplicationLag", ("DBClusterIdentifier", "SourceRegion")):
        ("AWS/RDS", "Maximum", "GreaterThanThreshold", "missing"),
    ("GroupInServiceInstances", ("AutoScalingGroupName",)):
        ("AWS/AutoScaling", "Minimum", "LessThanThreshold", "breaching"),
}


def gdb_override(**changes) -> dict[str, str]:
    gdb = json.loads(load_stack_config("prod")["aurora-platform:globalDatabase"])
    return {"aurora-platform:globalDatabase": json.dumps({**gdb, **changes})}


def monitors(capture: Capture) -> dict[str, CapturedResource]:
    return {m.name.removeprefix("monitoring-"): m for m in capture.by_type(MONITORING)}


def children(capture: Capture, region: str, type_: str) -> list[CapturedResource]:
    return [r for r in children_of(capture, monitors(capture)[region]) if r.type == type_]


def alarms(capture: Capture, region: str) -> dict[str, CapturedResource]:
    """Alarms of one region's monitoring by metric-and-target: ("CPUUtilization", "<instance id>")."""
    def target(dims: dict) -> str:
        return dims.get("DBInstanceIdentifier") or dims.get("DBClusterIdentifier") or dims["AutoScalingGroupName"]

    return {(a.inputs["metricName"], target(a.inputs["dimensions"])): a for a in children(capture, region, ALARM)}


def instance_ids(capture: Capture, region: str) -> list[str]:
    cluster = capture.one("aurora-platform:database:AuroraCluster", f"aurora-{region}")
    return sorted(i.inputs["identifier"] for i in capture.by_type(INSTANCE) if i.parent == cluster.urn)


def scaled_clusters(capture: Capture) -> set[str]:
    """Clusters with reader auto scaling (identifiers)."""
    return {t.inputs["resourceId"].removeprefix("cluster:") for t in capture.by_type("aws:appautoscaling/target:Target")}


def topic_arn(capture: Capture, region: str) -> str:
    (topic,) = children(capture, region, TOPIC)
    return topic.outputs["arn"]


def test_every_region_has_its_own_monitoring(stack_capture):
    assert set(monitors(stack_capture)) == set(stack_capture.outputs["regions"])
    for region, entry in stack_capture.outputs["regions"].items():
        assert entry["alarmTopicArn"] == topic_arn(stack_capture, region)
        assert f":sns:{region}:" in entry["alarmTopicArn"]
        provider = f"aws-{region}-provider-id"
        assert all(r.provider.endswith(provider) for r in children_of(stack_capture, monitors(stack_capture)[region]))
    assert stack_capture.outputs["alarmTopicArn"] == topic_arn(stack_capture, stack_capture.outputs["writerRegion"])


def test_every_alarm_has_namespace_metric_dimension_and_the_topic_as_alarm_and_ok_action(stack_capture):
    for region in stack_capture.outputs["regions"]:
        topic = topic_arn(stack_capture, region)
        found = children(stack_capture, region, ALARM)
        assert found
        for alarm in found:
            inputs = alarm.inputs
            dims = tuple(sorted(inputs["dimensions"]))
            assert (inputs["metricName"], dims) in EXPECTED, alarm.name
            namespace, statistic, comparison, missing = EXPECTED[(inputs["metricName"], dims)]
            assert inputs["namespace"] == namespace, alarm.name
            if dims == READERS_DIM:
                assert inputs["dimensions"]["Role"] == "READER", alarm.name
            assert (inputs["statistic"], inputs["comparisonOperator"], inputs["treatMissingData"]) == (
                statistic, comparison, missing), alarm.name
            assert inputs["alarmActions"] == [topic] and inputs["okActions"] == [topic], alarm.name
            assert inputs["evaluationPeriods"] == inputs["datapointsToAlarm"] >= 5, alarm.name
            assert inputs["period"] == 60 and inputs["name"].startswith(f"aurora-platform-{stack_capture.stack}-{region}-")


def test_dev_alarm_set_and_thresholds_from_settings(dev):
    monitoring = parse_settings(load_stack_config("dev"), "dev").monitoring
    writer_id, reader_id = instance_ids(dev, "us-east-2")
    asg = dev.outputs["fleetAsgName"]
    found = alarms(dev, "us-east-2")
    thresholds = {key: a.inputs["threshold"] for key, a in found.items()}
    assert thresholds == {
        ("CPUUtilization", writer_id): monitoring.cpu_percent,
        ("CPUUtilization", reader_id): monitoring.cpu_percent,
        ("FreeableMemory", writer_id): monitoring.freeable_memory_mib * 1024 * 1024,
        ("FreeableMemory", reader_id): monitoring.freeable_memory_mib * 1024 * 1024,
        ("DatabaseConnections", writer_id): monitoring.max_connections,
        ("DatabaseConnections", reader_id): monitoring.max_connections,
        ("AuroraReplicaLag", reader_id): monitoring.replica_lag_ms,  # readers only
        ("GroupInServiceInstances", asg): 1,  # fleetMinSize
    }
    assert found[("CPUUtilization", writer_id)].inputs["name"] == f"{writer_id}-cpu"


def test_thresholds_follow_overrides():
    capture = run_program("dev", "update", overrides={
        "aurora-platform:alarmCpuPercent": "65", "aurora-platform:alarmFreeableMemoryMiB": "2048",
        "aurora-platform:alarmMaxConnections": "300", "aurora-platform:alarmReplicaLagMs": "750"})
    by_metric = {metric: a.inputs["threshold"] for (metric, _), a in alarms(capture, "us-east-2").items()}
    assert by_metric["CPUUtilization"] == 65 and by_metric["FreeableMemory"] == 2048 * 1024 * 1024
    assert by_metric["DatabaseConnections"] == 300 and by_metric["AuroraReplicaLag"] == 750


def test_prod_global_replication_lag_on_the_secondary_only(prod):
    secondary = alarms(prod, "us-west-2")
    lag = secondary[("AuroraGlobalDBReplicationLag", "aurora-platform-prod-us-west-2")]
    assert lag.inputs["threshold"] == 5000 and lag.inputs["treatMissingData"] == "missing"
    assert not [k for k in alarms(prod, "us-east-1") if k[0] == "AuroraGlobalDBReplicationLag"]
    # the secondary's own instances are watched too, the fleet only where it runs
    assert {k[0] for k in secondary} == {"CPUUtilization", "FreeableMemory", "DatabaseConnections", "AuroraReplicaLag",
                                        "AuroraGlobalDBReplicationLag"}
    assert ("GroupInServiceInstances", prod.outputs["fleetAsgName"]) in alarms(prod, "us-east-1")


def test_after_a_switchover_the_old_primary_is_the_one_watched_for_global_lag():
    capture = run_program("prod", "update", overrides=gdb_override(writerRegion="us-west-2"))
    assert ("AuroraGlobalDBReplicationLag", "aurora-platform-prod-us-east-1") in alarms(capture, "us-east-1")
    assert not [k for k in alarms(capture, "us-west-2") if k[0] == "AuroraGlobalDBReplicationLag"]
    assert [k for k in alarms(capture, "us-west-2") if k[0] == "GroupInServiceInstances"]
    assert capture.outputs["alarmTopicArn"] == topic_arn(capture, "us-west-2")


def test_headless_secondary_gets_cluster_watching_only():
    capture = run_program("prod", "update", overrides=gdb_override(
        secondaryRegions=[{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 0}]))
    assert list(alarms(capture, "us-west-2")) == [("AuroraGlobalDBReplicationLag", "aurora-platform-prod-us-west-2")]
    (subscription,) = children(capture, "us-west-2", SUBSCRIPTION)
    assert subscription.inputs["sourceType"] == "db-cluster"  # never an instance subscription without source ids


def test_mysql_variant_alarms_on_deadlocks_per_instance():
    capture = captured("regional-mysql")  # alarmDeadlocksPerSecond: 2
    deadlocks = {target: a.inputs["threshold"] for (metric, target), a in alarms(capture, "eu-west-1").items()
                 if metric == "Deadlocks"}
    assert deadlocks == dict.fromkeys(instance_ids(capture, "eu-west-1"), 2)


def test_postgres_has_no_deadlock_alarms(stack_capture):
    for region in stack_capture.outputs["regions"]:
        assert not [k for k in alarms(stack_capture, region) if k[0] == "Deadlocks"]


def test_fleet_alarm_watches_the_group_metrics_the_fleet_collects(stack_capture):
    writer_region = stack_capture.outputs["writerRegion"]
    asg_name = stack_capture.outputs["fleetAsgName"]
    alarm = alarms(stack_capture, writer_region)[("GroupInServiceInstances", asg_name)]
    minimum = parse_settings(load_stack_config(stack_capture.stack), stack_capture.stack).fleet.min_size
    assert alarm.inputs["threshold"] == minimum
    (group,) = [g for g in stack_capture.by_type("aws:autoscaling/group:Group") if g.outputs["name"] == asg_name]
    assert "GroupInServiceInstances" in group.inputs["enabledMetrics"] and group.inputs["metricsGranularity"] == "1Minute"


def test_standby_fleet_with_no_minimum_has_no_in_service_alarm(prod):
    standby_asg = prod.outputs["regions"]["us-west-2"]["fleetAsgName"]
    assert standby_asg and ("GroupInServiceInstances", standby_asg) not in alarms(prod, "us-west-2")


def test_topic_is_encrypted_with_the_region_key(stack_capture):
    for region, entry in stack_capture.outputs["regions"].items():
        (topic,) = children(stack_capture, region, TOPIC)
        assert topic.inputs["kmsMasterKeyId"] == entry["kmsKeyArn"]
        key = stack_capture.one("aws:kms/key:Key", f"key-{region}")
        assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]


def test_topic_policy_lets_only_this_stacks_alarms_and_cluster_publish(stack_capture):
    for region, entry in stack_capture.outputs["regions"].items():
        (policy_resource,) = children(stack_capture, region, "aws:sns/topicPolicy:TopicPolicy")
        topic = topic_arn(stack_capture, region)
        assert policy_resource.inputs["arn"] == topic
        statements = {s["Sid"]: s for s in json.loads(policy_resource.inputs["policy"])["Statement"]}
        assert all(s["Resource"] == topic for s in statements.values())

        cloudwatch = statements["CloudWatchAlarmsPublish"]
        assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and cloudwatch["Action"] == "sns:Publish"
        assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
        pattern = cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]
        for alarm in children(stack_capture, region, ALARM):
            assert fnmatch.fnmatchcase(f"arn:aws:cloudwatch:{region}:123456789012:alarm:{alarm.inputs['name']}", pattern)

        rds = statements["RdsEventsPublish"]
        assert rds["Principal"] == {"Service": "events.rds.amazonaws.com"}
        assert rds["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
        # ARN patterns, not instance names: readers that auto scaling adds are covered too
        patterns = rds["Condition"]["ArnLike"]["aws:SourceArn"]
        scaled = entry["clusterIdentifier"] in scaled_clusters(stack_capture)
        assert sorted(patterns) == sorted([entry["clusterArn"],
                                           f"arn:aws:rds:{region}:123456789012:db:{entry['clusterIdentifier']}-*"]
                                          + ([f"arn:aws:rds:{region}:123456789012:db:application-autoscaling-*"]
                                             if scaled else []))
        for i in instance_ids(stack_capture, region):
            assert any(fnmatch.fnmatchcase(f"arn:aws:rds:{region}:123456789012:db:{i}", p) for p in patterns)

        deny = statements["DenyPublishWithoutTls"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_event_subscriptions_cover_cluster_and_instances(stack_capture):
    global_database = stack_capture.stack == "prod"
    for region, entry in stack_capture.outputs["regions"].items():
        subscriptions = {s.inputs["sourceType"]: s for s in children(stack_capture, region, SUBSCRIPTION)}
        assert set(subscriptions) == {"db-cluster", "db-instance"}
        (policy,) = children(stack_capture, region, "aws:sns/topicPolicy:TopicPolicy")
        for subscription in subscriptions.values():
            assert subscription.inputs["snsTopic"] == topic_arn(stack_capture, region)
            assert subscription.inputs["enabled"] is True
            assert policy.urn in subscription.dependencies

        cluster = subscriptions["db-cluster"].inputs
        assert cluster["sourceIds"] == [entry["clusterIdentifier"]]
        assert {"failover", "failure", "maintenance", "notification"} <= set(cluster["eventCategories"])
        assert "low storage" not in cluster["eventCategories"]  # db-cluster does not accept it
        assert ("global-failover" in cluster["eventCategories"]) is global_database

        instances = subscriptions["db-instance"].inputs
        if entry["clusterIdentifier"] in scaled_clusters(stack_capture):
            assert "sourceIds" not in instances, "auto-scaled readers have names nobody knows in advance"
        else:
            assert sorted(instances["sourceIds"]) == instance_ids(stack_capture, region)
        assert {"failover", "failure", "maintenance", "notification", "low storage"} <= set(instances["eventCategories"])


def test_email_subscription_only_when_configured(dev):
    assert dev.by_type("aws:sns/topicSubscription:TopicSubscription") == []
    capture = run_program("dev", "update", overrides={"aurora-platform:alarmEmail": "oncall@example.com"})
    (subscription,) = capture.by_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs["protocol"] == "email" and subscription.inputs["endpoint"] == "oncall@example.com"
    assert subscription.inputs["topic"] == topic_arn(capture, "us-east-2")


def test_dashboard_graphs_cpu_connections_latency_and_lag(stack_capture):
    for region, entry in stack_capture.outputs["regions"].items():
        (dashboard,) = children(stack_capture, region, "aws:cloudwatch/dashboard:Dashboard")
        assert dashboard.inputs["dashboardName"] == entry["clusterIdentifier"]
        widgets = json.loads(dashboard.inputs["dashboardBody"])["widgets"]
        metrics = {w["properties"]["title"]: w["properties"]["metrics"] for w in widgets}
        assert set(metrics) == {"CPU utilization (%)", "Database connections", "Read and write latency (s)",
                                "Replication lag (ms)"}
        assert all(w["properties"]["region"] == region for w in widgets)
        ids = instance_ids(stack_capture, region)
        scaled = entry["clusterIdentifier"] in scaled_clusters(stack_capture)
        assert sorted(m[3] for m in metrics["CPU utilization (%)"] if m[2] == "DBInstanceIdentifier") == ids
        readers = [m for m in metrics["CPU utilization (%)"] if m[2] == "DBClusterIdentifier"]
        assert readers == ([["AWS/RDS", "CPUUtilization", "DBClusterIdentifier", entry["clusterIdentifier"], "Role",
                             "READER"]] if scaled else [])
        assert {m[1] for m in metrics["Read and write latency (s)"]} == {"ReadLatency", "WriteLatency"}
        lag = {(m[1], m[3]) for m in metrics["Replication lag (ms)"]}
        assert ("AuroraReplicaLagMaximum", entry["clusterIdentifier"]) in lag
        assert (("AuroraGlobalDBReplicationLag", entry["clusterIdentifier"]) in lag) is (not entry["writer"])


def test_alarms_wait_for_the_instances_they_watch():
    capture = captured("dev", "preview")
    instances = {i.inputs["identifier"]: i for i in capture.by_type(INSTANCE)}
    for alarm in children(capture, "us-east-2", ALARM):
        if alarm.inputs["namespace"] == "AWS/RDS":
            n = alarm.inputs["name"].removeprefix("aurora-platform-dev-us-east-2-").split("-")[0]
            assert instances[f"aurora-platform-dev-us-east-2-{n}"].urn in alarm.property_dependencies["dimensions"]


MONITORING_SETTINGS = MonitoringSettings(alarm_email="", cpu_percent=80, freeable_memory_mib=512, max_connections=1000,
                                         replica_lag_ms=2000, global_replication_lag_ms=5000, deadlocks_per_second=1)


def test_monitoring_args_validate_with_field_names():
    wiring = dict(region="us-east-2", database=None, kms_key_arn="arn:key", name_prefix="x")
    with pytest.raises(ValueError) as caught:
        DatabaseMonitoringArgs(dataclasses.replace(MONITORING_SETTINGS, cpu_percent=120), **wiring,
                               evaluation_periods=0, period_seconds=45)
    message = str(caught.value)
    assert "cpu_percent must be 1 to 100" in message and "evaluation_periods must be at least 1" in message
    assert "period_seconds must be 10, 20, 30 or a multiple of 60" in message
    args = DatabaseMonitoringArgs(MONITORING_SETTINGS, **wiring, global_secondary=True, source_region="us-east-1")
    assert args.global_member
    with pytest.raises(ValueError, match="source_region is required with global_secondary"):
        DatabaseMonitoringArgs(MONITORING_SETTINGS, **wiring, global_secondary=True)
