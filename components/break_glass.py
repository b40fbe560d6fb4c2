"""BreakGlassAccess: the operators' path to the master user, which never goes to the fleet."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.account import AccountContext
from components.settings import AccessSettings


def role_name(role_arn: str) -> str:
    """``NAME`` of ``arn:aws:iam::ACCOUNT:role/PATH/NAME``: what ``RolePolicyAttachment`` takes."""
    return role_arn.rsplit("/", 1)[-1]


def role_account(role_arn: str) -> str:
    """``ACCOUNT`` of ``arn:aws:iam::ACCOUNT:role/PATH/NAME``."""
    return role_arn.split(":")[4]


def local_role_name(role_arn: str, account_id: str) -> str:
    """The role's name, for a role of the deploying account ``account_id``. IAM attaches a policy by role
    *name* in the deploying account (AttachRolePolicy takes a RoleName, no ARN), so a role of another
    account would either fail to attach or give the master secret to a local role of the same name."""
    if role_account(role_arn) != account_id:
        raise pulumi.RunError(
            f"operatorRoleArns: {role_arn} is a role of account {role_account(role_arn)}, but the stack deploys into "
            f"account {account_id}; IAM attaches the break-glass policy by role name in this account only. Name roles "
            "of this account (an operator of another account assumes one of them), or remove the entry")
    return role_name(role_arn)


def break_glass_policy(secrets: dict[str, tuple[str, str]]) -> str:
    """Read of the master secret in each region, and decrypt with that region's key only when
    Secrets Manager of that region asks (``kms:ViaService``). ``secrets``: region -> (secret ARN, key ARN)."""
    statements = [{
        "Sid": "ReadMasterSecret",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "Resource": sorted({secret for secret, _ in secrets.values()}),
    }]
    for region, (_, key) in sorted(secrets.items()):
        statements.append({
            "Sid": "DecryptMasterSecret" + "".join(part.capitalize() for part in region.split("-")),
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key,
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        })
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@dataclass
class BreakGlassAccessArgs:
    name_prefix: str
    """``<project>-<stack>``: the policy's description."""
    secrets: dict[str, tuple[pulumi.Input[str], pulumi.Input[str]]]
    """Region -> (ARN of the master secret readable there, ARN of the key that encrypts it)."""
    settings: AccessSettings = field(default_factory=AccessSettings)
    """Its ``operator_role_arns``: the roles the policy is attached to; none leaves it for operators to attach by hand."""
    account: AccountContext | None = None
    """Account of the provider (operator roles must be its roles); ``None`` looks it up."""


class BreakGlassAccess(pulumi.ComponentResource):
    """A managed policy granting read of the database master secret, attached to the operator roles
    named in the settings only. Applications and the fleet log in with IAM tokens instead."""

    policy_arn: pulumi.Output[str]

    def __init__(self, name: str, args: BreakGlassAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:access:BreakGlassAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        regions = sorted(args.secrets)
        flat = [value for region in regions for value in args.secrets[region]]
        policy = aws.iam.Policy(
            f"{name}-master-secret",
            description=f"{args.name_prefix}: break-glass read of the database master secret (operators only, never the fleet)",
            policy=pulumi.Output.all(*flat).apply(
                lambda v: break_glass_policy({region: (v[2 * i], v[2 * i + 1]) for i, region in enumerate(regions)})),
            opts=child,
        )
        roles = args.settings.operator_role_arns
        account_id = pulumi.Output.from_input(AccountContext.of(args.account, self).account_id) if roles else None
        for role_arn in roles:
            aws.iam.RolePolicyAttachment(
                f"{name}-{role_name(role_arn)}",
                role=account_id.apply(lambda account, arn=role_arn: local_role_name(arn, account)),
                policy_arn=policy.arn,
                opts=child,
            )
        self.policy_arn = policy.arn
        self.register_outputs({"policy_arn": self.policy_arn})
