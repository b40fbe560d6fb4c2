"""The access policies through the real pack: RDS Proxy TLS and IAM authentication (resource
policies), and no master secret for a role an application runs as (stack policy, on small
graphs in update mode, wired by known values, and preview mode, wired by dependencies only)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy_fixtures import UNKNOWN, Resource, StackPack, expected_level, of, resource
from test_policy_pack_stack_rules import Graph

PROXY = "aws:rds/proxy:Proxy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY = "aws:iam/policy:Policy"
PROFILE = "aws:iam/instanceProfile:InstanceProfile"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
SECRET = "aws:secretsmanager/secret:Secret"
CLUSTER = "aws:rds/cluster:Cluster"
MODES = ["update", "preview"]
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/master-AbCdEf"
MANAGED_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1234abcd-AbCdEf"


def proxy(name: str, **inputs: Any) -> Resource:
    return resource(PROXY, name, {"engineFamily": "POSTGRESQL", "roleArn": "arn:aws:iam::123456789012:role/p",
                                  "vpcSubnetIds": ["subnet-1", "subnet-2"], **inputs})


SECURE = {"requireTls": True, "defaultAuthScheme": "IAM_AUTH"}
# (policy, failing, passing, what the message names)
PROXY_CASES = [
    ("rds-proxy-tls-required", proxy("orders", defaultAuthScheme="IAM_AUTH"), proxy("orders-ok", **SECURE),
     ("requireTls", "require_tls=True")),
    ("rds-proxy-tls-required", proxy("orders-off", requireTls=False, defaultAuthScheme="IAM_AUTH"),
     proxy("orders-on", **SECURE), ("requireTls is false", "clear text")),
    ("rds-proxy-tls-required", proxy("orders-preview", requireTls=UNKNOWN, defaultAuthScheme="IAM_AUTH"),
     proxy("orders-literal", **SECURE), ("unknown during preview",)),
    ("rds-proxy-iam-auth",
     proxy("orders-secrets", requireTls=True, defaultAuthScheme="NONE",
           auths=[{"authScheme": "SECRETS", "iamAuth": "DISABLED", "secretArn": SECRET_ARN}]),
     proxy("orders-e2e", **SECURE), ('defaultAuthScheme is "NONE"', "auths [0] accept database passwords", "IAM_AUTH")),
    ("rds-proxy-iam-auth",
     proxy("orders-mixed", requireTls=True, auths=[
         {"authScheme": "SECRETS", "iamAuth": "REQUIRED", "secretArn": SECRET_ARN},
         {"authScheme": "SECRETS", "iamAuth": "DISABLED", "secretArn": SECRET_ARN}]),
     proxy("orders-required", requireTls=True, auths=[
         {"authScheme": "SECRETS", "iamAuth": "REQUIRED", "secretArn": SECRET_ARN}]),
     ("auths [1]", 'iamAuth [\'"DISABLED"\']')),
    ("rds-proxy-iam-auth", proxy("orders-nothing", requireTls=True), proxy("orders-iam", **SECURE),
     ("no auths entry requires IAM",)),
    ("rds-proxy-iam-auth", proxy("orders-unknown", requireTls=True, defaultAuthScheme=UNKNOWN),
     proxy("orders-known", **SECURE), ("defaultAuthScheme is unknown during preview",)),
]


def case_id(case: tuple) -> str:
    return f"{case[0]}:{case[1].name}"


@pytest.mark.parametrize("case", PROXY_CASES, ids=case_id)
def test_prod_reports_the_failing_proxy_as_mandatory(pack: StackPack, case: tuple) -> None:
    policy, failing, _, says = case
    violations = of(pack.analyze("prod", failing), policy)

    assert violations, f"{policy} let {failing.name} through"
    for violation in violations:
        assert violation.level == "mandatory" and violation.urn == failing.urn
        assert f"'{failing.name}'" in violation.message
        for fragment in says:
            assert fragment in violation.message


@pytest.mark.parametrize("case", PROXY_CASES, ids=case_id)
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_passing_proxy_is_not_reported(pack: StackPack, case: tuple, stack: str) -> None:
    policy, _, passing, _ = case
    assert of(pack.analyze(stack, passing), policy) == []


@pytest.mark.parametrize("case", PROXY_CASES, ids=case_id)
def test_dev_reports_the_failing_proxy_at_the_dev_level(pack: StackPack, case: tuple) -> None:
    policy, failing, _, _ = case
    assert {v.level for v in of(pack.analyze("dev", failing), policy)} == {expected_level("dev", policy)}


# --- app-role-no-master-secret -------------------------------------------------------------------


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def read(resource_: Any, action: Any = "secretsmanager:GetSecretValue") -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource_}


CONNECT = {"Effect": "Allow", "Action": "rds-db:connect", "Resource": "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-1/app"}


def fleet(mode: str, *, grant: str | None = None, via: str = "launch-template") -> tuple[Graph, dict[str, Resource]]:
    """A master secret, a cluster with an RDS-managed secret, and an application role reached through
    ``via`` ("launch-template", "profile" or "task"), given ``grant``:
    "secret" (GetSecretValue on the secret, by reference), "star" (on *), "wildcard-action" (secretsmanager:*
    on the RDS-managed secret pattern), "managed-policy" (SecretsManagerReadWrite), "customer-policy" (an
    attached policy of the stack reading the secret), "inline" (the role's inlinePolicies), or None."""
    g = Graph(mode)
    secret = g.add(SECRET, "master", outputs={"arn": SECRET_ARN})
    g.add(CLUSTER, "orders", {"engine": "aurora-postgresql", "manageMasterUserPassword": True},
          outputs={"masterUserSecrets": [{"secretArn": MANAGED_SECRET_ARN}]} if mode == "update" else {})
    inline = [{"name": "read", "policy": document(read(SECRET_ARN))}] if grant == "inline" else []
    role = g.add(ROLE, "app", {"inlinePolicies": inline} if inline else {}, outputs={"name": "app-1234567",
                                                                                     "arn": "arn:aws:iam::123456789012:role/app"})
    found: dict[str, Resource] = {"role": role}
    found["connect"] = g.add(ROLE_POLICY, "app-connect", {"policy": document(CONNECT)}, {"role": (role, "name")})
    if grant == "secret":
        found["grant"] = g.add(ROLE_POLICY, "app-secret", refs={"role": (role, "name")})
        found["grant"].inputs["policy"] = document(read(SECRET_ARN)) if mode == "update" else UNKNOWN
        if mode == "preview":
            found["grant"].property_dependencies["policy"] = [secret.urn]
    elif grant == "star":
        found["grant"] = g.add(ROLE_POLICY, "app-star", {"policy": document(read("*"))}, {"role": (role, "name")})
    elif grant == "wildcard-action":
        found["grant"] = g.add(ROLE_POLICY, "app-rds-secrets", {"policy": document(
            read("arn:aws:secretsmanager:*:123456789012:secret:rds!*", action="secretsmanager:*"))}, {"role": (role, "name")})
    elif grant == "managed-policy":
        found["grant"] = g.add(ATTACHMENT, "app-secrets-rw", {"policyArn": "arn:aws:iam::aws:policy/SecretsManagerReadWrite"},
                               {"role": (role, "name")})
    elif grant == "customer-policy":
        managed = g.add(POLICY, "secret-reader", {"policy": document(read(MANAGED_SECRET_ARN))},
                        outputs={"arn": "arn:aws:iam::123456789012:policy/secret-reader"})
        found["grant"] = g.add(ATTACHMENT, "app-secret-reader", refs={"role": (role, "name"), "policyArn": (managed, "arn")})
    elif grant == "inline":
        found["grant"] = role
    if via == "task":
        g.add(TASK, "app", {"family": "app"}, {"taskRoleArn": (role, "arn")})
    else:
        profile = g.add(PROFILE, "app", refs={"role": (role, "name")}, outputs={"arn": "arn:aws:iam::123456789012:instance-profile/app"})
        if via == "launch-template":
            g.add(LAUNCH_TEMPLATE, "app", refs={"iamInstanceProfile": (profile, "arn")})
    return g, found


GRANTS = {
    "secret": ("RolePolicy 'app-secret'", f'secretsmanager:GetSecretValue on "{SECRET_ARN}"'),
    "star": ("RolePolicy 'app-star'", 'GetSecretValue on "*"'),
    "wildcard-action": ("RolePolicy 'app-rds-secrets'", "rds!*"),
    "managed-policy": ("RolePolicyAttachment 'app-secrets-rw'", "AWS managed policy SecretsManagerReadWrite"),
    "customer-policy": ("attaches policy 'secret-reader'", f'"{MANAGED_SECRET_ARN}"'),
    "inline": ("inlinePolicies[0]", f'"{SECRET_ARN}"'),
}


# The ARN of a secret RDS manages is known once the cluster exists: the customer policy naming it is
# judged in update mode only (in preview its ARN is unknown, and a cluster is not a secret).
GRANT_CASES = [(mode, grant) for mode in MODES for grant in sorted(GRANTS) if (mode, grant) != ("preview", "customer-policy")]


@pytest.mark.parametrize(("mode", "grant"), GRANT_CASES)
def test_application_role_reading_a_master_secret_is_reported(pack: StackPack, mode: str, grant: str) -> None:
    g, found = fleet(mode, grant=grant)

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "app-role-no-master-secret")

    assert violation.urn == found["grant"].urn and violation.level == "mandatory"
    label, via = GRANTS[grant]
    assert label in violation.message and "role 'app'" in violation.message
    assert "LaunchTemplate 'app'" in violation.message
    if mode == "update" or grant != "secret":
        assert via in violation.message
    else:
        assert "unknown during preview and is built from a master secret's ARN" in violation.message
    assert "rds-db:connect" in violation.message  # the fix


@pytest.mark.parametrize("via", ["profile", "task"])
def test_roles_of_bare_instance_profiles_and_ecs_tasks_count(pack: StackPack, via: str) -> None:
    g, found = fleet("update", grant="star", via=via)

    (violation,) = of(pack.analyze_stack("prod", *g.resources), "app-role-no-master-secret")
    assert violation.urn == found["grant"].urn
    assert ("taskRoleArn of" if via == "task" else "instance profile 'app'") in violation.message


@pytest.mark.parametrize("mode", MODES)
def test_role_that_only_connects_with_iam_passes(pack: StackPack, mode: str) -> None:
    g, _ = fleet(mode, grant=None)
    assert of(pack.analyze_stack("prod", *g.resources), "app-role-no-master-secret") == []


def test_operator_role_outside_any_instance_profile_may_read_the_secret(pack: StackPack) -> None:
    g, _ = fleet("update", grant=None)
    operators = g.add(ROLE, "operators", outputs={"name": "operators"})
    g.add(ROLE_POLICY, "operators-break-glass", {"policy": document(read(SECRET_ARN))}, {"role": (operators, "name")})
    assert of(pack.analyze_stack("prod", *g.resources), "app-role-no-master-secret") == []


def test_denies_and_other_actions_on_the_secret_pass(pack: StackPack) -> None:
    g, found = fleet("update", grant=None)
    role = found["role"]
    g.add(ROLE_POLICY, "app-describe", {"policy": document(
        {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        read(SECRET_ARN, action="secretsmanager:DescribeSecret"))}, {"role": (role, "name")})
    assert of(pack.analyze_stack("prod", *g.resources), "app-role-no-master-secret") == []


def test_not_action_that_leaves_get_secret_value_in_is_reported(pack: StackPack) -> None:
    g, found = fleet("update", grant=None)
    grant = g.add(ROLE_POLICY, "app-not-action", {"policy": document(
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}, {"role": (found["role"], "name")})
    (violation,) = of(pack.analyze_stack("prod", *g.resources), "app-role-no-master-secret")
    assert violation.urn == grant.urn
