"""RegionKey: the customer managed KMS key that encrypts everything of the platform in one region."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.account import AccountContext


@dataclass
class RegionKeyArgs:
    region: str
    """AWS region of the key; the key policy scopes service use to this region."""
    alias: str
    """Alias name without the ``alias/`` prefix, e.g. ``aurora-platform-prod-us-east-1``."""
    deletion_window_days: int = 30
    """Waiting period (7-30) before a scheduled deletion takes effect."""
    protect: bool = True
    """Pulumi ``protect``: a deleted key makes every backup and snapshot it encrypted unreadable."""
    account: AccountContext | None = None
    """Account and partition of the region's provider; ``None`` looks them up."""


def key_policy(account_id: str, region: str, partition: str = "aws") -> str:
    """The account administers the key; AWS services of this region (RDS, Secrets Manager, EC2, AWS Backup,
    CloudWatch Logs, the alarm and event publishers) use it on the account's behalf only."""
    root = f"arn:{partition}:iam::{account_id}:root"
    use_actions = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                # RDS (storage, Performance Insights, managed master secret), Secrets Manager,
                # EC2 (EBS volumes of the fleet, launched by the Auto Scaling service-linked role)
                # and AWS Backup (the region's backup vault; RDS itself re-encrypts the Aurora
                # snapshots AWS Backup copies into this region) use the key through grants, for
                # callers of this account only: kms:ViaService names the service endpoint of this
                # region the request came through, kms:CallerAccount the account of the caller
                # (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service,
                # https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html).
                "Sid": "ServicesOfThisAccountAndRegion",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": use_actions + ["kms:CreateGrant", "kms:ListGrants"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account_id,
                        "kms:ViaService": [
                            f"rds.{region}.amazonaws.com",
                            f"secretsmanager.{region}.amazonaws.com",
                            f"ec2.{region}.amazonaws.com",
                            f"backup.{region}.amazonaws.com",
                        ],
                    }
                },
            },
            {
                "Sid": "CloudWatchLogsOfThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": use_actions,
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}
                },
            },
            {
                # CloudWatch alarms publish to the encrypted SNS topic; CloudWatch sends the alarm's
                # account with the request, so the key is scoped to this account's alarms.
                "Sid": "PublishersToEncryptedTopics",
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com", "sns.amazonaws.com"]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
            {
                # RDS event notifications to the encrypted topic. AWS documents this statement without
                # a condition (SNS Developer Guide, "Encryption at rest" > "Enable compatibility between
                # event sources from AWS services and encrypted topics",
                # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services;
                # RDS User Guide, "Granting permissions to publish notifications to an Amazon SNS topic",
                # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Events.GrantingPermissions.html).
                # Neither says RDS event delivery sends aws:SourceAccount to KMS; a condition it does not
                # send would deny every notification silently. Only the key's data-key calls are allowed,
                # and the topic policy admits only this account's RDS sources.
                "Sid": "RdsEventNotificationsToEncryptedTopics",
                "Effect": "Allow",
                "Principal": {"Service": "events.rds.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ],
    })


class RegionKey(pulumi.ComponentResource):
    """A customer managed key with rotation on, an alias and a least-privilege key policy."""

    key: aws.kms.Key
    arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    alias_name: pulumi.Output[str]

    def __init__(self, name: str, args: RegionKeyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:security:RegionKey", name, None, opts)
        account = AccountContext.of(args.account, self)
        self.key = aws.kms.Key(
            name,
            description=f"aurora-platform: Aurora storage, secrets, logs, topics and EBS in {args.region}",
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=account.apply(lambda account_id, partition: key_policy(account_id, args.region, partition)),
            tags={"Name": args.alias},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        alias = aws.kms.Alias(
            name,
            name=f"alias/{args.alias}",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.key.arn
        self.key_id = self.key.key_id
        self.alias_name = alias.name
        self.register_outputs({"arn": self.arn, "key_id": self.key_id, "alias_name": self.alias_name})
