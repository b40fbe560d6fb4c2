"""A TEST DOUBLE of a Pulumi resource provider (aws or random); it creates nothing anywhere.

The AWS and random provider binaries are not shipped by any registry this project can
reach and do not build from module source, so the end-to-end tests put these doubles on
PATH as ``pulumi-resource-aws`` and ``pulumi-resource-random`` (the CLI takes a plugin it
finds on PATH). They speak the real provider gRPC protocol
(``pulumi.runtime.proto.provider_pb2_grpc``) to the real engine, and answer from the same
offline model of AWS as ``deploy check`` (``deploy/offline/aws_model.py``):

- ``Check`` auto-names like the bridge (``<name>-<7 hex>``), so the name is known at preview;
- ``Diff`` reports the changed input properties, and a replacement for the properties in
  ``REPLACING_PROPERTIES`` (``deploy/offline/aws_model.py``, each type with its source), delete-first
  where the provider replaces delete-first (``delete_before_replace``);
- ``Create``/``Update`` at preview leave the attributes AWS computes unknown, and on an
  update return them made up but shaped like AWS's;
- ``Read`` returns the stored state, so a refresh finds no drift. When
  ``AURORA_DOUBLE_STATE_DIR`` is set, every resource's state is also kept there as one
  JSON file per resource; a test edits such a file to make the "cloud" drift, and ``Read``
  answers with the edited file (a missing file reads as a resource deleted outside Pulumi).

What they do not imitate: AWS's own validation of values, creation times, eventual
consistency, and every attribute the program does not read.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent import futures
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT_DIR))

import grpc  # noqa: E402
from google.protobuf import empty_pb2, json_format, struct_pb2  # noqa: E402
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc  # noqa: E402

from deploy.offline import aws_model  # noqa: E402

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's wire sentinel for an unknown value
PACKAGES = {"aws": "pulumi_aws", "random": "pulumi_random"}


def _plain(message: struct_pb2.Struct | None) -> dict[str, Any]:
    return json_format.MessageToDict(message) if message is not None else {}


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def _type_and_name(urn: str) -> tuple[str, str]:
    # urn:pulumi:<stack>::<project>::<parent types$>type::name
    qualified, name = urn.split("::")[2], urn.split("::")[3]
    return qualified.rsplit("$", 1)[-1], name


def _request_type_and_name(request) -> tuple[str, str]:
    # Newer engines send the type and name; older ones only the URN.
    urn_type, urn_name = _type_and_name(request.urn)
    return request.type or urn_type, request.name or urn_name


class ProviderDouble(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, package: str):
        self.package = package
        self.region = os.environ.get("AWS_REGION", "us-east-1")
        state_dir = os.environ.get("AURORA_DOUBLE_STATE_DIR")
        self.state_dir = Path(state_dir) if state_dir else None

    # -- plugin and configuration ----------------------------------------------------
    def GetPluginInfo(self, request, context):
        from importlib.metadata import version
        return plugin_pb2.PluginInfo(version=version(PACKAGES[self.package]))

    def GetSchema(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"the {self.package} provider double has no schema")

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        olds, news = _plain(request.olds), _plain(request.news)
        changed = sorted(k for k in set(olds) | set(news) if olds.get(k) != news.get(k) and k != "version")
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=changed)

    def Configure(self, request, context):
        args = _plain(request.args)
        region = args.get("region") or request.variables.get(f"{self.package}:config:region")
        if region:
            self.region = region
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=True, acceptResources=False)

    def Cancel(self, request, context):
        return empty_pb2.Empty()

    # -- resources -------------------------------------------------------------------
    def Check(self, request, context):
        type_, name = _request_type_and_name(request)
        news = _plain(request.news)
        olds = _plain(request.olds)
        # An auto-name, once given, stays: the engine sends the old inputs on an update.
        autoname = {"name": olds["name"]} if "name" not in news and olds.get("name") else \
            aws_model.autoname(type_, name, news)
        return provider_pb2.CheckResponse(inputs=_struct({**news, **autoname}))

    def Diff(self, request, context):
        type_, name = _request_type_and_name(request)
        # Like the bridge: the new inputs against the resource's state (so a state changed outside
        # Pulumi, as a refresh reads it, shows as a diff), plus inputs the program no longer sets.
        state, news = _plain(request.olds), _plain(request.news)
        old_inputs = _plain(request.old_inputs) if request.HasField("old_inputs") else {}
        removed = {k for k in old_inputs if k not in news}
        changed = sorted({k for k in news if state.get(k) != news[k]} | removed)
        olds = {**state, **old_inputs}
        replacing = aws_model.REPLACING_PROPERTIES.get(type_, frozenset())
        replaces = [k for k in changed if k in replacing]
        kinds = provider_pb2.PropertyDiff
        detailed = {}
        for key in changed:
            if key not in olds:
                kind = kinds.ADD_REPLACE if key in replacing else kinds.ADD
            elif key not in news:
                kind = kinds.DELETE_REPLACE if key in replacing else kinds.DELETE
            else:
                kind = kinds.UPDATE_REPLACE if key in replacing else kinds.UPDATE
            detailed[key] = provider_pb2.PropertyDiff(kind=kind, inputDiff=True)
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=changed, replaces=replaces, detailedDiff=detailed, hasDetailedDiff=True,
            deleteBeforeReplace=aws_model.delete_before_replace(type_, name, replaces, news))

    def Create(self, request, context):
        type_, name = _type_and_name(request.urn)
        inputs = _plain(request.properties)
        if request.preview:
            computed = aws_model.computed_state(type_, name, "", self.region, inputs)
            return provider_pb2.CreateResponse(
                id="", properties=_struct({**inputs, **{k: UNKNOWN for k in computed if k not in inputs}}))
        resource_id = aws_model.fake_id(type_, name)
        state = {**inputs, **aws_model.computed_state(type_, name, resource_id, self.region, inputs)}
        self._store(request.urn, resource_id, state)
        return provider_pb2.CreateResponse(id=resource_id, properties=_struct(state))

    def Update(self, request, context):
        type_, name = _type_and_name(request.urn)
        olds, news = _plain(request.olds), _plain(request.news)
        computed = aws_model.computed_state(type_, name, request.id, self.region, news)
        if request.preview:
            state = {**news, **{k: olds.get(k, UNKNOWN) for k in computed if k not in news}}
            return provider_pb2.UpdateResponse(properties=_struct(state))
        state = {**news, **computed}
        self._store(request.urn, request.id, state)
        return provider_pb2.UpdateResponse(properties=_struct(state))

    def Read(self, request, context):
        state = _plain(request.properties)
        resource_id = request.id
        if self.state_dir is not None:
            stored = self._stored(request.urn)
            if stored is None:
                return provider_pb2.ReadResponse(id="")  # gone outside Pulumi
            resource_id, state = stored["id"], stored["state"]
        return provider_pb2.ReadResponse(id=resource_id, properties=_struct(state), inputs=request.inputs)

    def Delete(self, request, context):
        if self.state_dir is not None:
            self._state_file(request.urn).unlink(missing_ok=True)
        return empty_pb2.Empty()

    def Invoke(self, request, context):
        try:
            result = aws_model.invoke(request.tok, self.region)
        except NotImplementedError as error:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, str(error))
        return provider_pb2.InvokeResponse(**{"return": _struct(result)})

    # -- the double's "cloud" ----------------------------------------------------------
    def _state_file(self, urn: str) -> Path:
        return self.state_dir / f"{hashlib.sha256(urn.encode()).hexdigest()[:16]}.json"

    def _store(self, urn: str, resource_id: str, state: dict[str, Any]) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_file(urn).write_text(json.dumps({"urn": urn, "id": resource_id, "state": state}, indent=1))

    def _stored(self, urn: str) -> dict[str, Any] | None:
        path = self._state_file(urn)
        return json.loads(path.read_text()) if path.is_file() else None


def serve(package: str) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(ProviderDouble(package), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)  # the engine reads the plugin's port from its first line of output
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:  # the engine interrupts its plugins when it is done with them
        server.stop(0)
