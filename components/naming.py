"""The names of what a stack creates, and its tags: one contract the program and the deploy
driver's runbooks both derive from. Importable without Pulumi.

A stack ``S`` of project ``aurora-platform`` in region ``R`` owns:

- the prefix ``aurora-platform-S`` (global cluster identifier, key aliases' stem, backup plan);
- the regional name ``aurora-platform-S-R``: the cluster identifier, the proxy, the backup vault,
  the fleet and the monitoring resources of that region;
- the generated master secret ``aurora-platform-S/master`` of a global database;
- the provider's default tags ``project``, ``stack`` and ``managed-by`` on every resource.
"""

from __future__ import annotations

# Pulumi.yaml's `name`: the config namespace of every setting, and the `project` tag.
PROJECT = "aurora-platform"


def short_stack_name(stack: str) -> str:
    """``org/project/prod`` and ``org/prod`` name the stack whose settings are ``Pulumi.prod.yaml``."""
    return stack.rsplit("/", 1)[-1]


def stack_prefix(stack: str) -> str:
    """``aurora-platform-<stack>``: the stem of every name of the stack."""
    return f"{PROJECT}-{short_stack_name(stack)}"


def regional_name(stack: str, region: str) -> str:
    """``aurora-platform-<stack>-<region>``: cluster identifier, proxy, backup vault, fleet and alarms."""
    return f"{stack_prefix(stack)}-{region}"


def cluster_identifier(stack: str, region: str) -> str:
    """The identifier of the stack's cluster in ``region`` (every member of a global database too)."""
    return regional_name(stack, region)


def global_cluster_identifier(stack: str) -> str:
    return stack_prefix(stack)


def global_master_secret_name(stack: str) -> str:
    """The generated master secret of a global database (a regional cluster's is RDS's own)."""
    return f"{stack_prefix(stack)}/master"


def vault_name(stack: str, region: str) -> str:
    """The AWS Backup vault of a region; ``deploy restore-drill`` finds it by this name."""
    return regional_name(stack, region)


def proxy_name(stack: str, region: str) -> str:
    return regional_name(stack, region)


def stack_tags(stack: str) -> dict[str, str]:
    """The default tags of every resource; runbooks recognise the stack's resources by them."""
    return {"project": PROJECT, "stack": short_stack_name(stack), "managed-by": "pulumi"}


def custom_endpoint_identifier(stack: str, region: str, name: str) -> str:
    """``<cluster identifier>-<name>`` in lowercase (AWS stores it so): no two clusters of a region may
    use one custom endpoint name, so the stack's own prefix keeps ``analytics`` of two stacks apart."""
    return f"{cluster_identifier(stack, region)}-{name}".lower()
