"""Strict OpenAPI checking of every request the double accepts and every response it returns.

The description is the committed subset of GitHub's official one (tests/tools/extract_openapi_subset.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SUBSET = Path(__file__).resolve().parent / "data" / "github-openapi-subset.json"
UNCHECKED_PREFIXES = ("/_double/", "/graphql")
# `{ref}` and a contents `{path}` are x-multi-segment in GitHub's description; openapi-core matches
# one segment, so encode.
MULTI_SEGMENT = re.compile(r"^(/repos/[^/]+/[^/]+/(?:git/(?:ref|refs|matching-refs)|contents))/(.+)$")
UPLOADS = re.compile(r"^/repos/[^/]+/[^/]+/releases/\d+/assets$")


class OpenAPIChecker:
    def __init__(self) -> None:
        self.api = OpenAPI.from_path(SUBSET)
        spec = json.loads(SUBSET.read_text())
        self._ghes_spec, self._ghes = spec.get("x-cdhelper-ghes"), None
        self.error_schemas = {name: _as_json_schema(spec, name)
                              for name in ("basic-error", "validation-error", "validation-error-simple")}
        self.mismatches: list[str] = []
        self.checked = 0

    def __call__(self, req, resp) -> None:
        if req.path.startswith(UNCHECKED_PREFIXES) or req.path == "/graphql":
            return
        ctype = req.headers.get("content-type", "application/json").split(";")[0] or "application/json"
        path = req.path
        if req.method in {"PATCH", "DELETE"} and "/git/ref/" in path:
            # GitHub takes these at /git/ref/ too (recorded; its description lists only /git/refs/)
            path = path.replace("/git/ref/", "/git/refs/", 1)
        multi = MULTI_SEGMENT.match(path)
        if multi:
            path = f"{multi.group(1)}/{multi.group(2).replace('/', '%2F')}"
        host = "https://api.github.com"
        if req.method == "POST" and UPLOADS.match(path):
            # GitHub takes any media type for an asset (it is the asset's own); the description
            # lists only application/octet-stream.
            host, ctype = "https://uploads.github.com", "application/octet-stream"
        api = self._ghes_api() if req.base_url.endswith("/api/v3") else self.api  # the `ghes` variant
        mock_req = MockRequest(host, req.method.lower(), path, args=req.query,
                               data=req.body.decode("utf-8", "replace") if req.body else None,
                               headers={k: v for k, v in req.headers.items() if k != "content-type"},
                               content_type=ctype)
        where = f"{req.method} {req.path} -> {resp.status}"
        # Every request is validated, whatever the double answered:
        # - one the description refuses must not be accepted (2xx/3xx);
        # - one the description accepts must not be refused for its shape. GitHub's description leaves
        #   `additionalProperties` open on almost every request body (PUT environments is the exception,
        #   `additionalProperties: false`), so a body with a key GitHub does not know is valid, and GitHub
        #   ignores the key; the double marks its shape refusals (Response.refused_shape) so this catches
        #   a double that is stricter than GitHub. A 4xx for other reasons (unknown ref, conflict) is fine.
        problem = None
        try:
            api.validate_request(mock_req)
        except Exception as exc:  # noqa: BLE001 - every kind of mismatch is reported
            problem = _explain(exc)
            if type(exc).__name__ in {"PathNotFound", "OperationNotFound"} and resp.status in (404, 405):
                problem = None  # a path GitHub does not have: the 404/405 body is checked below
        if problem and resp.status < 400:
            self.mismatches.append(f"request {where}: {problem}")
        if not problem and resp.status >= 400 and getattr(resp, "refused_shape", False):
            self.mismatches.append(f"request {where}: refused for its shape ({resp.body}) though GitHub's "
                                   "description accepts it")
        if resp.raw is not None:
            return
        body = b"" if resp.body is None else json.dumps(resp.body).encode()
        mock_resp = MockResponse(body, status_code=resp.status, headers=dict(resp.headers),
                                 content_type="application/json" if resp.body is not None else None)
        try:
            api.validate_response(mock_req, mock_resp)
        except Exception as exc:  # noqa: BLE001
            # GitHub documents only some error statuses per operation, yet any call can get 401, 403,
            # 404, 429 or 5xx; their bodies must still have GitHub's error shape.
            undocumented = type(exc).__name__ in {"ResponseNotFound", "PathNotFound"} and resp.status >= 400
            problem = _explain(exc)
            # Some errors are described as oneOf two schemas that accept the same bodies (a contents
            # 409: basic-error or repository-rule-violation-error), which no body can satisfy: GitHub's
            # own answers included. Those bodies are checked for GitHub's error shape instead.
            overlap = resp.status >= 400 and "is valid under each of" in problem
            problem = self._check_error_body(resp) if undocumented or overlap else problem
            if problem:
                self.mismatches.append(f"response {where}: {problem}")
        self.checked += 1

    def _ghes_api(self) -> OpenAPI:
        """GitHub Enterprise Server's description of the same paths, loaded the first time it is needed."""
        if self._ghes is None:
            self._ghes = OpenAPI.from_dict(self._ghes_spec) if self._ghes_spec else self.api
        return self._ghes

    def _check_error_body(self, resp) -> str | None:
        names = ["validation-error", "validation-error-simple"] if resp.status == 422 else ["basic-error"]
        for name in names:
            if not list(jsonschema.Draft4Validator(self.error_schemas[name]).iter_errors(resp.body)):
                break
        else:
            return f"error body is not GitHub's {' or '.join(names)} shape: {resp.body!r}"
        if resp.body.get("status") != str(resp.status):
            return f"error body status {resp.body.get('status')!r} != {resp.status}"
        return None


def _as_json_schema(spec: dict, name: str) -> dict:
    schema = json.loads(json.dumps(spec["components"]["schemas"][name]))
    stack = [schema]
    while stack:  # OpenAPI 3.0 `nullable` is not JSON Schema; allow null where it says so
        node = stack.pop()
        if isinstance(node, dict):
            if node.pop("nullable", False) and "type" in node:
                node["type"] = [node["type"], "null"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return schema


def _explain(exc: Exception) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        errors = getattr(cause, "schema_errors", None)
        if errors:
            parts += [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors][:5]
        cause = cause.__cause__
    return " | ".join(parts)
