"""Application access to the database: RDS Proxy settings, and no master secret for application roles."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from typing import Any

from ._checks import must_be_true
from ._framework import HIGH, MEDIUM, Rule, resource_policies, stack_policies_of
from ._props import PREVIEW_NOTE, as_list, is_unknown, shown
from ._types import (
    EC2_INSTANCE,
    EC2_LAUNCH_TEMPLATE,
    ECS_TASK_DEFINITION,
    IAM_INSTANCE_PROFILE,
    IAM_POLICY,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_ROLE_POLICY_ATTACHMENT,
    RDS_CLUSTER,
    RDS_INSTANCE,
    RDS_PROXY,
    SECRET,
)
from ._views import ResourceView, StackView, known_strings

ACCESS = ("access",)
Finding = tuple[str, str]

# --- rds-proxy-tls-required / rds-proxy-iam-auth ---------------------------------------------


def _proxy_iam_auth(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    """IAM authentication end to end (``defaultAuthScheme`` IAM_AUTH), or required for every
    client login the proxy accepts (each ``auths[].iamAuth`` REQUIRED)."""
    scheme = resource.get("defaultAuthScheme")
    if scheme == "IAM_AUTH":
        return
    fix = ('Set default_auth_scheme="IAM_AUTH" (end-to-end IAM authentication: the proxy logs in to the database '
           'with its role, no secret per user), or iam_auth="REQUIRED" on every auths entry.')
    if is_unknown(scheme):
        yield f"{resource.label}: defaultAuthScheme is unknown during preview ({PREVIEW_NOTE}); {fix}"
        return
    auths = resource.get("auths")
    if is_unknown(auths):
        yield f"{resource.label}: defaultAuthScheme is {shown(scheme)} and auths is unknown during preview; {fix}"
        return
    entries = as_list(auths)
    modes = [entry.get("iamAuth") if isinstance(entry, Mapping) else None for entry in entries]
    if entries and all(mode == "REQUIRED" for mode in modes):
        return
    if any(is_unknown(mode) for mode in modes):
        yield f"{resource.label}: auths[].iamAuth is unknown during preview ({PREVIEW_NOTE}); {fix}"
        return
    optional = [i for i, mode in enumerate(modes) if mode != "REQUIRED"]
    detail = (f"auths {optional} accept database passwords (iamAuth {[shown(modes[i]) for i in optional]})"
              if entries else "no auths entry requires IAM")
    yield (f"{resource.label}: defaultAuthScheme is {shown(scheme)} and {detail}, so clients can log in to the "
           f"proxy with a long-lived password. {fix}")


_proxy_tls = must_be_true("requireTls", "so clients may reach the database through the proxy in clear text")

# Rule(name, resource types, severity, tags, summary, external ids, check)
RESOURCE_POLICIES = resource_policies(
    Rule("rds-proxy-tls-required", [RDS_PROXY], HIGH, ("encryption",),
         "RDS proxies must require TLS for every client connection (requireTls is true).",
         ["AWS Config rds-proxy-tls-encryption", "AWS Security Hub RDS.43"], _proxy_tls),
    Rule("rds-proxy-iam-auth", [RDS_PROXY], MEDIUM, ACCESS,
         "RDS proxies must require IAM authentication (defaultAuthScheme IAM_AUTH, or iamAuth REQUIRED on "
         "every auths entry). No Checkov or AWS Config control covers it.",
         [], _proxy_iam_auth),
)

# --- app-role-no-master-secret ------------------------------------------------------------------

# AWS managed policies that allow secretsmanager:GetSecretValue on every secret.
SECRET_READING_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "SecretsManagerReadWrite")
# The name RDS gives the master user secrets it manages: rds!cluster-<id> / rds!db-<id>.
RDS_MANAGED_SECRET_PATTERN = "arn:*:secretsmanager:*:*:secret:rds!*"
READ_ACTION = "secretsmanager:getsecretvalue"


def _application_roles(stack: StackView) -> dict[str, tuple[ResourceView, str]]:
    """Role URN -> (role, how an application reaches it): through an instance profile that a launch
    template or instance names, any instance profile, or an ECS task definition."""
    roles: dict[str, tuple[ResourceView, str]] = {}
    launched = {
        profile.urn: source.label
        for source in stack.of_type(EC2_LAUNCH_TEMPLATE, EC2_INSTANCE)
        for profile in stack.referenced(source, "iamInstanceProfile", [IAM_INSTANCE_PROFILE], ("arn", "name", "id"))
    }
    for profile in stack.of_type(IAM_INSTANCE_PROFILE):
        via = f"instance profile '{profile.name}'" + (f" of {launched[profile.urn]}" if profile.urn in launched else "")
        for role in stack.referenced(profile, "role", [IAM_ROLE], ("name", "id", "arn")):
            roles.setdefault(role.urn, (role, via))
    for task in stack.of_type(ECS_TASK_DEFINITION):
        for prop in ("taskRoleArn", "executionRoleArn"):
            for role in stack.referenced(task, prop, [IAM_ROLE], ("arn",)):
                roles.setdefault(role.urn, (role, f"{prop} of {task.label}"))
    return roles


def _master_secret_arns(stack: StackView) -> tuple[set[str], set[str]]:
    """(known ARNs of database master secrets, URNs of the stack's secrets): the stack's Secrets
    Manager secrets, and the secrets RDS manages for clusters and instances. A document that is
    unknown during preview counts as naming a secret when it is built from a Secret of the stack;
    one built from a cluster (its resource id, say) does not, as a cluster's outputs are mostly
    not secrets: the ARN of a secret RDS manages is checked once it is known."""
    arns: set[str] = set()
    sources: set[str] = set()
    for secret in stack.of_type(SECRET):
        sources.add(secret.urn)
        arns.update(known_strings(secret.props.get("arn")))
    for database in stack.of_type(RDS_CLUSTER, RDS_INSTANCE):
        if database.props.get("manageMasterUserPassword") is True:
            for entry in as_list(database.props.get("masterUserSecrets")):
                if isinstance(entry, Mapping):
                    arns.update(known_strings(entry.get("secretArn")))
    return arns, sources


def _allows_read(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if "NotAction" in statement:
        return not any(fnmatch.fnmatchcase(READ_ACTION, str(a).lower()) for a in as_list(statement["NotAction"]))
    return any(fnmatch.fnmatchcase(READ_ACTION, str(a).lower()) for a in as_list(statement.get("Action")))


def _pattern_covers_managed_secret(pattern: str) -> bool:
    """Whether a wildcard resource could name a secret RDS manages (``...:secret:rds!cluster-...``),
    whatever its region and account."""
    if pattern == "*":
        return True
    parts = pattern.split(":", 6)
    if len(parts) < 7:  # "arn:aws:secretsmanager:*" and the like: the wildcard spans the rest
        return fnmatch.fnmatchcase("arn:aws:secretsmanager:r:a:secret:rds!cluster-x", pattern)
    service, kind, name = parts[2], parts[5], parts[6]
    return all(fnmatch.fnmatchcase(value, part) for value, part in
               (("secretsmanager", service), ("secret", kind), ("rds!cluster-x", name)))


def _reads_master_secret(statement: Mapping[str, Any], secret_arns: set[str]) -> str | None:
    """The resource by which a statement reads a master secret, or None."""
    if not _allows_read(statement):
        return None
    if "NotResource" in statement:
        return f"NotResource {shown(statement['NotResource'])}"
    for resource in as_list(statement.get("Resource")):
        text = str(resource)
        if text in secret_arns:
            return shown(text)
        if ("*" in text or "?" in text) and (_pattern_covers_managed_secret(text)
                                             or any(fnmatch.fnmatchcase(arn, text) for arn in secret_arns)):
            return shown(text)
    return None


def _document_findings(document: Any, depends_on_secret: bool, secret_arns: set[str]) -> list[str]:
    """Why a policy document lets its holder read a master secret (empty: it does not)."""
    if is_unknown(document):
        return ["its document is unknown during preview and is built from a master secret's ARN"] if depends_on_secret else []
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    if not isinstance(document, Mapping):
        return []
    found = []
    for index, statement in enumerate(as_list(document.get("Statement"))):
        if isinstance(statement, Mapping):
            via = _reads_master_secret(statement, secret_arns)
            if via:
                found.append(f"Statement[{index}] allows secretsmanager:GetSecretValue on {via}")
    return found


def _app_role_no_master_secret(stack: StackView, _config: Mapping[str, Any]) -> Iterator[Finding]:
    secret_arns, secret_sources = _master_secret_arns(stack)
    fix = ("Applications log in with IAM database authentication (rds-db:connect for their database user) "
           "instead; keep the master secret for an operators' break-glass role that no instance profile, "
           "launch template or task uses.")

    def depends_on_secret(resource: ResourceView, prop: str) -> bool:
        return bool(set(resource.property_dependencies.get(prop, ())) & secret_sources)

    for role, via in _application_roles(stack).values():
        where = f"role '{role.name}' (used by {via})"
        for index, inline in enumerate(as_list(role.props.get("inlinePolicies"))):
            if isinstance(inline, Mapping):
                for reason in _document_findings(inline.get("policy"), depends_on_secret(role, "inlinePolicies"), secret_arns):
                    yield (f"{role.label}: inlinePolicies[{index}] of {where}: {reason}. {fix}", role.urn)
        for policy_arn in known_strings(role.props.get("managedPolicyArns")):
            name = policy_arn.rsplit("/", 1)[-1]
            if ":iam::aws:policy/" in policy_arn and name in SECRET_READING_MANAGED_POLICIES:
                yield (f"{role.label}: managedPolicyArns of {where} holds the AWS managed policy {name}, which "
                       f"allows secretsmanager:GetSecretValue on every secret. {fix}", role.urn)
        for policy in stack.referencing(role, [IAM_ROLE_POLICY], "role", ("name", "id")):
            for reason in _document_findings(policy.props.get("policy"), depends_on_secret(policy, "policy"), secret_arns):
                yield (f"{policy.label} on {where}: {reason}. {fix}", policy.urn)
        for attachment in stack.referencing(role, [IAM_ROLE_POLICY_ATTACHMENT], "role", ("name", "id")):
            for policy_arn in known_strings(attachment.props.get("policyArn")):
                name = policy_arn.rsplit("/", 1)[-1]
                if ":iam::aws:policy/" in policy_arn and name in SECRET_READING_MANAGED_POLICIES:
                    yield (f"{attachment.label} attaches the AWS managed policy {name} to {where}, which allows "
                           f"secretsmanager:GetSecretValue on every secret. {fix}", attachment.urn)
            for managed in stack.referenced(attachment, "policyArn", [IAM_POLICY], ("arn", "id")):
                for reason in _document_findings(managed.props.get("policy"), depends_on_secret(managed, "policy"), secret_arns):
                    yield (f"{attachment.label} attaches policy '{managed.name}' to {where}: {reason}. {fix}",
                           attachment.urn)


STACK_POLICIES = stack_policies_of(
    Rule("app-role-no-master-secret",
         [IAM_ROLE, IAM_ROLE_POLICY, IAM_ROLE_POLICY_ATTACHMENT, IAM_POLICY, IAM_INSTANCE_PROFILE,
          EC2_LAUNCH_TEMPLATE, EC2_INSTANCE, ECS_TASK_DEFINITION, SECRET, RDS_CLUSTER, RDS_INSTANCE], HIGH, ACCESS,
         "No role an application runs as (of an instance profile, a launch template or an ECS task) may read a "
         "database master secret: secretsmanager:GetSecretValue on the secret, on a pattern matching it, or on *.",
         [], _app_role_no_master_secret),
)
