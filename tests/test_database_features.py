"""Database features on the mock engine, on the committed stacks and on `--set` what-ifs (the values
parsed as `deploy check --set` parses them): reader auto scaling on connections."""

from __future__ import annotations

import functools

import pytest

from components.settings import SettingsError
from deploy.offline.capture import Capture, run_program
from deploy.offline.check import parse_overrides
from tests.conftest import captured

POLICY = "aws:appautoscaling/policy:Policy"


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
