"""Encryption at rest: storage, keys and the services that hold database data or secrets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._checks import customer_managed_key, each_entry, flag_findings, key_findings
from ._framework import HIGH, Rule, resource_policies
from ._props import PREVIEW_NOTE, Flag, as_list, aws_managed_key_alias, flag, is_set, is_unknown, shown
from ._types import (
    EBS_VOLUME,
    EC2_INSTANCE,
    EC2_LAUNCH_CONFIGURATION,
    EC2_LAUNCH_TEMPLATE,
    KMS_KEY,
    LOG_GROUP,
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
    RDS_GLOBAL_CLUSTER,
    RDS_INSTANCE,
    SECRET,
    SNS_TOPIC,
)
from ._views import ResourceView

TAGS = ("encryption",)


def _storage_encrypted(resource: ResourceView, consequence_and_fix: str) -> Iterator[str]:
    """``storageEncrypted`` must be true; an unknown value could be false, so it fails closed."""
    yield from flag_findings(
        resource,
        "storageEncrypted",
        True,
        ", so encryption cannot be confirmed; set storage_encrypted=True as a literal.",
        consequence_and_fix,
    )


def _cluster_storage_encrypted(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    if resource.get("engineMode") == "serverless":
        return  # Aurora Serverless v1 storage is always encrypted.
    yield from _storage_encrypted(
        resource,
        ", so the cluster's storage, backups and snapshots are unencrypted. Set storage_encrypted=True with "
        "kms_key_id of a customer managed key; an existing cluster must be restored from an encrypted snapshot copy.",
    )


# An unknown kmsKeyId is the ARN of a key created in the same run: a customer managed key.
_cluster_customer_managed_key = customer_managed_key(
    "kmsKeyId",
    "an AWS managed key whose policy you cannot control or share across accounts. Set kms_key_id to the ARN of a "
    "customer managed key (aws.kms.Key).",
    "RDS encrypts with the AWS managed key aws/rds. Set kms_key_id to the ARN of a customer managed key "
    "(aws.kms.Key) of the cluster's region.",
)


def _global_cluster_storage_encrypted(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    if flag(resource.get("storageEncrypted")) is not Flag.TRUE and is_set(resource.get("sourceDbClusterIdentifier")):
        return  # Created from an existing cluster, whose encryption rds-cluster-storage-encrypted checks.
    yield from _storage_encrypted(
        resource,
        " and the global cluster is not created from an encrypted source cluster (sourceDbClusterIdentifier), "
        "so its members are unencrypted. Set storage_encrypted=True.",
    )


def _instance_storage_encrypted(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    if is_set(resource.get("replicateSourceDb")):
        return  # A read replica inherits its source's encryption; the source is checked on its own.
    yield from _storage_encrypted(
        resource,
        ", so the instance's storage and snapshots are unencrypted. Set storage_encrypted=True with kms_key_id "
        "of a customer managed key.",
    )


def _unencrypted_devices(resource: ResourceView) -> Iterator[tuple[str, Any]]:
    """(property path, value of `encrypted`) for every EBS device that is not known to be encrypted."""
    if resource.type == EBS_VOLUME:
        yield "encrypted", resource.get("encrypted")
        return
    if resource.type == EC2_LAUNCH_TEMPLATE:
        mappings = resource.get("blockDeviceMappings")
        if is_unknown(mappings):
            yield "blockDeviceMappings", mappings
            return
        if not as_list(mappings):
            yield "blockDeviceMappings", None
        for index, mapping in enumerate(as_list(mappings)):
            ebs = mapping.get("ebs") if isinstance(mapping, dict) else mapping
            if is_unknown(ebs):
                yield f"blockDeviceMappings[{index}].ebs", ebs
            elif isinstance(ebs, dict):
                yield f"blockDeviceMappings[{index}].ebs.encrypted", ebs.get("encrypted")
            # Mappings without `ebs` are instance-store volumes or suppressed devices.
        return
    # Instances and launch configurations: a root device plus EBS block devices.
    if not (resource.type == EC2_INSTANCE and is_set(resource.get("launchTemplate"))):
        root = resource.get("rootBlockDevice")
        if is_unknown(root):
            yield "rootBlockDevice", root
        else:
            yield "rootBlockDevice.encrypted", root.get("encrypted") if isinstance(root, dict) else None
    devices = resource.get("ebsBlockDevices")
    if is_unknown(devices):
        yield "ebsBlockDevices", devices
        return
    for index, device in enumerate(as_list(devices)):
        if is_unknown(device):
            yield f"ebsBlockDevices[{index}]", device
        elif isinstance(device, dict) and flag(device.get("noDevice")) is not Flag.TRUE:
            yield f"ebsBlockDevices[{index}].encrypted", device.get("encrypted")


def _ebs_encrypted(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    for path, value in _unencrypted_devices(resource):
        state = flag(value)
        if state is Flag.TRUE:
            continue
        if path == "blockDeviceMappings" and value is None:
            yield (
                f"{resource.label}: blockDeviceMappings is not set, so the root volume takes the AMI "
                "snapshot's encryption setting. Add a block_device_mappings entry for the root device "
                'with ebs.encrypted="true" and ebs.kms_key_id of a customer managed key.'
            )
        elif state is Flag.UNKNOWN:
            yield (
                f"{resource.label}: {path} is unknown during preview ({PREVIEW_NOTE}), so encryption "
                "cannot be confirmed; declare the device with encrypted set as a literal."
            )
        else:
            literal = '"true"' if resource.type == EC2_LAUNCH_TEMPLATE else "True"
            if value is None and resource.type == EBS_VOLUME:
                consequence = "so the volume is encrypted only if the account's EBS encryption default is on"
            elif value is None:
                consequence = "so the volume's encryption depends on the AMI snapshot and the account's EBS default"
            else:
                consequence = "so the volume is stored unencrypted"
            yield (
                f"{resource.label}: {path} is {shown(value)}, {consequence}. "
                f"Set encrypted={literal} and kms_key_id of a customer managed key on the device."
            )


def _kms_key_rotation(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    spec = resource.get("customerMasterKeySpec")
    if isinstance(spec, str) and not is_unknown(spec) and spec != "SYMMETRIC_DEFAULT":
        return  # AWS rotates only symmetric encryption keys.
    if is_set(resource.get("customKeyStoreId")):
        return  # Keys in custom key stores cannot be rotated automatically.
    yield from flag_findings(
        resource,
        "enableKeyRotation",
        True,
        ", so rotation cannot be confirmed; set enable_key_rotation=True as a literal.",
        ", so the key material is never rotated. Set enable_key_rotation=True (optionally rotation_period_in_days).",
    )


def _performance_insights_encrypted(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    if is_set(resource.get("performanceInsightsKmsKeyId")):
        if aws_managed_key_alias(resource.get("performanceInsightsKmsKeyId")):
            yield (
                f"{resource.label}: performanceInsightsKmsKeyId is "
                f"{shown(resource.get('performanceInsightsKmsKeyId'))}, an AWS managed key. "
                "Set performance_insights_kms_key_id to the ARN of a customer managed key."
            )
        return
    enabled = flag(resource.get("performanceInsightsEnabled"))
    if enabled is Flag.TRUE:
        yield (
            f"{resource.label}: Performance Insights is on but performanceInsightsKmsKeyId is not set, so its "
            "data (which includes SQL text) is encrypted with the AWS managed key. Set "
            "performance_insights_kms_key_id to the ARN of the cluster's customer managed key."
        )
    elif enabled is Flag.UNKNOWN:
        yield (
            f"{resource.label}: performanceInsightsEnabled is unknown during preview ({PREVIEW_NOTE}) and no "
            "performanceInsightsKmsKeyId is set; set performance_insights_kms_key_id whenever Performance "
            "Insights may be on."
        )
    # With Performance Insights off there is nothing to encrypt; rds-performance-insights-enabled
    # reports that separately.


def _key_reference(prop: str, argument: str, service: str, without_key: str):
    """A check that ``prop`` names a customer managed key; ``without_key`` says what happens otherwise."""
    return customer_managed_key(
        prop,
        f"the AWS managed key of {service}, whose key policy you cannot control. Set {argument} to the ARN of a "
        "customer managed key (aws.kms.Key).",
        f"{without_key}. Set {argument} to the ARN of a customer managed key (aws.kms.Key) whose key policy lets "
        "the service use it.",
    )


_secret_key = _key_reference(
    "kmsKeyId", "kms_key_id", "Secrets Manager", "the secret is encrypted with the AWS managed key aws/secretsmanager"
)


def _rds_master_secret_key(resource: ResourceView) -> Iterator[str]:
    """The key of the master user secret RDS creates in Secrets Manager when ``manageMasterUserPassword``
    is on: without ``masterUserSecretKmsKeyId`` it is encrypted with the AWS managed key aws/secretsmanager."""
    managed = flag(resource.get("manageMasterUserPassword"))
    if managed not in (Flag.TRUE, Flag.UNKNOWN):
        return  # No RDS-managed secret: the password comes from elsewhere (a secretsmanager.Secret is checked itself).
    key_id = resource.get("masterUserSecretKmsKeyId")
    owner = "cluster" if resource.type == RDS_CLUSTER else "instance"
    if aws_managed_key_alias(key_id):
        yield (
            f"{resource.label}: masterUserSecretKmsKeyId is {shown(key_id)}, the AWS managed key of Secrets "
            "Manager, so the RDS-managed master user secret is encrypted with a key whose policy you cannot "
            f"control. Set master_user_secret_kms_key_id to the ARN of the customer managed key (aws.kms.Key) "
            f"of the {owner}'s region."
        )
    elif not is_set(key_id) and managed is Flag.TRUE:
        yield (
            f"{resource.label}: manageMasterUserPassword is true but masterUserSecretKmsKeyId is not set, so "
            "Secrets Manager encrypts the RDS-managed master user secret with the AWS managed key "
            "aws/secretsmanager. Set master_user_secret_kms_key_id to the ARN of the customer managed key "
            f"(aws.kms.Key) of the {owner}'s region."
        )
    elif not is_set(key_id):
        yield (
            f"{resource.label}: manageMasterUserPassword is unknown during preview ({PREVIEW_NOTE}) and "
            "masterUserSecretKmsKeyId is not set, so an RDS-managed master user secret would be encrypted with "
            "the AWS managed key aws/secretsmanager. Set master_user_secret_kms_key_id to the ARN of the customer "
            f"managed key (aws.kms.Key) of the {owner}'s region, or set manage_master_user_password as a literal."
        )
    # An unknown masterUserSecretKmsKeyId is the ARN of a key created in the same run.


def _replica_key(resource: ResourceView, index: int, replica: Any) -> Iterator[str]:
    """A replica without ``kmsKeyId`` is encrypted with the AWS managed key aws/secretsmanager of its region."""
    if not isinstance(replica, dict):
        yield (
            f"{resource.label}: replicas[{index}] is unknown during preview and could have no kms_key_id; "
            "declare each replica with kms_key_id as a literal."
        )
        return
    region = replica.get("region")
    where = f"the replica in {region}" if isinstance(region, str) and not is_unknown(region) else "the replica"
    yield from key_findings(
        f"{resource.label}: replicas[{index}].kmsKeyId",
        replica.get("kmsKeyId"),
        f"the AWS managed key of Secrets Manager, so {where} is encrypted with a key whose policy you cannot "
        "control. Set kms_key_id on the replica to the ARN of a customer managed key of the replica's region.",
        f"{where} is encrypted with the AWS managed key aws/secretsmanager of its region. Set kms_key_id on the "
        "replica to the ARN of a customer managed key (aws.kms.Key) of the replica's region.",
    )


def _secret_customer_managed_key(resource: ResourceView, config: Mapping[str, Any]) -> Iterator[str]:
    """The secret's own key, and the key of each replica. For RDS clusters and instances, the key
    of the master user secret RDS manages."""
    if resource.type in (RDS_CLUSTER, RDS_INSTANCE):
        yield from _rds_master_secret_key(resource)
        return
    yield from _secret_key(resource, config)
    yield from each_entry(
        resource,
        "replicas",
        f" ({PREVIEW_NOTE}) and could hold a replica without kms_key_id; declare the replicas as a literal list, "
        "each with kms_key_id.",
        _replica_key,
    )


_log_group_key = _key_reference(
    "kmsKeyId", "kms_key_id", "CloudWatch Logs", "the log events are encrypted only with keys CloudWatch Logs owns"
)
_sns_topic_key = _key_reference("kmsMasterKeyId", "kms_master_key_id", "SNS", "messages are stored unencrypted at rest")

# Rule(name, resource types, severity, tags, summary, external ids, check)
POLICIES = resource_policies(
    Rule("rds-cluster-storage-encrypted", [RDS_CLUSTER], HIGH, TAGS,
         "Aurora cluster storage must be encrypted at rest (storageEncrypted is true).",
         ["Checkov CKV_AWS_96", "AWS Config rds-cluster-encrypted-at-rest"], _cluster_storage_encrypted),
    Rule("rds-cluster-customer-managed-key", [RDS_CLUSTER], HIGH, TAGS,
         "Aurora clusters must be encrypted with a customer managed KMS key (kmsKeyId set, not aws/rds).",
         ["Checkov CKV_AWS_327"], _cluster_customer_managed_key),
    Rule("rds-global-cluster-storage-encrypted", [RDS_GLOBAL_CLUSTER], HIGH, TAGS,
         "Aurora global clusters must be encrypted (storageEncrypted is true, or the global cluster is "
         "created from a source cluster whose own encryption is checked).",
         ["Checkov CKV_AWS_140", "AWS Config aurora-global-database-encryption-at-rest"], _global_cluster_storage_encrypted),
    Rule("rds-instance-storage-encrypted", [RDS_INSTANCE], HIGH, TAGS,
         "Standalone RDS instances must be encrypted at rest (storageEncrypted is true).",
         ["Checkov CKV_AWS_16", "AWS Config rds-storage-encrypted"], _instance_storage_encrypted),
    Rule("ebs-encrypted", [EC2_LAUNCH_TEMPLATE, EC2_INSTANCE, EBS_VOLUME, EC2_LAUNCH_CONFIGURATION], HIGH, TAGS,
         "Every EBS volume must be encrypted: volumes, instance root and EBS devices, launch template mappings.",
         ["Checkov CKV_AWS_8", "Checkov CKV_AWS_3", "AWS Config encrypted-volumes"], _ebs_encrypted),
    Rule("kms-key-rotation-enabled", [KMS_KEY], HIGH, TAGS,
         "Symmetric customer managed KMS keys must rotate automatically (enableKeyRotation is true).",
         ["Checkov CKV_AWS_7", "AWS Config cmk-backing-key-rotation-enabled"], _kms_key_rotation),
    Rule("rds-performance-insights-encrypted", [RDS_CLUSTER_INSTANCE, RDS_INSTANCE, RDS_CLUSTER], HIGH, TAGS,
         "Performance Insights data must be encrypted with a customer managed key "
         "(performanceInsightsKmsKeyId set whenever Performance Insights is on).",
         ["Checkov CKV_AWS_354"], _performance_insights_encrypted),
    Rule("log-group-encrypted", [LOG_GROUP], HIGH, TAGS,
         "CloudWatch log groups must be encrypted with a customer managed KMS key (kmsKeyId set).",
         ["Checkov CKV_AWS_158", "AWS Config cloudwatch-log-group-encrypted"], _log_group_key),
    Rule("sns-topic-encrypted", [SNS_TOPIC], HIGH, TAGS,
         "SNS topics must be encrypted with a customer managed KMS key (kmsMasterKeyId set, not alias/aws/sns).",
         ["Checkov CKV_AWS_26", "AWS Config sns-encrypted-kms"], _sns_topic_key),
    Rule("secret-customer-managed-key", [SECRET, RDS_CLUSTER, RDS_INSTANCE], HIGH, TAGS,
         "Secrets Manager secrets must be encrypted with a customer managed KMS key "
         "(kmsKeyId set, not aws/secretsmanager, on the secret and on each of its replicas), and so must the "
         "master user secret RDS manages for a cluster or instance with manageMasterUserPassword "
         "(masterUserSecretKmsKeyId set, not alias/aws/*).",
         ["Checkov CKV_AWS_149", "AWS Config secretsmanager-using-cmk"], _secret_customer_managed_key),
)
