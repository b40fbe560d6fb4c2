"""deploy.offline.analyzer: policy config handling, request building and the pack process, as the engine does them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from google.protobuf import json_format
from policy_fixtures import DEV_ADVISORY, UNKNOWN, PolicyAnalyzer, StackPack, aws_provider, of, resource

from deploy.offline.analyzer import (
    AnalyzerInfo,
    AnalyzerStartError,
    PolicyConfig,
    PolicyConfigError,
    PolicyInfo,
    analyze_request,
    analyze_stack_request,
    load_policy_config,
    reconcile_policy_config,
    stack_properties,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_DIR / "policies" / "config"
SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cr3t"}

# The catalogue of DESIGN section 4: the names are a contract.
CATALOGUE = {
    "rds-cluster-storage-encrypted": ("resource", ["CKV_AWS_96", "rds-cluster-encrypted-at-rest"]),
    "rds-cluster-customer-managed-key": ("resource", ["CKV_AWS_327"]),
    "rds-global-cluster-storage-encrypted": ("resource", ["CKV_AWS_140", "aurora-global-database-encryption-at-rest"]),
    "rds-instance-storage-encrypted": ("resource", ["CKV_AWS_16", "rds-storage-encrypted"]),
    "rds-instance-not-public": ("resource", ["CKV_AWS_17", "rds-instance-public-access-check"]),
    "ebs-encrypted": ("resource", ["CKV_AWS_8", "CKV_AWS_3"]),
    "security-group-no-public-ingress": ("resource", ["CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260", "CKV_AWS_277"]),
    "ec2-no-public-ip": ("resource", ["CKV_AWS_88"]),
    "subnet-no-public-ip-on-launch": ("resource", ["CKV_AWS_130"]),
    "ec2-imdsv2-required": ("resource", ["CKV_AWS_79"]),
    "ec2-user-data-no-secrets": ("resource", ["CKV_AWS_46"]),
    "kms-key-rotation-enabled": ("resource", ["CKV_AWS_7"]),
    "rds-performance-insights-encrypted": ("resource", ["CKV_AWS_354"]),
    "rds-performance-insights-enabled": ("resource", ["CKV_AWS_353"]),
    "rds-enhanced-monitoring": ("resource", ["CKV_AWS_118"]),
    "rds-cluster-deletion-protection": ("resource", ["CKV_AWS_139", "rds-cluster-deletion-protection-enabled"]),
    "rds-cluster-backup-retention": ("resource", ["CKV_AWS_133"]),
    "rds-cluster-final-snapshot": ("resource", []),
    "rds-cluster-iam-auth": ("resource", ["CKV_AWS_162", "rds-cluster-iam-authentication-enabled"]),
    "rds-cluster-log-exports": ("resource", ["CKV_AWS_324"]),
    "rds-cluster-copy-tags-to-snapshot": ("resource", ["CKV_AWS_313"]),
    "rds-cluster-non-default-username": ("resource", ["rds-cluster-default-admin-check"]),
    "log-group-encrypted": ("resource", []),
    "sns-topic-encrypted": ("resource", []),
    "secret-customer-managed-key": ("resource", []),
    "db-subnets-private": ("stack", []),
    "db-ingress-from-security-groups-only": ("stack", []),
    "rds-cluster-tls-enforced": ("stack", []),
    "rds-cluster-multi-az": ("stack", ["rds-cluster-multi-az-enabled"]),
    "global-cluster-regional-keys": ("stack", []),
    "global-cluster-members-consistent": ("stack", []),
    "stateful-resources-protected": ("stack", []),
    "rds-cluster-audit-logging": ("stack", ["CKV2_AWS_27", "aurora-mysql-cluster-audit-logging"]),
}


# --- the pack's metadata --------------------------------------------------------------------------------


def test_pack_serves_the_catalogue_with_its_external_ids(pack: StackPack) -> None:
    info = pack.analyzer.get_analyzer_info()
    policies = {policy.name: policy for policy in info.policies}

    assert info.name == "aurora-platform" and info.version == "1.0.0"
    assert set(CATALOGUE) <= set(policies)
    for name, (policy_type, external_ids) in CATALOGUE.items():
        assert policies[name].policy_type == policy_type
        assert policies[name].enforcement_level == "mandatory"
        for external_id in external_ids:
            assert external_id in policies[name].description, f"{name} lacks {external_id}"
        assert "Checks aws:" in policies[name].description


def test_thresholds_are_declared_in_config_schemas(pack: StackPack) -> None:
    info = pack.analyzer.get_analyzer_info()

    assert info.policy("rds-cluster-backup-retention").config_schema["properties"]["minimumDays"]["default"] == 7
    usernames = info.policy("rds-cluster-non-default-username").config_schema["properties"]["disallowedUsernames"]
    assert usernames["default"] == ["admin", "postgres", "root"]
    assert info.policy("rds-instance-class-allowed").config_schema["properties"]["allowedClasses"]["default"] == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_config_files_name_only_policies(pack: StackPack, stack: str) -> None:
    names = {policy.name for policy in pack.analyzer.get_analyzer_info().policies}

    assert set(json.loads((CONFIG_DIR / f"{stack}.json").read_text())) <= names | {"all"}


def test_prod_makes_every_policy_mandatory_and_dev_relaxes_only_resilience(pack: StackPack) -> None:
    info = pack.analyzer.get_analyzer_info()
    prod = reconcile_policy_config(info, load_policy_config(CONFIG_DIR / "prod.json"))
    dev = reconcile_policy_config(info, load_policy_config(CONFIG_DIR / "dev.json"))

    assert {name for name, entry in prod.items() if entry.enforcement_level != "mandatory"} == set()
    assert {name for name, entry in dev.items() if entry.enforcement_level == "advisory"} == DEV_ADVISORY
    assert prod["rds-cluster-backup-retention"].properties == {"minimumDays": 14}
    assert dev["rds-cluster-backup-retention"].properties == {"minimumDays": 1}
    assert "db.r7g.*" in prod["rds-instance-class-allowed"].properties["allowedClasses"]


# --- config parsing and reconciling, as the engine does it --------------------------------------------------

INFO = AnalyzerInfo(
    name="pack",
    version="1",
    policies=(
        PolicyInfo("alpha", "a", "mandatory", "resource", "high", (), {
            "properties": {"minimumDays": {"type": "integer", "minimum": 1, "maximum": 35, "default": 7}},
            "required": [],
        }),
        PolicyInfo("beta", "b", "advisory", "stack", "low", (), {
            "properties": {"names": {"type": "array", "items": {"type": "string"}, "default": ["x"]}},
            "required": [],
        }),
    ),
)


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_string_and_object_values_are_read_like_the_engine(tmp_path: Path) -> None:
    config = load_policy_config(write(tmp_path, {
        "alpha": "advisory",
        "beta": {"enforcementLevel": "disabled", "names": ["y"]},
        "gamma": {},
    }))

    assert config == {
        "alpha": PolicyConfig("advisory"),
        "beta": PolicyConfig("disabled", {"names": ["y"]}),
    }


def test_empty_file_means_no_config(tmp_path: Path) -> None:
    assert load_policy_config(write(tmp_path, "  \n")) == {}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"alpha": "blocking"}, "'blocking' is not a valid enforcement level"),
        ({"alpha": {"enforcementLevel": "strict"}}, "'strict' is not a valid enforcement level"),
        ({"alpha": 3}, "must be a string or object"),
        (["alpha"], "must be a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_malformed_config_is_refused(tmp_path: Path, document: object, says: str) -> None:
    with pytest.raises(PolicyConfigError, match=says):
        load_policy_config(write(tmp_path, document))


def test_all_sets_every_level_and_named_entries_override_it() -> None:
    config = reconcile_policy_config(INFO, {
        "all": PolicyConfig("advisory"),
        "alpha": PolicyConfig("", {"minimumDays": 14}),
        "beta": PolicyConfig("disabled"),
    })

    assert config["alpha"] == PolicyConfig("advisory", {"minimumDays": 14})
    assert config["beta"] == PolicyConfig("disabled", {"names": ["x"]})
    assert config["all"] == PolicyConfig("advisory")  # passed on to the pack, as the engine does


def test_without_config_each_policy_keeps_its_level_and_defaults() -> None:
    assert reconcile_policy_config(INFO, {}) == {
        "alpha": PolicyConfig("mandatory", {"minimumDays": 7}),
        "beta": PolicyConfig("advisory", {"names": ["x"]}),
    }


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (PolicyConfig("", {"minimumDays": "two weeks"}), "alpha: minimumDays: invalid type, expected integer"),
        (PolicyConfig("", {"minimumDays": 40}), "alpha: minimumDays: must be less than or equal to 35"),
        (PolicyConfig("", {"minimumDays": 1.5}), "expected integer"),
    ],
)
def test_properties_that_break_the_schema_are_refused(entry: PolicyConfig, says: str) -> None:
    with pytest.raises(PolicyConfigError, match=says):
        reconcile_policy_config(INFO, {"alpha": entry})


def test_array_items_are_checked() -> None:
    with pytest.raises(PolicyConfigError, match=r"beta: names.1: invalid type, expected string"):
        reconcile_policy_config(INFO, {"beta": PolicyConfig("", {"names": ["a", 2]})})


def test_entry_without_a_level_for_an_unknown_name_is_refused() -> None:
    with pytest.raises(PolicyConfigError, match="typo: no enforcement level"):
        reconcile_policy_config(INFO, {"typo": PolicyConfig("", {"minimumDays": 3})})


def test_configure_applies_a_file_to_the_running_pack(pack: StackPack, tmp_path: Path) -> None:
    cluster = resource("aws:rds/cluster:Cluster", "orders", {"engine": "aurora-postgresql", "backupRetentionPeriod": 10})
    path = write(tmp_path, {"all": "disabled", "rds-cluster-backup-retention": {"enforcementLevel": "advisory",
                                                                               "minimumDays": 12}})
    try:
        effective = pack.analyzer.configure(path)
        pack.stack = None  # the next test configures its own stack again

        violations = pack.analyzer.analyze([cluster])
    finally:
        pack.use("prod")

    assert effective["rds-cluster-backup-retention"] == PolicyConfig("advisory", {"minimumDays": 12})
    assert [(v.policy, v.level) for v in violations] == [("rds-cluster-backup-retention", "advisory")]
    assert "required 12 days" in violations[0].message


# --- requests ---------------------------------------------------------------------------------------------


def test_analyze_request_carries_inputs_options_and_the_resolved_provider() -> None:
    west = aws_provider("west", "us-west-2")
    cluster = resource("aws:rds/cluster:Cluster", "orders", {"engine": "aurora-postgresql", "masterPassword": SECRET},
                       protect=True, provider=west)
    cluster.ignore_changes = ["engineVersion"]
    cluster.parent = "urn:pulumi:test::aurora-platform::aurora-platform:index:AuroraCluster::orders"

    request = analyze_request(cluster, {west.urn: west})

    assert json_format.MessageToDict(request.properties) == {"engine": "aurora-postgresql", "masterPassword": SECRET}
    assert request.options.protect and list(request.options.ignoreChanges) == ["engineVersion"]
    assert request.options.parent == cluster.parent
    assert request.provider.urn == west.urn and request.provider.type == "pulumi:providers:aws"
    assert json_format.MessageToDict(request.provider.properties) == {"region": "us-west-2"}


def test_default_provider_is_not_sent() -> None:
    request = analyze_request(resource("aws:kms/key:Key", "key", {}), {})

    assert not request.HasField("provider")


def test_resource_references_and_output_values_are_marshalled_like_the_engine() -> None:
    sig = "4dabf18193072939515e22adb298388d"
    inputs = {
        "custom": {sig: "5cf8f73096256a8f31e491e813e4eb8e", "urn": "urn:a", "id": "sg-123"},
        "component": {sig: "5cf8f73096256a8f31e491e813e4eb8e", "urn": "urn:b"},
        "known": {sig: "d0e6a833031e9bbcd3f4e8bde6ca49a4", "value": "v"},
        "unknown": {sig: "d0e6a833031e9bbcd3f4e8bde6ca49a4"},
        "secret": {sig: "d0e6a833031e9bbcd3f4e8bde6ca49a4", "value": "p", "secret": True},
        "__internal": "dropped",
    }

    request = analyze_request(resource("aws:ec2/instance:Instance", "i", inputs), {})

    assert json_format.MessageToDict(request.properties) == {
        "custom": "sg-123",
        "component": "urn:b",
        "known": "v",
        "unknown": UNKNOWN,
        "secret": {**SECRET, "value": "p"},
    }


def test_stack_request_sends_outputs_over_inputs_with_dependencies() -> None:
    subnet = resource("aws:ec2/subnet:Subnet", "db-a", {"cidrBlock": "10.0.1.0/24"}, outputs={"id": "subnet-1"})
    group = resource("aws:rds/subnetGroup:SubnetGroup", "db", {"subnetIds": [UNKNOWN]}, deps={"subnetIds": [subnet]},
                     outputs={"subnetIds": ["subnet-1"], "arn": "arn:aws:rds:us-east-1:1:subgrp:db"})
    group.property_dependencies["description"] = []

    request = analyze_stack_request([subnet, group])

    sent = request.resources[1]
    assert json_format.MessageToDict(sent.properties) == {"subnetIds": ["subnet-1"], "arn": "arn:aws:rds:us-east-1:1:subgrp:db"}
    assert list(sent.dependencies) == [subnet.urn]
    assert {key: list(value.urns) for key, value in sent.propertyDependencies.items()} == {"subnetIds": [subnet.urn]}


def test_captured_id_becomes_the_id_output_and_is_unknown_before_creation() -> None:
    created = resource("aws:ec2/subnet:Subnet", "a", {"cidrBlock": "10.0.0.0/24"})
    created.id = "subnet-1"  # type: ignore[attr-defined]
    planned = resource("aws:ec2/subnet:Subnet", "b", {"cidrBlock": "10.0.1.0/24"})
    planned.id = ""  # type: ignore[attr-defined]

    assert stack_properties(created)["id"] == "subnet-1"
    assert stack_properties(planned)["id"] == UNKNOWN


def test_stack_diagnostics_keep_the_urn_of_the_offending_resource(pack: StackPack) -> None:
    key = resource("aws:kms/key:Key", "key", {"enableKeyRotation": True})

    (violation,) = of(pack.analyze_stack("prod", key), "stateful-resources-protected")

    assert violation.urn == key.urn
    assert violation.description.startswith("Stateful resources")
    assert not violation.message.startswith(violation.description)


# --- the process ------------------------------------------------------------------------------------------


def test_pack_process_is_stopped_by_its_pid_on_close() -> None:
    analyzer = PolicyAnalyzer(dry_run=False)
    pid = analyzer.pid
    assert analyzer.get_analyzer_info().name == "aurora-platform"

    analyzer.close()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_pack_that_does_not_start_reports_why(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("raise SystemExit('no pack here')\n")

    with pytest.raises(AnalyzerStartError, match="no pack here"):
        PolicyAnalyzer(tmp_path, startup_timeout=10)
