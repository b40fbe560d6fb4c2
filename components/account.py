"""AccountContext: the account id and partition a provider deploys into, invoked once per provider
and handed to every component of that region (key policies, trust conditions, ARNs of AWS managed
policies and of ``rds-db:connect`` users), and the trust policy of a role an AWS service assumes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AccountContext:
    account_id: pulumi.Input[str]
    """The caller's account (``sts:GetCallerIdentity``)."""
    partition: pulumi.Input[str]
    """``aws``, ``aws-cn``, ``aws-us-gov``...: the first field of every ARN."""

    @classmethod
    def of_provider(cls, provider: pulumi.ProviderResource | None) -> AccountContext:
        """One ``get_caller_identity`` and one ``get_partition`` through ``provider``."""
        return cls.lookup(pulumi.InvokeOutputOptions(provider=provider))

    @classmethod
    def lookup(cls, opts: pulumi.InvokeOutputOptions) -> AccountContext:
        return cls(aws.get_caller_identity_output(opts=opts).account_id, aws.get_partition_output(opts=opts).partition)

    @classmethod
    def of(cls, account: AccountContext | None, component: pulumi.Resource) -> AccountContext:
        """``account``, or a lookup through ``component``'s provider when the caller passed none
        (a component built on its own, outside the stack program)."""
        return account if account is not None else cls.lookup(pulumi.InvokeOutputOptions(parent=component))

    def apply(self, build: Callable[..., Any], *others: pulumi.Input[Any]) -> pulumi.Output[Any]:
        """``build(account_id, partition, *others)`` once all are known."""
        return pulumi.Output.all(self.account_id, self.partition, *others).apply(lambda v: build(*v))

    def managed_policy_arn(self, path: str) -> pulumi.Output[str]:
        """``arn:<partition>:iam::aws:policy/<path>``: an AWS managed policy."""
        return pulumi.Output.from_input(self.partition).apply(lambda p: f"arn:{p}:iam::aws:policy/{path}")


def service_trust_policy(service: str, condition: dict[str, Any] | None = None) -> str:
    """The assume-role policy of a role that the AWS service ``service`` (e.g. ``rds.amazonaws.com``)
    assumes, with ``condition`` (confused-deputy checks such as ``aws:SourceAccount``) where given."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
