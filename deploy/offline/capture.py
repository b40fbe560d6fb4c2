"""Run the Pulumi program on the SDK's mock engine and capture every registration.

The mock monitor is Pulumi's own (``pulumi.runtime.mocks.MockMonitor``); this module
only records each ``RegisterResourceRequest`` as the engine would receive it (type,
name, parent, inputs in wire form, ``protect``, ``ignoreChanges``, provider,
dependencies) and answers with plausible cloud state from ``deploy/offline/aws_model.py``, the
offline model of AWS that the end-to-end tests' provider doubles answer from too:

- ``update`` mode: every value is known (ids, ARNs, endpoints are made up but shaped
  like AWS's), as on an update of an existing stack.
- ``preview`` mode: the state of a new resource is its inputs and nothing else, and
  its id is unknown, as on a first ``pulumi preview``; values computed from other
  resources reach the inputs as the engine's unknown sentinel.
"""

from __future__ import annotations

import gc
import json
import runpy
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from deploy.offline import aws_model
from deploy.offline.stack_config import PROJECT_DIR, load_stack_config, project_name

MODES = ("preview", "update")


@dataclass
class CapturedResource:
    type: str
    name: str
    urn: str
    custom: bool
    parent: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    protect: bool
    ignore_changes: list[str]
    delete_before_replace: bool
    provider: str | None
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    id: str = ""
    additional_secret_outputs: list[str] = field(default_factory=list)
    # The request's alias specs (``aliases``, as dicts: name, type, parentUrn, ...) and, from a
    # monitor without alias specs, its ``aliasURNs`` as {"urn": ...}.
    aliases: list[dict[str, Any]] = field(default_factory=list)
    # ``replace_with``: the URNs whose replacement replaces this one too; ``replacement_trigger``: a
    # value whose change replaces it (None when unset).
    replace_with: list[str] = field(default_factory=list)
    replacement_trigger: Any = None


@dataclass
class Capture:
    stack: str
    mode: str
    resources: list[CapturedResource]
    outputs: dict[str, Any]
    warnings: list[str]

    def by_type(self, type_: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type == type_]

    def by_urn(self) -> dict[str, CapturedResource]:
        return {r.urn: r for r in self.resources}

    def one(self, type_: str, name: str) -> CapturedResource:
        matches = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(matches) != 1:
            raise KeyError(f"expected one {type_} named {name!r}, found {len(matches)}")
        return matches[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (inputs and outputs are in wire form already); ``from_dict`` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Capture:
        resources = [CapturedResource(**resource) for resource in data["resources"]]
        return cls(stack=data["stack"], mode=data["mode"], resources=resources, outputs=dict(data["outputs"]),
                   warnings=list(data["warnings"]))


def offline_account(config: Mapping[str, str]) -> str:
    """The caller's account offline: the one ``aws:allowedAccountIds`` names; without it the offline model
    cannot know it and takes the operator roles' (so the program's same-account check of them runs only
    where the account is configured, and at deploy time); else the made-up one. (No import of the
    program's ``components`` here: the base of `deploy diff` runs its own.)"""
    accounts = _listed(config, "aws:allowedAccountIds")
    roles = [r for r in _listed(config, "aurora-platform:operatorRoleArns") if r.count(":") >= 5]
    return accounts[0] if accounts else roles[0].split(":")[4] if roles else aws_model.ACCOUNT_ID


def _listed(config: Mapping[str, str], key: str) -> list[str]:
    """A list setting of the config map (JSON text, or a list)."""
    value = config.get(key) or []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [value]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class _Mocks(pulumi_mocks.Mocks):
    def __init__(self, default_region: str, preview: bool, account_id: str = aws_model.ACCOUNT_ID):
        self.default_region = default_region
        self.preview = preview
        self.account_id = account_id
        self.provider_regions: dict[str, str] = {}

    def _region(self, provider_ref: str | None) -> str:
        if provider_ref:
            return self.provider_regions.get(provider_ref.rsplit("::", 1)[0], self.default_region)
        return self.default_region

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            # Provider ids are known even on a first preview (the engine configures them up front).
            region = inputs.get("region") or self.default_region
            return f"{args.name}-provider-id", {**inputs, "region": region}
        autoname = aws_model.autoname(args.typ, args.name, inputs)
        if self.preview:
            return "", {**inputs, **autoname}
        resource_id = aws_model.fake_id(args.typ, args.name)
        region = self._region(args.provider)
        inputs.update(autoname)
        return resource_id, {**inputs, **aws_model.computed_state(args.typ, args.name, resource_id, region, inputs)}

    def call(self, args: pulumi_mocks.MockCallArgs):
        return aws_model.invoke(args.token, self._region(args.provider), self.account_id)


class DuplicateResourceError(Exception):
    """The program registered two resources under one URN, which the engine refuses."""


class _CapturingMonitor(pulumi_mocks.MockMonitor):
    """Pulumi's mock monitor, keeping each registration as the engine would see it."""

    on_resource: Callable[[CapturedResource], None] | None = None  # see run_program

    def __init__(self, mocks: _Mocks):
        super().__init__(mocks)
        self._urns: set[str] = set()
        self.captured: list[CapturedResource] = []

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if urn in self._urns:
            # The engine refuses a second registration of a URN; so does the offline run.
            raise DuplicateResourceError(f"duplicate resource URN {urn}: two resources of type {request.type} "
                                         f"are named {request.name!r}")
        self._urns.add(urn)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        if request.type.startswith("pulumi:providers:"):
            self.mocks.provider_regions[response.urn] = json_format.MessageToDict(request.object).get("region")
        resource = CapturedResource(
            type=request.type,
            name=request.name,
            urn=response.urn,
            custom=request.custom,
            parent=request.parent or None,
            inputs=_checked_inputs(request),
            outputs=json_format.MessageToDict(response.object),
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
            delete_before_replace=request.deleteBeforeReplace,
            provider=request.provider or None,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            id=response.id,
            additional_secret_outputs=list(request.additionalSecretOutputs),
            aliases=[json_format.MessageToDict(a) for a in request.aliases] + [{"urn": u} for u in request.aliasURNs],
            replace_with=list(request.replace_with),
            replacement_trigger=(json_format.MessageToDict(request.replacement_trigger)
                                 if request.HasField("replacement_trigger") else None),
        )
        self.captured.append(resource)
        if self.on_resource is not None:
            self.on_resource(resource)
        return response


def _checked_inputs(request) -> dict[str, Any]:
    """Inputs as the provider's Check returns them to the engine (and the engine to analyzers)."""
    inputs = json_format.MessageToDict(request.object)
    return {**inputs, **aws_model.autoname(request.type, request.name, inputs)}


class _WarningCollector:
    def __init__(self):
        self.messages: list[str] = []

    def __getattr__(self, level):
        def log(message, *args, **kwargs):
            if level in ("warning", "error"):
                self.messages.append(str(message))
        return log


def run_program(stack: str, mode: str = "preview", project_dir: Path = PROJECT_DIR,
                config: Mapping[str, str] | None = None,
                overrides: Mapping[str, str] | None = None,
                on_resource: Callable[[CapturedResource], None] | None = None,
                project: str | None = None) -> Capture:
    """Run ``__main__.py`` for ``stack`` on the mock engine.

    ``config`` replaces the stack file entirely; ``overrides`` is laid over it (values
    in the engine's string form). Raises ``UnknownStackError`` for a missing stack file
    and ``SettingsError`` for invalid settings, before any resource is registered.
    ``on_resource`` is called with each resource as soon as it is registered, as the engine
    hands it to analyzers (from the SDK's worker threads: it must be thread-safe and quick).
    ``project`` spares reading ``Pulumi.yaml`` again when the caller has its name already.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    raw = dict(config) if config is not None else load_stack_config(stack, project_dir)
    raw.update(overrides or {})
    region = raw.get("aws:region", "us-east-1")
    mocks = _Mocks(region, preview=(mode == "preview"), account_id=offline_account(raw))
    monitor = _CapturingMonitor(mocks)
    monitor.on_resource = on_resource
    logger = _WarningCollector()

    runtime_settings.set_root_resource(None)
    set_all_config(raw, [])
    pulumi_mocks.set_mocks(mocks, project=project or project_name(project_dir), stack=stack,
                           preview=(mode == "preview"), monitor=monitor, logger=logger)
    root = runtime_settings.get_root_resource()

    program = str(project_dir / "__main__.py")
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    # The program allocates tens of thousands of short-lived objects (outputs, futures, tasks);
    # each full collection they trigger walks every object of the provider SDK's modules too,
    # which made up a third of a run. The collections after the run free what it left.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    # The SDK walks the Python stack of every registration, reading source lines, to tell the
    # engine where the resource was declared; nothing here reads it (an eighth of a run).
    get_stack_trace = getattr(runtime_resource, "_get_stack_trace", None)
    if get_stack_trace is not None:
        runtime_resource._get_stack_trace = source_pb2.StackTrace
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(program, run_name="__main__")))
        outputs = _resolve_exports(root)
    finally:
        if get_stack_trace is not None:
            runtime_resource._get_stack_trace = get_stack_trace
        if gc_was_enabled:
            gc.enable()
    return Capture(stack=stack, mode=mode, resources=monitor.captured, outputs=outputs, warnings=logger.messages)


def _resolve_exports(root) -> dict[str, Any]:
    exports = getattr(root, "outputs", {}) or {}

    async def resolve():
        result = {}
        for key, value in exports.items():
            output = pulumi.Output.from_input(value)
            known = await output.is_known()
            result[key] = await output.future() if known else None
        return result

    return _sync_await(resolve())
