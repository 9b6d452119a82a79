"""The Fabric REST calls for semantic models against a local HTTP server that answers with
the documented shapes (issue: new-model detection). The Fabric API has no local stand-in, so
this server is the one mock here: paging by continuation token and URI, 429 + Retry-After,
getDefinition answered at once (200) or as a long-running operation (202 + Location +
Retry-After, polled until Succeeded), a failed operation, and 403 for one model."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sync_assets.semantic.fabric_api import FabricClient, FabricError, ModelItem
from sync_assets.semantic.model import from_tmdl, from_tmsl

SAMPLES = Path(__file__).parent / "semantic_samples"
WS = "ws-1"


def _tmdl_parts() -> list[dict]:
    root = SAMPLES / "Sales.SemanticModel"
    files = [root / "definition.pbism", *sorted((root / "definition").rglob("*.tmdl"))]
    return [
        {"path": str(p.relative_to(root)), "payload": base64.b64encode(p.read_bytes()).decode(),
         "payloadType": "InlineBase64"}
        for p in files
    ]  # fmt: skip


def _bim_parts() -> list[dict]:
    bim = (SAMPLES / "SalesBim.SemanticModel" / "model.bim").read_bytes()
    return [
        {
            "path": "model.bim",
            "payload": base64.b64encode(bim).decode(),
            "payloadType": "InlineBase64",
        }
    ]


class FabricStandIn(BaseHTTPRequestHandler):
    calls: list[str] = []
    polls: dict[str, int] = {}
    throttled = {"list": False}
    # Retry-After of the 429, the 202 and a running operation (a subclass may shorten them)
    waits = {"429": "3", "202": "2", "poll": "1"}

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.calls.append(f"GET {self.path} {self.headers.get('Authorization')}")
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path == f"/v1/workspaces/{WS}/semanticModels":
            if not self.throttled["list"]:
                self.throttled["list"] = True
                return self._send(
                    429, {"errorCode": "TooManyRequests"}, {"Retry-After": self.waits["429"]}
                )
            return self._send(200, {
                "value": [{"id": "m1", "displayName": "Sales"}, {"id": "m2", "displayName": "Sales BIM"}],
                "continuationToken": "t2",
                "continuationUri": f"{base}/v1/workspaces/{WS}/semanticModels?continuationToken=t2",
            })  # fmt: skip
        if self.path == f"/v1/workspaces/{WS}/semanticModels?continuationToken=t2":
            return self._send(200, {"value": [{"id": "m3", "displayName": "Secret"},
                                              {"id": "m4", "displayName": "Broken"}]})  # fmt: skip
        if self.path.startswith("/v1/operations/"):
            op = self.path.split("/")[3]
            if self.path.endswith("/result"):
                return self._send(200, {"definition": {"parts": _bim_parts()}})
            self.polls[op] = self.polls.get(op, 0) + 1
            if op == "op-fail":
                return self._send(200, {"status": "Failed", "error": {
                    "errorCode": "OperationFailed", "message": "the model could not be serialized"}})  # fmt: skip
            done = self.polls[op] >= 2
            return self._send(
                200,
                {"status": "Succeeded" if done else "Running"},
                {"Retry-After": self.waits["poll"]},
            )
        self._send(404, {"errorCode": "NotFound"})

    def do_POST(self):
        self.calls.append(f"POST {self.path}")
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        prefix = f"/v1/workspaces/{WS}/semanticModels/"
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path == prefix + "m1/getDefinition?format=TMDL":
            return self._send(200, {"definition": {"parts": _tmdl_parts()}})
        if self.path == prefix + "m2/getDefinition?format=TMSL":
            return self._send(202, None, {"Location": f"{base}/v1/operations/op-2",
                                          "x-ms-operation-id": "op-2", "Retry-After": self.waits["202"]})  # fmt: skip
        if self.path.startswith(prefix + "m3/"):
            return self._send(403, {"errorCode": "InsufficientPrivileges",
                                    "message": "The caller does not have write permission"})  # fmt: skip
        if self.path.startswith(prefix + "m4/"):
            return self._send(
                202, None, {"x-ms-operation-id": "op-fail", "Retry-After": self.waits["poll"]}
            )
        self._send(404, {"errorCode": "NotFound"})


@pytest.fixture
def fabric():
    FabricStandIn.calls, FabricStandIn.polls = [], {}
    FabricStandIn.throttled = {"list": False}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FabricStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    waits: list[float] = []
    client = FabricClient(
        f"http://127.0.0.1:{server.server_port}", WS, lambda: "tok-123", sleep=waits.append
    )
    yield client, waits
    server.shutdown()


def test_listing_pages_and_waits_out_throttling(fabric):
    client, waits = fabric
    models = client.semantic_models()
    assert [m.id for m in models] == ["m1", "m2", "m3", "m4"]
    assert waits == [3.0]  # the 429's Retry-After
    assert all(c.endswith("Bearer tok-123") for c in FabricStandIn.calls if c.startswith("GET"))


def test_definitions_at_once_and_by_polling(fabric):
    client, waits = fabric
    tmdl = client.definition(ModelItem("m1", "Sales"), "TMDL")
    assert "definition/tables/Sales.tmdl" in tmdl
    model = from_tmdl(tmdl, "Sales")
    bim = client.definition(ModelItem("m2", "Sales BIM"), "TMSL")
    assert from_tmsl(bim["model.bim"], "Sales").definition_hash() == model.definition_hash()
    assert FabricStandIn.polls == {"op-2": 2}
    assert waits == [2.0, 1.0]  # Retry-After of the 202, then of the running poll


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (ModelItem("m3", "Secret"), "semantic model 'Secret' (m3): getDefinition: HTTP 403: "
         "InsufficientPrivileges: The caller does not have write permission (getDefinition needs write"),
        (ModelItem("m4", "Broken"), "semantic model 'Broken' (m4): getDefinition: the operation "
         "failed: OperationFailed the model could not be serialized"),
    ],
)  # fmt: skip
def test_a_failing_model_says_which_and_why(fabric, model, message):
    client, _ = fabric
    with pytest.raises(FabricError) as info:
        client.definition(model)
    assert str(info.value).startswith(message)
