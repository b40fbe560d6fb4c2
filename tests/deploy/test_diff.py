"""`python -m deploy diff`: the classification of a change on hand-made captures, and the command
end to end on the committed stacks and on a temporary git repository."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy import cli
from deploy.errors import CommandRefused
from deploy.offline import aws_model
from deploy.offline.capture import Capture, CapturedResource, run_program
from deploy.offline.diff import diff_captures, make_urn, run_diff
from deploy.offline.stack_config import PROJECT_DIR
from tests.conftest import captured

ROOT = "urn:pulumi:dev::aurora-platform::pulumi:pulumi:Stack::aurora-platform-dev"
SECRET = "4dabf18193072939515e22adb298388d"
CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
SUBNET = "aws:ec2/subnet:Subnet"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
PARAMS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
PROXY = "aws:rds/proxy:Proxy"
ENDPOINT = "aws:rds/proxyEndpoint:ProxyEndpoint"


def res(type_: str, name: str, inputs: dict | None = None, parent: str = ROOT, custom: bool = True,
        **options) -> CapturedResource:
    return CapturedResource(
        type=type_, name=name, urn=make_urn(("dev", "aurora-platform"), parent, type_, name), custom=custom,
        parent=parent, inputs=dict(inputs or {}), outputs=options.pop("outputs", {}), protect=options.pop("protect", False),
        ignore_changes=options.pop("ignore_changes", []), delete_before_replace=options.pop("delete_before_replace", False),
        provider=options.pop("provider", None), dependencies=[], property_dependencies=options.pop("deps", {}),
        aliases=options.pop("aliases", []), id=options.pop("id", ""))


def deployed(type_: str, name: str, inputs: dict, **options) -> CapturedResource:
    """A resource as the mock engine answers it on an update: its id and computed outputs made up by the
    offline model of AWS."""
    resource_id = aws_model.fake_id(type_, name)
    outputs = {**inputs, **aws_model.computed_state(type_, name, resource_id, "us-east-1", inputs)}
    return res(type_, name, inputs, id=resource_id, outputs=outputs, **options)


def cap(*resources: CapturedResource) -> Capture:
    return Capture(stack="dev", mode="update", resources=list(resources), outputs={}, warnings=[])


def by_name(result, name: str):
    matches = [c for c in result.changes if c.name == name]
    assert len(matches) == 1, f"{name}: {[(c.action, c.name) for c in result.changes]}"
    return matches[0]


def errors_for(result, name: str) -> list[str]:
    return [f.message for f in result.errors if f.urn.endswith(f"::{name}")]


# --- the pure diff -------------------------------------------------------------------------------

def test_an_input_change_is_an_update_of_that_property():
    base = cap(res(ALARM, "cpu", {"name": "cpu", "threshold": 80, "period": 60}))
    head = cap(res(ALARM, "cpu", {"name": "cpu", "threshold": 90, "period": 60}))
    result = diff_captures(base, head)
    change = by_name(result, "cpu")
    assert (change.action, change.properties, change.replace_reasons) == ("update", ["threshold"], [])
    assert result.findings == [] and result.summary()["update"] == 1


def test_no_change_is_no_entry():
    base = cap(res(ALARM, "cpu", {"name": "cpu", "threshold": 80}))
    result = diff_captures(base, cap(res(ALARM, "cpu", {"name": "cpu", "threshold": 80})))
    assert result.changes == [] and result.unchanged == 1


def test_a_forcing_property_is_a_replacement_with_its_reason_and_create_first_by_default():
    autonamed = aws_model.autoname(PARAMS, "params", {})["name"]  # a fresh name on replacement
    base = cap(res(PARAMS, "params", {"name": autonamed, "family": "aurora-postgresql15", "description": "d"}))
    head = cap(res(PARAMS, "params", {"name": autonamed, "family": "aurora-postgresql16", "description": "d"}))
    result = diff_captures(base, head)
    change = by_name(result, "params")
    assert (change.action, change.replace_reasons, change.delete_before_replace) == ("replace", ["family"], False)
    assert result.errors == []  # stateless, and an auto-named group gets a new name
    assert [f.level for f in result.findings] == ["warning"] and "family" in result.findings[0].message


def test_a_fixed_name_set_by_the_program_makes_the_provider_delete_first():
    base = cap(res(PARAMS, "params", {"name": "fixed", "family": "aurora-postgresql15", "description": "d"}))
    head = cap(res(PARAMS, "params", {"name": "fixed", "family": "aurora-postgresql16", "description": "d"}))
    change = by_name(diff_captures(base, head), "params")
    assert change.action == "replace" and change.delete_before_replace is True


def test_the_delete_before_replace_option_avoids_the_name_clash():
    inputs = {"dbProxyEndpointName": "ro", "dbProxyName": "proxy", "targetRole": "READ_ONLY"}
    base = cap(res(ENDPOINT, "ro", {**inputs, "vpcSubnetIds": ["a", "b"]}))
    create_first = diff_captures(base, cap(res(ENDPOINT, "ro", {**inputs, "vpcSubnetIds": ["a"]})))
    delete_first = diff_captures(base, cap(res(ENDPOINT, "ro", {**inputs, "vpcSubnetIds": ["a"]},
                                               delete_before_replace=True)))
    assert any("delete_before_replace" in m and "dbProxyEndpointName=ro" in m for m in errors_for(create_first, "ro"))
    assert by_name(delete_first, "ro").delete_before_replace is True and delete_first.errors == []


def test_an_alias_keeps_the_resource():
    base = cap(res(ALARM, "old", {"name": "cpu"}))
    head = cap(res(ALARM, "new", {"name": "cpu"}, aliases=[{"spec": {"name": "old", "parentUrn": ""}}]))
    result = diff_captures(base, head)
    assert result.changes == [] and result.unchanged == 1


def test_an_alias_by_urn_keeps_the_resource():
    old = res(ALARM, "old", {"name": "cpu"})
    result = diff_captures(cap(old), cap(res(ALARM, "new", {"name": "cpu"}, aliases=[{"urn": old.urn}])))
    assert result.changes == []


def test_a_child_follows_the_alias_of_its_parent():
    old_parent = res("aurora-platform:x:Old", "comp", custom=False)
    new_parent = res("aurora-platform:x:New", "comp", custom=False, aliases=[{"spec": {"type": "aurora-platform:x:Old"}}])
    base = cap(old_parent, res(ALARM, "cpu", {"name": "cpu"}, parent=old_parent.urn))
    head = cap(new_parent, res(ALARM, "cpu", {"name": "cpu"}, parent=new_parent.urn))
    result = diff_captures(base, head)
    assert result.changes == [] and result.unchanged == 2


def test_a_urn_change_without_alias_is_a_delete_and_a_create_noted_as_a_rename():
    base = cap(res(ALARM, "old", {"name": "cpu-alarm"}))
    head = cap(res(ALARM, "new", {"name": "cpu-alarm"}))
    result = diff_captures(base, head)
    assert sorted((c.action, c.name) for c in result.changes) == [("create", "new"), ("delete", "old")]
    assert result.renames == [(base.resources[0].urn, head.resources[0].urn)]
    # The fixed name is still held by the old alarm, deleted only at the end of the update.
    message = " ".join(errors_for(result, "new"))
    assert "name=cpu-alarm" in message and "alias" in message


def proxy_stack(subnet_cidr: str, proxy_name: str | None):
    """A subnet, a proxy in it (named by the program, or auto-named), its read-only endpoint, a DB subnet group,
    an alarm on the proxy's name and a policy on its ARN."""
    subnet = deployed(SUBNET, "db-a", {"vpcId": "vpc-1", "cidrBlock": subnet_cidr, "availabilityZone": "us-east-1a"})
    # Without a name of its own the proxy gets what the bridge's auto-namer would have given it (replaced create-first).
    proxy_in = {"name": proxy_name or aws_model._autoname_value("proxy"), "engineFamily": "POSTGRESQL",
                "vpcSubnetIds": [subnet.id]}
    proxy = deployed(PROXY, "proxy", proxy_in, deps={"vpcSubnetIds": [subnet.urn]})
    name, arn = proxy.outputs["name"], proxy.outputs["arn"]
    return cap(subnet, proxy,
               deployed(ENDPOINT, "ro", {"dbProxyEndpointName": "ro", "dbProxyName": name, "vpcSubnetIds": [subnet.id]},
                        deps={"dbProxyName": [proxy.urn], "vpcSubnetIds": [subnet.urn]}),
               deployed("aws:rds/subnetGroup:SubnetGroup", "db", {"name": "db", "subnetIds": [subnet.id]},
                        deps={"subnetIds": [subnet.urn]}),
               deployed(ALARM, "proxy-alarm", {"name": "proxy-alarm", "dimensions": {"ProxyName": name}},
                        deps={"dimensions": [proxy.urn]}),
               deployed("aws:iam/rolePolicy:RolePolicy", "connect", {"role": "app", "name": "connect", "policy": json.dumps(
                   {"Statement": [{"Action": "rds-db:connect", "Resource": arn.split(":")[-1]}]})},
                   deps={"policy": [proxy.urn]}))


def test_a_replaced_dependency_propagates_what_becomes_unknown_transitively():
    """As the real engine previews it (tests/e2e/test_engine_agrees_with_diff.py): a replaced resource's
    computed outputs (a subnet's id, a proxy's ARN) are unknown, the values the program set (a proxy's name)
    are not."""
    result = diff_captures(proxy_stack("10.0.0.0/24", None), proxy_stack("10.0.9.0/24", None))
    subnet = by_name(result, "db-a")
    assert subnet.replace_reasons == ["cidrBlock"]
    proxy, endpoint = by_name(result, "proxy"), by_name(result, "ro")
    assert (proxy.action, proxy.replace_reasons, proxy.via["vpcSubnetIds"]) == ("replace", ["vpcSubnetIds"], subnet.urn)
    assert proxy.delete_before_replace is False  # auto-named
    assert (endpoint.action, endpoint.replace_reasons, endpoint.delete_before_replace) == ("replace", ["vpcSubnetIds"], False)
    assert (by_name(result, "db").action, by_name(result, "db").properties) == ("update", ["subnetIds"])
    assert (by_name(result, "connect").action, by_name(result, "connect").properties) == ("update", ["policy"])
    assert "proxy-alarm" not in {c.name for c in result.changes}  # the proxy's name stays known
    # The endpoint keeps its fixed name and is replaced create-first: a clash.
    assert any("dbProxyEndpointName=ro" in m for m in errors_for(result, "ro"))


def test_a_delete_first_replacement_deletes_first_what_it_forces_to_be_replaced():
    """A proxy named by the program is replaced delete-first; the engine then deletes before it each
    dependent whose forcing input it feeds (the endpoint's dbProxyName, even though the name stays), so
    the endpoint is replaced delete-first too and its fixed name does not clash."""
    result = diff_captures(proxy_stack("10.0.0.0/24", "orders-proxy"), proxy_stack("10.0.9.0/24", "orders-proxy"))
    proxy, endpoint = by_name(result, "proxy"), by_name(result, "ro")
    assert (proxy.action, proxy.delete_before_replace) == ("replace", True)
    assert (endpoint.action, endpoint.replace_reasons, endpoint.delete_before_replace) == (
        "replace", ["dbProxyName", "vpcSubnetIds"], True)
    assert errors_for(result, "ro") == []
    assert "proxy-alarm" not in {c.name for c in result.changes}  # its dimensions do not force a replacement


def test_an_input_derived_beyond_recognition_counts_as_unknown():
    """A value that shows no trace of the replaced resource it is computed from is taken as unknown."""
    def side(cidr):
        subnet = deployed(SUBNET, "a", {"vpcId": "vpc-1", "cidrBlock": cidr})
        return cap(subnet, deployed(ALARM, "digest", {"name": "digest", "alarmDescription": "digest 5f2b"},
                                    deps={"alarmDescription": [subnet.urn]}))

    result = diff_captures(side("10.0.0.0/24"), side("10.0.1.0/24"))
    assert by_name(result, "a").action == "replace"
    alarm = [c for c in result.changes if c.type == ALARM]
    assert [(c.action, c.properties) for c in alarm] == [("update", ["alarmDescription"])]


def test_ignore_changes_is_honoured_top_level_and_nested():
    inputs = {"engine": "aurora-postgresql", "engineVersion": "16.4", "tags": {"Name": "a", "team": "x"}}
    base = cap(res(CLUSTER, "db", inputs, ignore_changes=["engineVersion", "tags.Name"]))
    head = cap(res(CLUSTER, "db", {**inputs, "engineVersion": "16.6", "tags": {"Name": "b", "team": "x"}},
                   ignore_changes=["engineVersion", "tags.Name"]))
    assert diff_captures(base, head).changes == []
    head.resources[0].inputs["tags"] = {"Name": "b", "team": "y"}
    assert by_name(diff_captures(base, head), "db").properties == ["tags"]


def test_secrets_compare_by_value_and_are_never_shown():
    def secret(value):
        return {SECRET: "1b47061264138c4ac30d75fd1eb44270", "value": value}

    base = cap(res("aws:secretsmanager/secretVersion:SecretVersion", "v", {"secretId": "s", "secretString": "hunter2"}))
    same = cap(res("aws:secretsmanager/secretVersion:SecretVersion", "v", {"secretId": "s", "secretString": secret("hunter2")}))
    new = cap(res("aws:secretsmanager/secretVersion:SecretVersion", "v", {"secretId": "s", "secretString": secret("n3w")}))
    assert diff_captures(base, same).changes == []
    result = diff_captures(base, new)
    assert by_name(result, "v").replace_reasons == ["secretString"]
    assert "n3w" not in json.dumps(result.to_json()) and "hunter2" not in json.dumps(result.to_json())


def test_a_stateful_replacement_is_an_error_saying_what_to_do():
    base = cap(res(CLUSTER, "db", {"clusterIdentifier": "db", "engine": "aurora-postgresql"}, delete_before_replace=True))
    head = cap(res(CLUSTER, "db", {"clusterIdentifier": "db", "engine": "aurora-mysql"}, delete_before_replace=True))
    result = diff_captures(base, head)
    assert by_name(result, "db").stateful is True
    [message] = errors_for(result, "db")
    assert "`engine`" in message and "new stack and a data migration" in message


def test_a_stateful_replacement_caused_upstream_names_the_cause():
    cluster = {"clusterIdentifier": "db", "engine": "aurora-postgresql"}
    instance = {"identifier": "db-1", "clusterIdentifier": "db", "engine": "aurora-postgresql"}

    def side(cluster_inputs):
        c = res(CLUSTER, "db", cluster_inputs, delete_before_replace=True)
        return cap(c, res(INSTANCE, "db-1", instance, deps={"clusterIdentifier": [c.urn]}, delete_before_replace=True))

    result = diff_captures(side(cluster), side({**cluster, "storageEncrypted": True}))
    [message] = errors_for(result, "db-1")
    assert "`clusterIdentifier` (unknown until db (Cluster)" in message and "follows the replacement of db (Cluster)" in message


def test_a_major_engine_version_edit_warns_to_use_deploy_upgrade():
    base = cap(res(CLUSTER, "db", {"engine": "aurora-postgresql", "engineVersion": "15.8"}))
    result = diff_captures(base, cap(res(CLUSTER, "db", {"engine": "aurora-postgresql", "engineVersion": "16.6",
                                                         "applyImmediately": True})))
    assert by_name(result, "db").action == "update" and result.errors == []
    assert any("`deploy upgrade --engine-version 16.6`" in f.message for f in result.findings)


def test_a_stateful_deletion_is_an_error():
    base = cap(res("aws:cloudwatch/logGroup:LogGroup", "logs", {"name": "logs"}), res(ALARM, "cpu", {"name": "cpu"}))
    result = diff_captures(base, cap(res(ALARM, "cpu", {"name": "cpu"})))
    assert by_name(result, "logs").action == "delete"
    assert errors_for(result, "logs") and "log events" in errors_for(result, "logs")[0]


def test_a_protected_stateless_replacement_or_deletion_is_an_error():
    base = cap(res(PROXY, "proxy", {"name": "p", "engineFamily": "POSTGRESQL"}, protect=True),
               res(ALARM, "cpu", {"name": "cpu"}, protect=True))
    head = cap(res(PROXY, "proxy", {"name": "p", "engineFamily": "MYSQL"}, protect=True))
    result = diff_captures(base, head)
    assert "protected" in errors_for(result, "proxy")[0]
    assert "protected" in errors_for(result, "cpu")[0]


def test_a_stateless_replacement_alone_is_a_warning():
    base = cap(res(PROXY, "proxy", {"name": "p", "engineFamily": "POSTGRESQL"}))
    result = diff_captures(base, cap(res(PROXY, "proxy", {"name": "p", "engineFamily": "MYSQL"})))
    assert result.errors == [] and [f.level for f in result.findings] == ["warning"]


def test_subnets_whose_cidrs_swap_clash_even_delete_first():
    def subnets(a, b):
        return cap(res(SUBNET, "a", {"vpcId": "vpc-1", "cidrBlock": a}), res(SUBNET, "b", {"vpcId": "vpc-1", "cidrBlock": b}))

    result = diff_captures(subnets("10.0.0.0/24", "10.0.1.0/24"), subnets("10.0.1.0/24", "10.0.0.0/24"))
    assert {c.name for c in result.changes if c.action == "replace"} == {"a", "b"}
    assert "cidrBlock=10.0.1.0/24" in errors_for(result, "a")[0] and "b (Subnet)" in errors_for(result, "a")[0]
    assert "cidrBlock=10.0.0.0/24" in errors_for(result, "b")[0]


def test_a_provider_region_change_replaces_what_it_manages():
    provider = "pulumi:providers:aws"
    base_p, head_p = res(provider, "aws", {"region": "us-east-1"}), res(provider, "aws", {"region": "us-west-2"})
    ref = f"{base_p.urn}::aws-id"
    base = cap(base_p, res(ALARM, "cpu", {"name": "cpu"}, provider=ref))
    result = diff_captures(base, cap(head_p, res(ALARM, "cpu", {"name": "cpu"}, provider=ref)))
    assert by_name(result, "aws").replace_reasons == ["region"]
    assert by_name(result, "cpu").replace_reasons == ["provider"]


def test_the_json_gives_the_engines_urns():
    outer = res("aurora-platform:x:Outer", "outer", custom=False)
    inner = res("aurora-platform:x:Inner", "inner", custom=False, parent=outer.urn)
    head = cap(outer, inner, res(ALARM, "cpu", {"name": "cpu"}, parent=inner.urn))
    urns = {c["name"]: c["urn"] for c in diff_captures(cap(), head).to_json()["changes"]}
    assert urns["outer"] == "urn:pulumi:dev::aurora-platform::aurora-platform:x:Outer::outer"
    assert urns["cpu"] == ("urn:pulumi:dev::aurora-platform::aurora-platform:x:Outer$aurora-platform:x:Inner$"
                           "aws:cloudwatch/metricAlarm:MetricAlarm::cpu")


# --- the command on the committed stacks ---------------------------------------------------------

def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["diff", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_dev_one_more_reader_creates_an_instance_and_replaces_nothing(capsys):
    code, out, err = run_cli(capsys, "--stack", "dev", "--set", "readerCount=2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"base", "head", "changes", "findings", "summary"}
    created = [c for c in report["changes"] if c["action"] == "create"]
    assert any(c["type"] == INSTANCE for c in created)
    assert [c for c in report["changes"] if c["action"] in ("replace", "delete")] == []
    assert set(report["changes"][0]) == {"urn", "type", "name", "action", "properties", "replaceReasons",
                                         "deleteBeforeReplace", "stateful"}
    assert report["head"]["settingsChanged"] == {"aurora-platform:readerCount": ["1", "2"]}
    assert not [c["urn"] for c in report["changes"] if "pulumi:pulumi:Stack$" in c["urn"]]  # the engine's URNs


def test_prod_engine_change_is_refused_naming_the_clusters(capsys):
    code, out, _ = run_cli(capsys, "--stack", "prod", "--set", "engine=aurora-mysql",
                           "--set", "engineVersion=8.0.mysql_aurora.3.08.2")
    assert code == 1
    assert "aurora-us-east-1 (Cluster) would be replaced" in out and "aurora-us-west-2 (Cluster) would be replaced" in out
    assert "FAILED" in out


@functools.cache
def prod_what_if(overrides: tuple[tuple[str, str], ...]):
    head = run_program("prod", "update", overrides={f"aurora-platform:{k}": v for k, v in overrides})
    return captured("prod", "update"), head, diff_captures(captured("prod", "update"), head)


FIXED_NAMES = {INSTANCE: "identifier", CLUSTER: "clusterIdentifier", ENDPOINT: "dbProxyEndpointName",
               "aws:rds/globalCluster:GlobalCluster": "globalClusterIdentifier"}


@pytest.mark.parametrize("overrides", [(("azCount", "2"),),
                                       (("availabilityZones", '["us-east-1b", "us-east-1a", "us-east-1c"]'),)],
                         ids=["azCount=2", "availabilityZones-reordered"])
def test_prod_zone_changes_report_every_create_before_delete_clash_as_an_error(overrides):
    """The program may still clash here (later changes fix that); whatever clashes must be an error."""
    base, head, result = prod_what_if(overrides)
    olds, news = base.by_urn(), head.by_urn()
    refused = {f.urn for f in result.errors}
    for change in (c for c in result.changes if c.action == "replace" and not c.delete_before_replace):
        new, old = news[change.urn].inputs, olds[change.base_urn].inputs
        prop = FIXED_NAMES.get(change.type)
        if prop and new.get(prop) == old.get(prop):
            assert change.urn in refused, f"{change.name}: same {prop}, created first, not reported"
    for change in (c for c in result.changes if c.type == SUBNET and c.action in ("replace", "create")):
        new = news[change.urn].inputs
        holders = [r for r in base.by_type(SUBNET) if (r.inputs["vpcId"], r.inputs["cidrBlock"]) ==
                   (new["vpcId"], new["cidrBlock"]) and not (r.urn == change.base_urn and change.delete_before_replace)]
        if holders:
            assert change.urn in refused, f"{change.name}: CIDR {new['cidrBlock']} still held, not reported"


def test_prod_az_count_json_exit_code_matches_its_errors(capsys):
    code, out, _ = run_cli(capsys, "--stack", "prod", "--set", "azCount=2", "--json")
    report = json.loads(out)
    errors = [f for f in report["findings"] if f["level"] == "error"]
    assert code == (1 if errors else 0)
    assert report["summary"]["errors"] == len(errors)


def test_markdown_puts_replacements_and_findings_first():
    from deploy.offline.diff_report import render_markdown

    base = cap(res(PROXY, "proxy", {"name": "p", "engineFamily": "POSTGRESQL"}), res(ALARM, "cpu", {"name": "cpu"}))
    head = cap(res(PROXY, "proxy", {"name": "p", "engineFamily": "MYSQL"}), res(ALARM, "cpu", {"name": "cpu", "period": 1}))
    text = render_markdown(diff_captures(base, head))
    assert text.index("#### Replacements") < text.index("#### Findings") < text.index("Update (1)")


def test_an_unknown_ref_is_bad_input(capsys):
    code, _, err = run_cli(capsys, "--stack", "dev", "--base", "no-such-ref-anywhere")
    assert code == 2 and "no-such-ref-anywhere" in err


def test_an_unknown_stack_or_setting_is_bad_input(capsys):
    assert run_cli(capsys, "--stack", "nope")[0] == 2
    code, _, err = run_cli(capsys, "--stack", "dev", "--set", "noSuchSetting=1")
    assert code == 2 and "head" in err and "noSuchSetting" in err


# --- --base on real commits of a temporary repository ---------------------------------------------

def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    """The program in a new repository whose HEAD~1 is a merge commit with two readers on dev."""
    project = tmp_path / "project"
    project.mkdir()
    for path in ["__main__.py", "Pulumi.yaml", *(p.name for p in PROJECT_DIR.glob("Pulumi.*.yaml"))]:
        shutil.copy(PROJECT_DIR / path, project / path)
    shutil.copytree(PROJECT_DIR / "components", project / "components", ignore=shutil.ignore_patterns("__pycache__"))
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "base")
    git(project, "checkout", "-q", "-b", "side")
    dev = project / "Pulumi.dev.yaml"
    original = dev.read_text()
    dev.write_text(original.replace("aurora-platform:readerCount: 1", "aurora-platform:readerCount: 2"))
    git(project, "commit", "-q", "-am", "two readers")
    git(project, "checkout", "-q", "main")
    (project / "NOTES").write_text("x\n")
    git(project, "add", "NOTES")
    git(project, "commit", "-q", "-m", "notes")
    git(project, "merge", "-q", "--no-ff", "-m", "merge", "side")
    dev.write_text(original)
    git(project, "commit", "-q", "-am", "back to one reader")
    return project


def test_base_at_a_merge_commit_runs_and_the_worktree_is_removed(repo):
    assert git(repo, "rev-parse", "HEAD~1^2")  # HEAD~1 is a merge: it has a second parent
    result = run_diff("dev", "HEAD~1", project_dir=repo)
    assert result.base["commit"] == git(repo, "rev-parse", "HEAD~1")
    deleted = [c for c in result.changes if c.action == "delete"]
    assert any(c.type == INSTANCE for c in deleted)
    assert any(f.urn == c.urn for c in deleted if c.type == INSTANCE for f in result.errors)
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_invalid_settings_in_the_base_say_so_and_the_worktree_is_removed(repo):
    dev = repo / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text() + "  aurora-platform:noSuchSetting: 1\n")
    git(repo, "commit", "-q", "-am", "broken")
    dev.write_text(dev.read_text().replace("  aurora-platform:noSuchSetting: 1\n", ""))
    with pytest.raises(CommandRefused, match=r"(?s)base \(HEAD.*noSuchSetting"):
        run_diff("dev", "HEAD", project_dir=repo)
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_invalid_settings_in_the_head_say_so_and_the_worktree_is_removed(repo):
    with pytest.raises(CommandRefused, match=r"(?s)head \(working tree\).*noSuchSetting"):
        run_diff("dev", "HEAD", {"aurora-platform:noSuchSetting": "1"}, project_dir=repo)
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_stack_the_base_does_not_have_is_all_new(repo):
    shutil.copy(repo / "Pulumi.dev.yaml", repo / "Pulumi.qa.yaml")
    result = run_diff("qa", "HEAD", project_dir=repo)
    assert result.base["missing"] is True
    assert {c.action for c in result.changes} == {"create"} and result.unchanged == 0


def test_the_base_runs_its_own_components(repo):
    """The base's program imports the base's `components`, not the working tree's."""
    main = repo / "__main__.py"
    original = main.read_text()
    (repo / "components" / "diff_probe.py").write_text(
        'import pulumi_aws as aws\n\n\ndef probe():\n    return aws.sns.Topic("diff-probe")\n')
    main.write_text(original + "\nfrom components.diff_probe import probe  # noqa: E402\n\nprobe()\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "probe")
    main.write_text(original)
    (repo / "components" / "diff_probe.py").unlink()
    result = run_diff("dev", "HEAD", project_dir=repo)
    assert [(c.action, c.name) for c in result.changes] == [("delete", "diff-probe")]


def test_a_new_vpc_cidr_is_refused_because_rds_will_not_move_a_subnet_group_in_use(capsys):
    """Every plan updates the DB subnet group onto the new VPC's subnets in place; RDS refuses that move."""
    assert cli.main(["diff", "--stack", "dev", "--set", "vpcCidr=10.20.0.0/16", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (error,) = [f for f in report["findings"] if f["level"] == "error"]
    assert error["urn"].endswith("aws:rds/subnetGroup:SubnetGroup::network-us-east-2-db")
    assert "RDS refuses to move a DB subnet group in use to another VPC" in error["message"]
