"""Small readers over a capture, shared by the program tests."""

from __future__ import annotations

from deploy.offline.capture import Capture, CapturedResource


def children_of(capture: Capture, parent: CapturedResource) -> list[CapturedResource]:
    return [r for r in capture.resources if r.parent == parent.urn]


def by_id(capture: Capture) -> dict[str, CapturedResource]:
    """Resources by their (update-mode) physical id, to follow references between inputs."""
    return {r.id: r for r in capture.resources if r.id}


def transitive_dependencies(capture: Capture, resource: CapturedResource) -> set[str]:
    """URNs a resource waits for, directly or through the resources it waits for (the SDK has
    already expanded a dependency on a component into its children)."""
    index = capture.by_urn()
    seen: set[str] = set()
    stack = list(resource.dependencies) + list(sum(resource.property_dependencies.values(), []))
    while stack:
        urn = stack.pop()
        if urn in seen:
            continue
        seen.add(urn)
        dep = index.get(urn)
        if dep is None:
            continue
        stack.extend(dep.dependencies)
        stack.extend(sum(dep.property_dependencies.values(), []))
    return seen


def region_of(capture: Capture, resource: CapturedResource) -> str:
    """Region of the explicit provider a resource is created through."""
    providers = {r.urn: r for r in capture.resources if r.type.startswith("pulumi:providers:")}
    return providers[resource.provider.rsplit("::", 1)[0]].inputs["region"]


def in_region(capture: Capture, type_: str, region: str) -> list[CapturedResource]:
    return [r for r in capture.by_type(type_) if r.provider and region_of(capture, r) == region]


def key_arns(capture: Capture) -> dict[str, str]:
    """Region -> ARN of that region's key."""
    return {region_of(capture, k): k.outputs["arn"] for k in capture.by_type("aws:kms/key:Key")}
