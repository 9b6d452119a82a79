"""The Fabric REST API calls that find semantic models and read their definitions.

    GET  {api}/v1/workspaces/{ws}/semanticModels                  paged: continuationToken / continuationUri
    POST {api}/v1/workspaces/{ws}/semanticModels/{id}/getDefinition?format=TMDL|TMSL
         200: {"definition": {"parts": [{"path", "payload" (base64), "payloadType"}]}}
         202: Location + x-ms-operation-id + Retry-After -> poll GET {api}/v1/operations/{op}
              until Succeeded / Failed, then GET {api}/v1/operations/{op}/result
    429 anywhere: wait Retry-After seconds and ask again

and, for `changes_from: scanner`, the read-only admin API of the scanner family
(https://learn.microsoft.com/rest/api/power-bi/admin/workspace-info-get-modified-workspaces):

    GET  {admin}/admin/workspaces/modified?modifiedSince=<ISO 8601>&excludePersonalWorkspaces=true
         [{"id": <workspace id>}, ...]: the workspaces changed since then (at most 30 days back)

(https://learn.microsoft.com/rest/api/fabric/semanticmodel/items). The bearer token comes from
a callable (azure-identity's credential for the scope below, as the other Azure connections
authenticate); errors name the model and say what the API answered.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

SCOPE = "https://api.fabric.microsoft.com/.default"
ADMIN_SCOPE = "https://analysis.windows.net/powerbi/api/.default"
THROTTLE_ATTEMPTS = 8


class FabricError(RuntimeError):
    """A Fabric API call that failed; the message names the model when there is one."""


@dataclass(frozen=True)
class ModelItem:
    id: str
    name: str
    description: str | None = None


class FabricClient:
    """Semantic models of one workspace."""

    def __init__(
        self,
        api_url: str,
        workspace_id: str,
        token: Callable[[], str],
        timeout_s: float = 300,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.api = api_url.rstrip("/")
        self.workspace = workspace_id
        self.token, self.timeout_s, self.sleep = token, timeout_s, sleep

    def semantic_models(self) -> list[ModelItem]:
        """Every semantic model of the workspace (all pages)."""
        url = f"{self.api}/v1/workspaces/{self.workspace}/semanticModels"
        models = []
        while url:
            _, _, page = self._call("GET", url, what="listing the workspace's semantic models")
            models += [
                ModelItem(m["id"], m.get("displayName", m["id"]), m.get("description"))
                for m in page.get("value", [])
            ]
            url = page.get("continuationUri") or (
                f"{self.api}/v1/workspaces/{self.workspace}/semanticModels?"
                + urllib.parse.urlencode({"continuationToken": page["continuationToken"]})
                if page.get("continuationToken")
                else None
            )
        return models

    def modified_since(self, admin_api: str, since: str, token: Callable[[], str]) -> bool:
        """Whether the admin scanner API lists this workspace as modified since `since`."""
        url = f"{admin_api.rstrip('/')}/admin/workspaces/modified?" + urllib.parse.urlencode(
            {"modifiedSince": since, "excludePersonalWorkspaces": "true"}
        )
        _, _, answer = self._call(
            "GET", url, what="asking the admin API for modified workspaces", token=token
        )
        rows = answer if isinstance(answer, list) else answer.get("value", [])
        return any(str(r.get("id", "")).lower() == self.workspace.lower() for r in rows)

    def definition(self, model: ModelItem, fmt: str = "TMDL") -> dict[str, str]:
        """The model's definition parts, path -> text."""
        what = f"semantic model '{model.name}' ({model.id}): getDefinition"
        url = (
            f"{self.api}/v1/workspaces/{self.workspace}/semanticModels/{model.id}/getDefinition?"
            + urllib.parse.urlencode({"format": fmt})
        )
        status, headers, body = self._call("POST", url, what=what, body={})
        if status == 202:
            body = self._operation_result(headers, what)
        parts = (body.get("definition") or {}).get("parts")
        if not parts:
            raise FabricError(f"{what}: the answer holds no definition parts")
        return {p["path"]: _decoded(p, what) for p in parts}

    # ------------------------------------------------------------------ internals

    def _operation_result(self, headers, what: str) -> dict:
        """Poll a long-running operation (202) until it ends; its result."""
        location = headers.get("Location")
        operation = headers.get("x-ms-operation-id")
        url = location or f"{self.api}/v1/operations/{operation}"
        deadline = time.monotonic() + self.timeout_s
        wait = _seconds(headers.get("Retry-After"), 2)
        while True:
            self.sleep(wait)
            _, polled_headers, state = self._call("GET", url, what=what)
            status = state.get("status")
            if status == "Succeeded":
                _, _, result = self._call("GET", url.rstrip("/") + "/result", what=what)
                return result
            if status in ("Failed", "Cancelled"):
                error = state.get("error") or {}
                raise FabricError(
                    f"{what}: the operation {status.lower()}: "
                    f"{error.get('errorCode', '')} {error.get('message', '')}".rstrip()
                )
            if time.monotonic() > deadline:
                raise FabricError(f"{what}: still {status} after {self.timeout_s:.0f} s")
            wait = _seconds(polled_headers.get("Retry-After"), wait)

    def _call(self, method: str, url: str, what: str, body: dict | None = None, token=None):
        """(status, headers, JSON body) of one call; 429 waits out Retry-After."""
        data = json.dumps(body).encode() if body is not None else None
        for _ in range(THROTTLE_ATTEMPTS):
            request = urllib.request.Request(url, data=data, method=method)
            request.add_header("Authorization", f"Bearer {(token or self.token)()}")
            if data is not None:
                request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    text = answer.read()
                    return answer.status, answer.headers, json.loads(text) if text else {}
            except urllib.error.HTTPError as exc:
                if exc.code == 429:
                    self.sleep(_seconds(exc.headers.get("Retry-After"), 5))
                    continue
                raise FabricError(f"{what}: HTTP {exc.code}: {_api_error(exc)}") from None
            except urllib.error.URLError as exc:
                raise FabricError(f"{what}: {exc.reason}") from None
        raise FabricError(f"{what}: still throttled (HTTP 429) after {THROTTLE_ATTEMPTS} tries")


def _api_error(exc: urllib.error.HTTPError) -> str:
    """The API's errorCode and message, with what a 403 usually means."""
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    text = f"{body.get('errorCode', exc.reason)}: {body.get('message', '')}".rstrip(": ")
    if exc.code == 403 and "/admin/" in (exc.filename or ""):
        text += (
            " (the admin API needs a Fabric administrator, or a service principal allowed to "
            "use read-only admin APIs in the tenant settings)"
        )
    elif exc.code == 403:
        text += (
            " (getDefinition needs write permission on the semantic model, and fails on a "
            "model protected by an encryption sensitivity label)"
        )
    return text


def _decoded(part: dict, what: str) -> str:
    if part.get("payloadType", "InlineBase64") != "InlineBase64":
        raise FabricError(f"{what}: part {part.get('path')} has payloadType {part['payloadType']}")
    return base64.b64decode(part["payload"]).decode("utf-8-sig")


def _seconds(value, default: float) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return default
