"""The provider doubles' answers, called directly (the engine calls them the same way over gRPC)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import provider_pb2

from tests.e2e.realengine import PROVIDER_DOUBLES

spec = importlib.util.spec_from_file_location("provider_double", PROVIDER_DOUBLES / "provider_double.py")
provider_double = importlib.util.module_from_spec(spec)
spec.loader.exec_module(provider_double)

CLUSTER = "aws:rds/cluster:Cluster"
URN = f"urn:pulumi:dev::aurora-platform::aurora-platform:database:AuroraCluster${CLUSTER}::aurora-us-east-2"
GROUP_URN = ("urn:pulumi:dev::aurora-platform::aurora-platform:database:AuroraCluster$"
             "aws:rds/clusterParameterGroup:ClusterParameterGroup::aurora-us-east-2-cluster")


def struct(values: dict) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def plain(message) -> dict:
    return json_format.MessageToDict(message)


@pytest.fixture
def aws(tmp_path, monkeypatch):
    monkeypatch.setenv("AURORA_DOUBLE_STATE_DIR", str(tmp_path))
    provider = provider_double.ProviderDouble("aws")
    provider.Configure(provider_pb2.ConfigureRequest(args=struct({"region": "eu-west-1"})), None)
    return provider


def test_check_auto_names_like_the_bridge_and_keeps_the_name_on_update(aws):
    first = plain(aws.Check(provider_pb2.CheckRequest(urn=GROUP_URN, news=struct({"family": "aurora-postgresql16"})),
                            None).inputs)
    assert first["name"].startswith("aurora-us-east-2-cluster-") and len(first["name"].rsplit("-", 1)[1]) == 7
    again = plain(aws.Check(provider_pb2.CheckRequest(urn=GROUP_URN, olds=struct(first),
                                                      news=struct({"family": "aurora-postgresql16"})), None).inputs)
    assert again["name"] == first["name"]
    given = plain(aws.Check(provider_pb2.CheckRequest(urn=GROUP_URN, news=struct({"name": "mine"})), None).inputs)
    assert given["name"] == "mine"


def test_diff_replaces_only_for_the_properties_that_force_it(aws):
    state = {"engine": "aurora-postgresql", "kmsKeyId": "arn:key/1", "backupRetentionPeriod": 14, "endpoint": "x"}
    update = aws.Diff(provider_pb2.DiffRequest(urn=URN, olds=struct(state),
                                               news=struct({**state, "backupRetentionPeriod": 7})), None)
    assert list(update.diffs) == ["backupRetentionPeriod"] and list(update.replaces) == []
    replace = aws.Diff(provider_pb2.DiffRequest(urn=URN, olds=struct(state),
                                                news=struct({**state, "kmsKeyId": "arn:key/2"})), None)
    assert list(replace.replaces) == ["kmsKeyId"]
    assert replace.detailedDiff["kmsKeyId"].kind == provider_pb2.PropertyDiff.UPDATE_REPLACE
    same = aws.Diff(provider_pb2.DiffRequest(urn=URN, olds=struct(state), news=struct(
        {k: v for k, v in state.items() if k != "endpoint"})), None)  # a computed attribute is not an input diff
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE


def test_a_replacing_property_unknown_at_preview_is_a_replacement(aws):
    state = {"engine": "aurora-postgresql", "kmsKeyId": "arn:key/1"}
    diff = aws.Diff(provider_pb2.DiffRequest(urn=URN, olds=struct(state),
                                             news=struct({**state, "kmsKeyId": provider_double.UNKNOWN})), None)
    assert list(diff.replaces) == ["kmsKeyId"]


def test_diff_replaces_delete_first_where_the_provider_does(aws):
    attachment = ("urn:pulumi:dev::aurora-platform::aurora-platform:compute:InstanceFleet$"
                  "aws:iam/rolePolicyAttachment:RolePolicyAttachment::fleet-ssm")
    state = {"role": "fleet-role", "policyArn": "arn:aws:iam::aws:policy/A"}
    diff = aws.Diff(provider_pb2.DiffRequest(urn=attachment, olds=struct(state),
                                             news=struct({**state, "policyArn": "arn:aws:iam::aws:policy/B"})), None)
    assert list(diff.replaces) == ["policyArn"] and diff.deleteBeforeReplace
    # A cluster keeps create-first: its identifier is not an auto-nameable name.
    state = {"engine": "aurora-postgresql", "kmsKeyId": "arn:key/1", "clusterIdentifier": "aurora-us-east-2"}
    diff = aws.Diff(provider_pb2.DiffRequest(urn=URN, olds=struct(state),
                                             news=struct({**state, "kmsKeyId": "arn:key/2"})), None)
    assert list(diff.replaces) == ["kmsKeyId"] and not diff.deleteBeforeReplace
    # An auto-named parameter group is replaced create-first under a new name; a group the program names is not.
    named = {"name": "aurora-us-east-2-cluster-0123456", "family": "aurora-postgresql16"}
    auto = {**named, "name": provider_double.aws_model.autoname(
        "aws:rds/clusterParameterGroup:ClusterParameterGroup", "aurora-us-east-2-cluster", {})["name"]}
    for olds, delete_first in ((auto, False), (named, True)):
        diff = aws.Diff(provider_pb2.DiffRequest(urn=GROUP_URN, olds=struct(olds),
                                                 news=struct({**olds, "family": "aurora-postgresql17"})), None)
        assert list(diff.replaces) == ["family"] and diff.deleteBeforeReplace == delete_first


def test_create_leaves_computed_attributes_unknown_at_preview_and_shaped_like_aws_on_update(aws, tmp_path):
    inputs = {"engine": "aurora-postgresql", "clusterIdentifier": "app-eu"}
    preview = aws.Create(provider_pb2.CreateRequest(urn=URN, properties=struct(inputs), preview=True), None)
    assert preview.id == ""
    assert plain(preview.properties)["endpoint"] == provider_double.UNKNOWN
    assert not any(tmp_path.iterdir())  # a preview stores nothing

    created = aws.Create(provider_pb2.CreateRequest(urn=URN, properties=struct(inputs)), None)
    state = plain(created.properties)
    assert state["arn"] == "arn:aws:rds:eu-west-1:123456789012:cluster:app-eu"
    assert state["endpoint"] == "app-eu.cluster-c0ffee.eu-west-1.rds.amazonaws.com"
    assert created.id and len(list(tmp_path.iterdir())) == 1


def test_read_answers_with_the_stored_state_so_a_test_can_inject_drift(aws, tmp_path):
    created = aws.Create(provider_pb2.CreateRequest(urn=URN, properties=struct({"engine": "aurora-postgresql"})), None)
    read = aws.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=created.properties), None)
    assert plain(read.properties) == plain(created.properties)

    (stored,) = tmp_path.iterdir()
    record = json.loads(stored.read_text())
    record["state"]["deletionProtection"] = False
    stored.write_text(json.dumps(record))
    drifted = aws.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=created.properties), None)
    assert plain(drifted.properties)["deletionProtection"] is False

    aws.Delete(provider_pb2.DeleteRequest(id=created.id, urn=URN), None)
    gone = aws.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=created.properties), None)
    assert gone.id == ""  # deleted outside Pulumi


def test_invoke_answers_the_data_sources_of_the_program_in_the_configured_region(aws):
    response = aws.Invoke(provider_pb2.InvokeRequest(tok="aws:index/getRegion:getRegion"), None)
    assert plain(getattr(response, "return"))["name"] == "eu-west-1"
