"""The application tier's instances: instance metadata and user data."""

from __future__ import annotations

import base64
import binascii
import gzip
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ._framework import HIGH, Rule, resource_policies
from ._props import PREVIEW_NOTE, is_set, is_unknown, shown
from ._types import EC2_INSTANCE, EC2_LAUNCH_CONFIGURATION, EC2_LAUNCH_TEMPLATE
from ._views import ResourceView

TAGS = ("compute",)


def _imdsv2_required(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    options = resource.get("metadataOptions")
    if options is None and resource.type == EC2_INSTANCE and is_set(resource.get("launchTemplate")):
        return  # The instance takes its metadata options from the launch template, checked on its own.
    if is_unknown(options):
        yield (
            f"{resource.label}: metadataOptions is unknown during preview ({PREVIEW_NOTE}); declare "
            'metadata_options with http_tokens="required" as a literal.'
        )
        return
    options = options if isinstance(options, dict) else {}
    if options.get("httpEndpoint") == "disabled":
        return  # No instance metadata service at all.
    tokens = options.get("httpTokens")
    if tokens == "required":
        return
    if is_unknown(tokens):
        yield (
            f"{resource.label}: metadataOptions.httpTokens is unknown during preview ({PREVIEW_NOTE}); "
            'set http_tokens="required" as a literal.'
        )
        return
    yield (
        f"{resource.label}: metadataOptions.httpTokens is {shown(tokens)}, so IMDSv1 stays available and a "
        "server-side request forgery can read the instance role's credentials. Set "
        'metadata_options={"http_tokens": "required", "http_endpoint": "enabled"}.'
    )


# What user data must never carry. Each finding names the kind and the line, never the value.
_SECRET_PATTERNS = [
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("an AWS secret access key", re.compile(r"(?i)aws_secret_access_key\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{40}")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    (
        "a credential assignment",
        # KEY=value where KEY ends in password/secret/token/api key and the value is a
        # literal, not a shell or template expansion.
        re.compile(
            r"(?i)(?:password|passwd|secret|token|api[_-]?key)[\"']?\s*[:=]\s*[\"']?(?!\$|\{\{)"
            r"[^\s\"'#;]{6,}"
        ),
    ),
]


def _decoded_texts(user_data: str) -> list[str]:
    """The user data as written, plus its base64 (and gzip) decoding when it is encoded."""
    texts = [user_data]
    try:
        raw = base64.b64decode(user_data.strip(), validate=True)
    except (binascii.Error, ValueError):
        return texts
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            return texts
    try:
        texts.append(raw.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    return texts


# ARNs name where a secret lives (arn:aws:secretsmanager:...:secret:name); they are not secrets.
_ARN = re.compile(r"arn:aws[a-z-]*:[^\s\"']*")


def _secret_findings(text: str) -> list[tuple[str, int]]:
    findings = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = _ARN.sub("", line)
        for kind, pattern in _SECRET_PATTERNS:
            if pattern.search(line):
                findings.append((kind, line_number))
    return findings


def _user_data_no_secrets(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    for prop in ("userData", "userDataBase64"):
        user_data = resource.get(prop)
        # Unknown user data is rendered from other resources' outputs; the same check runs on
        # the rendered text when `pulumi up` analyzes the resource before creating it.
        if not isinstance(user_data, str) or is_unknown(user_data):
            continue
        reported: set[tuple[str, int]] = set()
        for text in _decoded_texts(user_data):
            for kind, line_number in _secret_findings(text):
                if (kind, line_number) in reported:
                    continue
                reported.add((kind, line_number))
                yield (
                    f"{resource.label}: {prop} line {line_number} contains what looks like {kind}. User data "
                    "is readable by anyone who can describe the instance or launch template; fetch the value "
                    "at boot from Secrets Manager or SSM Parameter Store with the instance role instead."
                )


_INSTANCES = [EC2_LAUNCH_TEMPLATE, EC2_INSTANCE, EC2_LAUNCH_CONFIGURATION]

# Rule(name, resource types, severity, tags, summary, external ids, check)
POLICIES = resource_policies(
    Rule("ec2-imdsv2-required", _INSTANCES, HIGH, TAGS,
         'Instances must require IMDSv2 session tokens (metadataOptions.httpTokens is "required").',
         ["Checkov CKV_AWS_79", "AWS Config ec2-imdsv2-check"], _imdsv2_required),
    Rule("ec2-user-data-no-secrets", _INSTANCES, HIGH, TAGS,
         "User data must not carry credentials (access keys, private keys, passwords, tokens), plain or base64.",
         ["Checkov CKV_AWS_46"], _user_data_no_secrets),
)
