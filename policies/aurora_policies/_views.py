"""The views policies work on: plain properties, options, provider and references."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from ._props import arn_region, is_unknown, plain


@dataclass(frozen=True)
class ResourceView:
    """One resource as a policy sees it: inputs for resource policies, outputs for stack policies.
    A resource's ``provider`` is a view too (its type, name, URN and properties)."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    protect: bool = False
    provider: ResourceView | None = None
    parent_urn: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, *path: str | int) -> Any:
        """The value at ``path`` (keys and list indexes); None when a step is missing.

        An unknown value part-way down the path is returned as is, so callers see it.
        """
        value: Any = self.props
        for step in path:
            if is_unknown(value):
                return value
            if isinstance(step, int):
                if not isinstance(value, list) or step >= len(value):
                    return None
                value = value[step]
            else:
                if not isinstance(value, Mapping):
                    return None
                value = value.get(step)
        return value

    def set_value(self, prop: str) -> Any:
        """``props[prop]`` as the program set it, for stack policies, which see outputs.

        During a real preview the provider reports an optional attribute the program left
        unset, and that it computes itself (a security group's ``ingress``, a route
        table's ``routes``, a cluster's ``engineVersion``), as unknown with no property
        dependency; that reads as None here. A value the program computed from other
        resources keeps its unknown, and those resources are its dependencies.
        """
        value = self.props.get(prop)
        if is_unknown(value) and not self.property_dependencies.get(prop):
            return None
        return value

    @property
    def label(self) -> str:
        return f"{self.type} '{self.name}'"


def _provider_view(provider: Any) -> ResourceView | None:
    if provider is None:
        return None
    return ResourceView(provider.resource_type, provider.name, provider.urn, plain(provider.props))


def _view(source: ResourceValidationArgs | PolicyResource, **links: Any) -> ResourceView:
    """What a resource policy's arguments and a stack policy's resource share; ``links`` add the rest."""
    return ResourceView(
        type=source.resource_type,
        name=source.name,
        urn=source.urn,
        props=plain(source.props),
        protect=bool(source.opts.protect),
        provider=_provider_view(source.provider),
        **links,
    )


def view_of_args(args: ResourceValidationArgs) -> ResourceView:
    return _view(args, parent_urn=args.opts.parent)


def view_of_stack_resource(resource: PolicyResource) -> ResourceView:
    return _view(
        resource,
        parent_urn=resource.parent.urn if resource.parent is not None else resource.opts.parent,
        dependencies=tuple(dep.urn for dep in resource.dependencies),
        property_dependencies={
            key: tuple(dep.urn for dep in deps) for key, deps in resource.property_dependencies.items()
        },
    )


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def known_strings(value: Any) -> list[str]:
    """The known, non-empty string values of a scalar or list property."""
    return [item for item in _values(value) if isinstance(item, str) and item and not is_unknown(item)]


def default_region() -> str | None:
    """The stack's ``aws:region``, from the stack configuration the engine passes to the pack."""
    try:
        config = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
    except ValueError:
        return None
    region = config.get("aws:region") or config.get("aws:config:region")
    return region if isinstance(region, str) and region else None


class StackView:
    """Every resource of the stack, indexed for following references between them.

    A property refers to another resource when the engine recorded that resource as a
    dependency of the property (always available, also while ids are unknown during
    preview), or when the property's known value equals one of that resource's
    identifying outputs (``id`` by default), which covers literal ids.
    """

    def __init__(self, resources: Iterable[ResourceView]):
        self.resources = list(resources)
        self._by_urn = {resource.urn: resource for resource in self.resources}
        self._position = {resource.urn: i for i, resource in enumerate(self.resources)}
        self._by_type: dict[str, list[ResourceView]] = defaultdict(list)
        for resource in self.resources:
            self._by_type[resource.type].append(resource)
        # Built on first use, so that following a reference costs the same whatever the stack's
        # size: (type, property) -> known value -> resources, and -> dependency URN -> resources.
        self._by_value: dict[tuple[str, str], dict[str, list[ResourceView]]] = {}
        self._by_dependency: dict[tuple[str, str], dict[str, list[ResourceView]]] = {}

    @classmethod
    def of_args(cls, args: StackValidationArgs) -> StackView:
        return cls(view_of_stack_resource(resource) for resource in args.resources)

    def get(self, urn: str) -> ResourceView | None:
        return self._by_urn.get(urn)

    def of_type(self, *types: str) -> list[ResourceView]:
        return [resource for type_ in types for resource in self._by_type.get(type_, ())]

    def _index(
        self, cache: dict[tuple[str, str], dict[str, list[ResourceView]]], type_: str, prop: str,
        keys_of: Callable[[ResourceView], Iterable[str]],
    ) -> dict[str, list[ResourceView]]:
        """The resources of ``type_`` by each of their keys, built on first use into ``cache``."""
        index = cache.get((type_, prop))
        if index is None:
            index = cache[(type_, prop)] = defaultdict(list)
            for resource in self._by_type.get(type_, ()):
                for key in dict.fromkeys(keys_of(resource)):
                    index[key].append(resource)
        return index

    def _values_index(self, type_: str, prop: str) -> dict[str, list[ResourceView]]:
        return self._index(self._by_value, type_, prop, lambda resource: known_strings(resource.props.get(prop)))

    def _dependencies_index(self, type_: str, prop: str) -> dict[str, list[ResourceView]]:
        return self._index(self._by_dependency, type_, prop, lambda resource: resource.property_dependencies.get(prop, ()))

    def _in_stack_order(self, found: dict[str, ResourceView]) -> list[ResourceView]:
        return sorted(found.values(), key=lambda resource: self._position.get(resource.urn, -1))

    def referenced(
        self,
        source: ResourceView,
        prop: str,
        types: Sequence[str],
        identities: Sequence[str] = ("id",),
    ) -> list[ResourceView]:
        """The resources of ``types`` that ``source``'s property ``prop`` refers to."""
        found: dict[str, ResourceView] = {}
        for urn in source.property_dependencies.get(prop, ()):
            target = self._by_urn.get(urn)
            if target is not None and target.type in types:
                found[urn] = target
        for value in known_strings(source.props.get(prop)):
            for type_ in types:
                for key in identities:
                    for target in self._values_index(type_, key).get(value, ()):
                        found.setdefault(target.urn, target)
        return self._in_stack_order(found)

    def referencing(
        self,
        target: ResourceView,
        types: Sequence[str],
        prop: str,
        identities: Sequence[str] = ("id",),
    ) -> list[ResourceView]:
        """The resources of ``types`` whose property ``prop`` refers to ``target``."""
        found: dict[str, ResourceView] = {}
        target_values = {value for key in identities for value in known_strings(target.props.get(key))}
        for type_ in types:
            for source in self._dependencies_index(type_, prop).get(target.urn, ()):
                found[source.urn] = source
            values = self._values_index(type_, prop)
            for value in target_values:
                for source in values.get(value, ()):
                    found.setdefault(source.urn, source)
        return self._in_stack_order(found)

    def region_of(self, resource: ResourceView) -> str | None:
        """The AWS region a resource lives in: its own ``region`` input (pulumi-aws 7), its
        ARN, its provider's ``region``, or the stack's default region; None when unknown."""
        for candidate in (resource.props.get("region"), arn_region(resource.props.get("arn"))):
            if isinstance(candidate, str) and candidate and not is_unknown(candidate):
                return candidate
        if resource.provider is not None:
            region = resource.provider.props.get("region")
            if isinstance(region, str) and region and not is_unknown(region):
                return region
            if not resource.provider.urn.split("::")[-1].startswith("default"):
                return None
        return default_region()
