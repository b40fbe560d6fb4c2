"""A client for the real policy pack, speaking the analyzer protocol the way the Pulumi engine does.

Used by the tests and by the offline ``deploy check``: it starts ``policies/__main__.py``
as its own process, configures it from a stack's policy config file exactly as
``pulumi preview --policy-pack-config`` would, and sends captured resources to
``Analyze`` (each resource's inputs) and ``AnalyzeStack`` (every resource's outputs).

    with PolicyAnalyzer() as analyzer:
        analyzer.configure("policies/config/prod.json")
        violations = analyzer.analyze(resources) + analyzer.analyze_stack(resources)
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

# The policy config half of the protocol; re-exported, the callers know it from here.
from deploy.offline.policy_config import (  # noqa: F401
    ENFORCEMENT_LEVELS,
    PolicyConfig,
    PolicyConfigError,
    load_policy_config,
    reconcile_policy_config,
)

if TYPE_CHECKING:  # capture imports the Pulumi SDK; the analyzer needs only the shape
    from deploy.offline.capture import CapturedResource

POLICY_PACK_DIR = Path(__file__).resolve().parents[2] / "policies"

# The engine's wire form of a value it does not know yet (first preview).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_REFERENCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"

_LEVEL_TO_PROTO = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
_PROTO_TO_LEVEL = {value: key for key, value in _LEVEL_TO_PROTO.items()}
_PROTO_TO_SEVERITY = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
_PROTO_TO_POLICY_TYPE = {
    analyzer_pb2.POLICY_TYPE_UNKNOWN: "",
    analyzer_pb2.POLICY_TYPE_RESOURCE: "resource",
    analyzer_pb2.POLICY_TYPE_STACK: "stack",
}

# The engine's limit for analyzer messages (pulumi_policy serves up to the same size).
_MAX_MESSAGE_BYTES = 400 * 1024 * 1024
_CALL_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str  # "mandatory", "advisory" or "remediate"
    urn: str
    message: str  # what the policy reported, without the description the pack prefixes to it
    description: str


@dataclass(frozen=True)
class AnalysisCall:
    """An Analyze call on its way (``PolicyAnalyzer.start_analyze``)."""

    urn: str
    call: Any  # grpc.Future of the AnalyzeResponse

    def violations(self) -> list[Violation]:
        """The resource's violations, once the pack has answered (raises the call's error)."""
        # Like the engine, attribute a resource's diagnostics to the resource analyzed.
        return [_violation(diagnostic, self.urn) for diagnostic in self.call.result().diagnostics]


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    enforcement_level: str
    policy_type: str  # "resource" or "stack"
    severity: str
    tags: tuple[str, ...]
    config_schema: Mapping[str, Any]  # {"properties": {...}, "required": [...]}, as the pack declares it


@dataclass(frozen=True)
class AnalyzerInfo:
    name: str
    version: str
    policies: tuple[PolicyInfo, ...]
    initial_config: Mapping[str, PolicyConfig] = field(default_factory=dict)

    def policy(self, name: str) -> PolicyInfo:
        return next(policy for policy in self.policies if policy.name == name)


class AnalyzerStartError(RuntimeError):
    """The policy pack process did not come up."""


# --- requests, as the engine builds them ---------------------------------------------------


def _wire_value(value: Any) -> Any:
    """A captured value as the engine marshals it for analyzers.

    The engine keeps unknowns and secrets but not resource references or output values
    (MarshalOptions{KeepUnknowns, KeepSecrets, SkipInternalKeys}): a reference becomes
    the resource's id (its URN when it has none), an output value its plain value.
    """
    if isinstance(value, list):
        return [_wire_value(item) for item in value]
    if not isinstance(value, dict):
        return value
    signature = value.get(_SIG_KEY)
    if signature == _RESOURCE_REFERENCE_SIG:
        resource_id = value.get("id")
        return _wire_value(resource_id) if resource_id not in (None, "") else value.get("urn", "")
    if signature == _OUTPUT_VALUE_SIG:
        plain = _wire_value(value["value"]) if "value" in value else UNKNOWN
        return {_SIG_KEY: _SECRET_SIG, "value": plain} if value.get("secret") else plain
    return {key: _wire_value(item) for key, item in value.items() if not key.startswith("__")}


def _struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    json_format.ParseDict(_wire_value(dict(properties)), message)
    return message


def _options(resource: CapturedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=resource.protect,
        ignoreChanges=list(resource.ignore_changes),
        deleteBeforeReplace=resource.delete_before_replace,
        deleteBeforeReplaceDefined=resource.delete_before_replace,
        parent=resource.parent or "",
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
    )


def _provider(
    resource: CapturedResource, providers: Mapping[str, CapturedResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    """The resource's provider, resolved from its "urn::id" reference among the captured providers.

    The engine sends the provider's inputs. A default provider is not registered by the
    program, so it is not among the captured resources and no provider is sent.
    """
    if not resource.provider:
        return None
    provider = providers.get(resource.provider.rsplit("::", 1)[0])
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, urn=provider.urn, name=provider.name, properties=_struct(provider.inputs)
    )


def _providers_by_urn(resources: Iterable[CapturedResource]) -> dict[str, CapturedResource]:
    return {resource.urn: resource for resource in resources if resource.type.startswith("pulumi:providers:")}


def analyze_request(
    resource: CapturedResource, providers: Mapping[str, CapturedResource]
) -> analyzer_pb2.AnalyzeRequest:
    """The engine's Analyze call for one resource: its inputs, options and provider."""
    request = analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        urn=resource.urn,
        name=resource.name,
        properties=_struct(resource.inputs),
        options=_options(resource),
    )
    provider = _provider(resource, providers)
    if provider is not None:
        request.provider.CopyFrom(provider)
    return request


def stack_properties(resource: CapturedResource) -> dict[str, Any]:
    """The properties AnalyzeStack sees: the resource's outputs (its state after the step).

    A bridged AWS resource's outputs hold every input and its ``id``. The mock engine's
    state may hold only what the mock returned, so the inputs fill in what it left out,
    and the captured id (``deploy.offline.capture`` records one; the protocol does not require
    it) becomes ``id``: unknown while the resource is yet to be created, as in preview.
    """
    if not resource.custom:
        return dict(resource.outputs)
    properties = {**resource.inputs, **resource.outputs}
    captured_id = getattr(resource, "id", None)
    if "id" not in properties and captured_id is not None:
        properties["id"] = captured_id or UNKNOWN
    return properties


def analyze_stack_request(resources: Sequence[CapturedResource]) -> analyzer_pb2.AnalyzeStackRequest:
    """The engine's AnalyzeStack call: every resource with outputs, options, provider and dependencies."""
    providers = _providers_by_urn(resources)
    request = analyzer_pb2.AnalyzeStackRequest()
    for resource in resources:
        item = request.resources.add(
            type=resource.type,
            urn=resource.urn,
            name=resource.name,
            properties=_struct(stack_properties(resource)),
            options=_options(resource),
            parent=resource.parent or "",
            dependencies=list(resource.dependencies),
        )
        provider = _provider(resource, providers)
        if provider is not None:
            item.provider.CopyFrom(provider)
        for key, urns in resource.property_dependencies.items():
            if urns:  # the engine leaves out properties without dependencies
                item.propertyDependencies[key].urns.extend(urns)
    return request


# --- the pack process ----------------------------------------------------------------------


class PolicyAnalyzer:
    """The policy pack running in its own process, and a gRPC channel to it.

    The process is started like the engine starts a Python pack: ``python -u`` (the pack
    prints its port unflushed otherwise) in the pack's directory, with the stack's
    identity and configuration in PULUMI_PROJECT, PULUMI_STACK, PULUMI_ORGANIZATION,
    PULUMI_DRY_RUN and PULUMI_CONFIG. ``close()`` (or leaving the ``with`` block) stops it
    by its pid.
    """

    def __init__(
        self,
        pack_dir: str | os.PathLike[str] = POLICY_PACK_DIR,
        *,
        python: str = sys.executable,
        project: str | None = None,
        stack: str | None = None,
        organization: str | None = None,
        dry_run: bool = True,
        stack_config: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        parallelism: int = 4,
    ) -> None:
        self.pack_dir = Path(pack_dir)
        self._parallelism = max(1, parallelism)
        self._stack_identity = (project or "", stack or "", organization or "", dry_run, dict(stack_config or {}))
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [python, "-u", "__main__.py"],
            cwd=self.pack_dir,
            env=self._environment(project, stack, organization, dry_run, stack_config),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._channel: grpc.Channel | None = None
        self.policy_config: dict[str, PolicyConfig] = {}
        self._info: AnalyzerInfo | None = None  # a pack's policies do not change while it runs
        try:
            self.port = self._read_port(startup_timeout)
            self._channel = grpc.insecure_channel(
                f"127.0.0.1:{self.port}",
                options=[
                    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
                ],
            )
            self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
            # The first call waits for the channel to connect. (grpc.channel_ready_future would
            # leave a connectivity poller behind that makes close() block for 0.2 s.)
            self._configure_stack(connect_timeout=startup_timeout)
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    @staticmethod
    def _environment(
        project: str | None,
        stack: str | None,
        organization: str | None,
        dry_run: bool,
        stack_config: Mapping[str, str] | None,
    ) -> dict[str, str]:
        env = dict(os.environ)
        settings = {
            "PULUMI_PROJECT": project,
            "PULUMI_STACK": stack,
            "PULUMI_ORGANIZATION": organization,
            "PULUMI_CONFIG": json.dumps(dict(stack_config)) if stack_config else None,
        }
        for key, value in settings.items():
            if value:
                env[key] = value
        env["PULUMI_DRY_RUN"] = "true" if dry_run else "false"
        return env

    def _read_port(self, timeout: float) -> int:
        assert self._process.stdout is not None
        stdout = self._process.stdout
        lines: queue.Queue[bytes] = queue.Queue()

        def pump() -> None:
            # The first line is the port; anything a policy prints later is drained so the
            # pipe never fills up and blocks the pack. End of output is passed on as b"".
            for line in iter(stdout.readline, b""):
                lines.put(line)
            lines.put(b"")

        threading.Thread(target=pump, name=f"policy-pack-{self.pid}-stdout", daemon=True).start()
        try:
            first_line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AnalyzerStartError(self._failure(f"printed no port within {timeout:.0f}s")) from None
        if not first_line:
            try:
                code = self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            raise AnalyzerStartError(self._failure(f"exited (code {code}) before printing its port"))
        try:
            return int(first_line.strip())
        except ValueError:
            raise AnalyzerStartError(self._failure(f"printed {first_line!r} instead of a port")) from None

    def _failure(self, what: str) -> str:
        self._stderr.seek(0)
        stderr = self._stderr.read().decode("utf-8", "replace").strip()
        return f"policy pack {self.pack_dir} (pid {self.pid}) {what}" + (f":\n{stderr}" if stderr else "")

    def _configure_stack(self, connect_timeout: float) -> None:
        project, stack, organization, dry_run, config = self._stack_identity
        request = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack, project=project, organization=organization, dry_run=dry_run, config=config
        )
        try:
            self._stub.ConfigureStack(request, timeout=connect_timeout + _CALL_TIMEOUT_SECONDS, wait_for_ready=True)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:  # older packs: the engine carries on too
                raise

    def close(self) -> None:
        """Close the channel and stop the pack: SIGINT (it shuts its server down), then SIGKILL."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process.poll() is None:
            try:
                os.kill(self.pid, signal.SIGINT)
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self._process.wait(timeout=5)
            except ProcessLookupError:
                pass
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> PolicyAnalyzer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the analyzer protocol ---

    def get_analyzer_info(self) -> AnalyzerInfo:
        if self._info is None:
            self._info = self._fetch_analyzer_info()
        return self._info

    def _fetch_analyzer_info(self) -> AnalyzerInfo:
        info = self._stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=_CALL_TIMEOUT_SECONDS)
        policies = tuple(
            PolicyInfo(
                name=policy.name,
                description=policy.description,
                enforcement_level=_PROTO_TO_LEVEL[policy.enforcementLevel],
                policy_type=_PROTO_TO_POLICY_TYPE.get(policy.policy_type, ""),
                severity=_PROTO_TO_SEVERITY.get(policy.severity, ""),
                tags=tuple(policy.tags),
                config_schema={
                    "properties": json_format.MessageToDict(policy.configSchema.properties),
                    "required": list(policy.configSchema.required),
                },
            )
            for policy in info.policies
        )
        initial_config = {
            name: PolicyConfig(_PROTO_TO_LEVEL[config.enforcementLevel], json_format.MessageToDict(config.properties))
            for name, config in info.initialConfig.items()
        }
        return AnalyzerInfo(info.name, self._version(info.version), policies, initial_config)

    def _version(self, reported: str) -> str:
        """The engine prefers PulumiPolicy.yaml's version over the one the pack reports."""
        manifest = self.pack_dir / "PulumiPolicy.yaml"
        if manifest.exists():
            version = (yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}).get("version")
            if version:
                return str(version)
        return reported

    def configure(self, policy_config_path: str | os.PathLike[str] | None) -> dict[str, PolicyConfig]:
        """Send Configure as ``--policy-pack-config <path>`` would (no path: the pack's defaults).

        Returns the effective configuration of each of the pack's policies.
        """
        info = self.get_analyzer_info()
        given = load_policy_config(policy_config_path) if policy_config_path is not None else {}
        reconciled = reconcile_policy_config(info, given)
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, entry in reconciled.items():
            request.policyConfig[name].enforcementLevel = _LEVEL_TO_PROTO[entry.enforcement_level]
            json_format.ParseDict(dict(entry.properties), request.policyConfig[name].properties)
        self._stub.Configure(request, timeout=_CALL_TIMEOUT_SECONDS)
        self.policy_config = {policy.name: reconciled[policy.name] for policy in info.policies}
        return dict(self.policy_config)

    def analyze(self, resources: Sequence[CapturedResource]) -> list[Violation]:
        """Analyze every resource as the engine does on registration (inputs), in resource order."""
        providers = _providers_by_urn(resources)
        requests = [analyze_request(resource, providers) for resource in resources]
        with ThreadPoolExecutor(max_workers=self._parallelism) as pool:
            responses = list(pool.map(lambda request: self._stub.Analyze(request, timeout=_CALL_TIMEOUT_SECONDS), requests))
        return [
            # Like the engine, attribute a resource's diagnostics to the resource analyzed.
            _violation(diagnostic, request.urn)
            for request, response in zip(requests, responses, strict=True)
            for diagnostic in response.diagnostics
        ]

    def start_analyze(
        self, resource: CapturedResource, providers: Mapping[str, CapturedResource]
    ) -> AnalysisCall:
        """Send one Analyze call, as the engine does when ``resource`` is registered, without
        waiting for the answer: ``.violations()`` on the result waits for it.

        ``providers`` holds the explicit providers by URN; those registered so far will do
        (the engine registers a provider before any resource that uses it). Thread-safe, so
        resources can be analyzed while the program is still registering others.
        """
        request = analyze_request(resource, providers)
        return AnalysisCall(request.urn, self._stub.Analyze.future(request, timeout=_CALL_TIMEOUT_SECONDS))

    def analyze_stack(self, resources: Sequence[CapturedResource]) -> list[Violation]:
        """Analyze the whole stack as the engine does after the last step (outputs)."""
        response = self._stub.AnalyzeStack(analyze_stack_request(resources), timeout=_CALL_TIMEOUT_SECONDS)
        known_urns = {resource.urn for resource in resources}
        stack_urn = next((r.urn for r in resources if r.type == "pulumi:pulumi:Stack"), "")
        # Like the engine: a URN that names no resource of the stack goes to the stack itself.
        return [
            _violation(diagnostic, diagnostic.urn if diagnostic.urn in known_urns else stack_urn)
            for diagnostic in response.diagnostics
        ]


def _violation(diagnostic: analyzer_pb2.AnalyzeDiagnostic, urn: str) -> Violation:
    message = diagnostic.message
    prefix = diagnostic.description + "\n"
    if diagnostic.description and message.startswith(prefix):
        message = message[len(prefix) :]
    return Violation(
        policy=diagnostic.policyName,
        level=_PROTO_TO_LEVEL[diagnostic.enforcementLevel],
        urn=urn,
        message=message,
        description=diagnostic.description,
    )
