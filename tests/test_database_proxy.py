"""DatabaseProxy and the break-glass policy on the committed stacks and --set variants."""

from __future__ import annotations

import json

import pytest

from components.database_proxy import DatabaseProxyArgs, db_user_arns, proxy_resource_id
from components.settings import AccessSettings, SettingsError
from deploy.offline.capture import Capture, run_program
from tests.conftest import captured, deploy_check
from tests.helpers import children_of, region_of

PROXY = "aws:rds/proxy:Proxy"
TARGET_GROUP = "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup"
TARGET = "aws:rds/proxyTarget:ProxyTarget"
ENDPOINT = "aws:rds/proxyEndpoint:ProxyEndpoint"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
COMPONENT = "aurora-platform:database:DatabaseProxy"


def proxy_child(capture: Capture, region: str, type_: str) -> list:
    component = capture.one(COMPONENT, f"proxy-{region}")
    return [r for r in children_of(capture, component) if r.type == type_]


def test_prod_has_one_tls_only_iam_authenticated_proxy_per_member_region(prod):
    proxies = prod.by_type(PROXY)
    assert sorted(region_of(prod, p) for p in proxies) == ["us-east-1", "us-west-2"]
    for proxy in proxies:
        region = region_of(prod, proxy)
        assert proxy.inputs["requireTls"] is True
        assert proxy.inputs["defaultAuthScheme"] == "IAM_AUTH"
        assert "auths" not in proxy.inputs  # no secret per user: the proxy logs in with its role
        assert proxy.inputs["engineFamily"] == "POSTGRESQL"
        assert proxy.inputs["debugLogging"] is False
        assert proxy.inputs["idleClientTimeout"] == 1800
        assert proxy.inputs["name"] == f"aurora-platform-prod-{region}"
        network = prod.one("aurora-platform:network:Network", f"network-{region}")
        private = {s.id for s in children_of(prod, network)
                   if s.type == "aws:ec2/subnet:Subnet" and s.inputs["tags"]["tier"] == "private"}
        assert set(proxy.inputs["vpcSubnetIds"]) == private and len(private) == 3


def test_the_proxy_registers_its_region_cluster_once_the_instances_exist(prod):
    for region in ("us-east-1", "us-west-2"):
        (group,) = proxy_child(prod, region, TARGET_GROUP)
        assert group.inputs["connectionPoolConfig"] == {
            "maxConnectionsPercent": 90, "maxIdleConnectionsPercent": 45, "connectionBorrowTimeout": 120}
        (target,) = proxy_child(prod, region, TARGET)
        cluster = prod.one("aws:rds/cluster:Cluster", f"aurora-{region}")
        assert target.inputs["dbClusterIdentifier"] == cluster.outputs["clusterIdentifier"]
        assert target.inputs["targetGroupName"] == "default"
        instances = {i.urn for i in prod.by_type("aws:rds/clusterInstance:ClusterInstance")
                     if i.inputs["clusterIdentifier"] == cluster.id}
        assert instances and instances <= set(target.dependencies)


def test_read_only_endpoint_where_the_cluster_has_readers(prod):
    for region in ("us-east-1", "us-west-2"):
        (endpoint,) = proxy_child(prod, region, ENDPOINT)
        assert endpoint.inputs["targetRole"] == "READ_ONLY"
        assert endpoint.inputs["dbProxyEndpointName"] == f"aurora-platform-prod-{region}-ro"
        (proxy,) = proxy_child(prod, region, PROXY)
        assert endpoint.inputs["vpcSecurityGroupIds"] == proxy.inputs["vpcSecurityGroupIds"]
    one_instance = run_program("dev", "update", overrides={
        "aurora-platform:proxyEnabled": "true", "aurora-platform:readerCount": "0"})
    assert proxy_child(one_instance, "us-east-2", ENDPOINT) == []
    assert one_instance.outputs["proxyReadOnlyEndpoint"] is None


def test_proxy_group_admits_only_the_fleet_and_reaches_only_the_database(prod):
    for region in ("us-east-1", "us-west-2"):
        (sg,) = proxy_child(prod, region, SG)
        assert "ingress" not in sg.inputs and "egress" not in sg.inputs
        fleet = prod.one("aurora-platform:compute:InstanceFleet", f"fleet-{region}")
        (fleet_sg,) = [r for r in children_of(prod, fleet) if r.type == SG]
        ingress = [r.inputs for r in prod.by_type(INGRESS) if r.inputs["securityGroupId"] == sg.id]
        assert [(r["referencedSecurityGroupId"], r["fromPort"], r["toPort"]) for r in ingress] == [(fleet_sg.id, 5432, 5432)]
        db_sg_id = prod.outputs["regions"][region]["dbSecurityGroupId"]
        egress = [r.inputs for r in prod.by_type(EGRESS) if r.inputs["securityGroupId"] == sg.id]
        assert [(r["referencedSecurityGroupId"], r["fromPort"], r["toPort"]) for r in egress] == [(db_sg_id, 5432, 5432)]
        db_ingress = [r.inputs["referencedSecurityGroupId"] for r in prod.by_type(INGRESS)
                      if r.inputs["securityGroupId"] == db_sg_id]
        assert db_ingress == [sg.id]  # the fleet's direct path is gone


def test_proxy_role_may_only_log_in_to_its_cluster_as_the_application_users(prod):
    for region in ("us-east-1", "us-west-2"):
        (role,) = proxy_child(prod, region, "aws:iam/role:Role")
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust == [{"Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"}, "Action": "sts:AssumeRole",
                          "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]
        (policy,) = proxy_child(prod, region, "aws:iam/rolePolicy:RolePolicy")
        cluster = prod.one("aws:rds/cluster:Cluster", f"aurora-{region}")
        assert json.loads(policy.inputs["policy"])["Statement"] == [{
            "Sid": "ConnectAsApplicationUsers", "Effect": "Allow", "Action": "rds-db:connect",
            "Resource": [f"arn:aws:rds-db:{region}:123456789012:dbuser:{cluster.outputs['clusterResourceId']}/app"]}]
        (proxy,) = proxy_child(prod, region, PROXY)
        assert proxy.inputs["roleArn"] == role.outputs["arn"]
        assert policy.urn in proxy.dependencies  # the role can log in before the proxy is created


def test_outputs_per_region_and_for_the_writer(prod):
    for region, entry in prod.outputs["regions"].items():
        (proxy,) = proxy_child(prod, region, PROXY)
        (endpoint,) = proxy_child(prod, region, ENDPOINT)
        assert entry["proxyEndpoint"] == proxy.outputs["endpoint"]
        assert entry["proxyReadOnlyEndpoint"] == endpoint.outputs["endpoint"]
        assert entry["proxyArn"] == proxy.outputs["arn"] and ":db-proxy:prx-" in entry["proxyArn"]
    writer = prod.outputs["regions"][prod.outputs["writerRegion"]]
    assert (prod.outputs["proxyEndpoint"], prod.outputs["proxyReadOnlyEndpoint"], prod.outputs["proxyArn"]) == (
        writer["proxyEndpoint"], writer["proxyReadOnlyEndpoint"], writer["proxyArn"])
    assert prod.outputs["applicationUsers"] == ["app"]


def test_dev_keeps_the_proxy_off_and_can_turn_it_on(dev):
    assert dev.by_type(PROXY) == [] and dev.outputs["proxyEndpoint"] is None
    on = run_program("dev", "update", overrides={"aurora-platform:proxyEnabled": "true",
                                                 "aurora-platform:proxyIdleClientTimeout": "600"})
    (proxy,) = on.by_type(PROXY)
    assert proxy.inputs["idleClientTimeout"] == 600 and on.outputs["proxyEndpoint"] == proxy.outputs["endpoint"]


def test_headless_secondary_gets_no_proxy():
    gdb = {"writerRegion": "us-east-1", "secondaryRegions": [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 0}]}
    capture = captured("prod", "update", overrides={"aurora-platform:globalDatabase": json.dumps(gdb)})
    assert [region_of(capture, p) for p in capture.by_type(PROXY)] == ["us-east-1"]
    assert capture.outputs["regions"]["us-west-2"]["proxyEndpoint"] is None


def test_allowed_security_groups_reach_the_primary_proxy():
    capture = run_program("prod", "update", overrides={"aurora-platform:allowedSecurityGroupIds": '["sg-0123456789abcdef0"]'})
    (sg,) = proxy_child(capture, "us-east-1", SG)
    sources = {r.inputs["referencedSecurityGroupId"] for r in capture.by_type(INGRESS) if r.inputs["securityGroupId"] == sg.id}
    assert "sg-0123456789abcdef0" in sources


def test_check_json_lists_the_proxies_with_tls_and_iam_auth():
    result = deploy_check("--stack", "prod", "--json", "--mode", "preview")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    proxies = [r for r in report["resources"] if r["type"] == PROXY]
    assert sorted(r["name"] for r in proxies) == ["proxy-us-east-1", "proxy-us-west-2"]
    assert all(r["inputs"]["requireTls"] is True and r["inputs"]["defaultAuthScheme"] == "IAM_AUTH" for r in proxies)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"proxyMaxConnectionsPercent": "95", "globalDatabase": json.dumps({
        "writeForwarding": True, "secondaryRegions": [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16"}]})},
     "aurora-platform:proxyMaxConnectionsPercent = 95: with globalDatabase.writeForwarding"),
    ({"proxyMaxIdleConnectionsPercent": "95"},
     "proxyMaxIdleConnectionsPercent = 95: allowed: 0 to proxyMaxConnectionsPercent (90)"),
    ({"proxyConnectionBorrowTimeout": "301"}, "proxyConnectionBorrowTimeout = 301: allowed: 0 to 300"),
    ({"proxyIdleClientTimeout": "0"}, "proxyIdleClientTimeout = 0: allowed: 1 to 28800"),
    ({"applicationUsers": '["app-user"]'}, "applicationUsers = 'app-user': 1-32 letters, digits or underscores"),
    ({"applicationUsers": '["dbadmin"]'}, "applicationUsers = 'dbadmin': is the master user"),
    ({"applicationUsers": '["rds_iam"]'}, "applicationUsers = 'rds_iam': a reserved or well-known name"),
    ({"applicationUsers": "[]"}, "applicationUsers = []: list at least one database user"),
    ({"operatorRoleArns": '["arn:aws:iam::123:user/bob"]'},
     "operatorRoleArns = 'arn:aws:iam::123:user/bob': expected an IAM role ARN"),
])
def test_bad_access_setting_is_one_clear_message(overrides, message):
    with pytest.raises(SettingsError) as caught:
        run_program("prod", "preview", overrides={f"aurora-platform:{k}": v for k, v in overrides.items()})
    assert message in str(caught.value)


def test_write_forwarding_leaves_room_for_forwarded_connections():
    gdb = {"writeForwarding": True, "secondaryRegions": [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16"}]}
    forwarding = {"aurora-platform:globalDatabase": json.dumps(gdb)}
    with pytest.raises(SettingsError) as caught:
        run_program("prod", "preview", overrides={**forwarding, "aurora-platform:proxyMaxConnectionsPercent": "91"})
    assert "proxyMaxConnectionsPercent = 91" in str(caught.value)
    capture = run_program("prod", "update", overrides={**forwarding, "aurora-platform:proxyMaxConnectionsPercent": "90"})
    groups = capture.by_type(TARGET_GROUP)
    assert len(groups) == 2 and {g.inputs["connectionPoolConfig"]["maxConnectionsPercent"] for g in groups} == {90}
    # Without write forwarding the whole pool may go to the proxy.
    capture = run_program("prod", "update", overrides={"aurora-platform:proxyMaxConnectionsPercent": "100"})
    assert {g.inputs["connectionPoolConfig"]["maxConnectionsPercent"] for g in capture.by_type(TARGET_GROUP)} == {100}


def test_break_glass_policy_reads_the_master_secret_and_goes_only_to_operator_roles():
    operator = "arn:aws:iam::123456789012:role/ops/dba-break-glass"
    capture = run_program("prod", "update", overrides={"aurora-platform:operatorRoleArns": json.dumps([operator])})
    (policy,) = capture.by_type("aws:iam/policy:Policy")
    statements = json.loads(policy.inputs["policy"])["Statement"]
    secrets = {entry["secretArn"] for entry in capture.outputs["regions"].values()}
    assert statements[0]["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    assert set(statements[0]["Resource"]) == secrets and len(secrets) == 2
    decrypts = {s["Resource"]: s["Condition"]["StringEquals"]["kms:ViaService"] for s in statements[1:]}
    assert decrypts == {entry["kmsKeyArn"]: f"secretsmanager.{region}.amazonaws.com"
                        for region, entry in capture.outputs["regions"].items()}
    attachments = [a for a in capture.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                   if a.inputs["policyArn"] == policy.outputs["arn"]]
    assert [a.inputs["role"] for a in attachments] == ["dba-break-glass"]
    assert capture.outputs["breakGlassPolicyArn"] == policy.outputs["arn"]


def test_db_user_arns_and_proxy_resource_id():
    assert proxy_resource_id("arn:aws:rds:us-east-1:123456789012:db-proxy:prx-0123abc") == "prx-0123abc"
    assert db_user_arns("us-east-1", "123456789012", "prx-0123abc", ["app", "ro"]) == [
        "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123abc/app",
        "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123abc/ro"]


def test_proxy_args_validate_with_field_names():
    with pytest.raises(ValueError) as caught:
        DatabaseProxyArgs(AccessSettings(application_users=("x-y",), proxy_max_connections_percent=50,
                                         proxy_max_idle_connections_percent=60, proxy_connection_borrow_timeout=900),
                          name="bad--name", region="us-east-1", cluster=None, vpc_id="vpc-1", subnet_ids=["subnet-1"])
    message = str(caught.value)
    for text in ("name 'bad--name'", "application_users: 'x-y'", "proxy_max_idle_connections_percent must be 0 to 50",
                 "proxy_connection_borrow_timeout must be 0 to 300", "subnet_ids must list subnets in at least two"):
        assert text in message
