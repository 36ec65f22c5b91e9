"""HTTP plumbing of the GitHub double: routing, authentication, permissions, rate limits,
fault injection, pagination, the request log and the observer hook used for OpenAPI checks."""

from __future__ import annotations

import json
import random
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from .model import World

DOCS = "https://docs.github.com/rest"
GRAPHQL_DOCS = "https://docs.github.com/graphql"
GRAPHQL_AUTH_DOCS = "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"
SECONDARY_MESSAGE = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


class ApiError(Exception):
    """A GitHub-shaped error response. `shape=True` marks a refusal of the request's shape (a missing
    required key, a value outside an enum, a key the schema forbids): GitHub's OpenAPI description says
    the same, and the test suite checks that it does (tests/openapi_check.py)."""

    def __init__(self, status: int, message: str, *, errors: list | None = None, docs: str = DOCS,
                 headers: dict[str, str] | None = None, shape: bool = False):
        super().__init__(message)
        self.status, self.message, self.errors, self.docs = status, message, errors, docs
        self.headers = headers or {}
        self.shape = shape

    def body(self) -> dict:
        body: dict[str, Any] = {"message": self.message, "documentation_url": self.docs, "status": str(self.status)}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(message: str = "Validation Failed", errors: list | None = None, docs: str = DOCS, *,
                      shape: bool = False) -> ApiError:
    return ApiError(422, message, errors=errors, docs=docs, shape=shape)


@dataclass
class Principal:
    """Who a token speaks for. `permissions=None` means unrestricted (a classic PAT with `repo`)."""

    login: str
    kind: str = "integration"  # "integration" (GITHUB_TOKEN, App), "user" (PAT) or "anonymous" (no token)
    permissions: dict[str, str] | None = None
    job: str = ""  # a job's GITHUB_TOKEN: the job it was made for (named in the refusals)

    def allows(self, scope: str, level: str) -> bool:
        if self.permissions is None:
            return True
        have = self.permissions.get(scope, "none")
        return have == "write" or (have == "read" and level == "read")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str  # where API URLs start: the server, plus /api/v3 on GitHub Enterprise Server
    params: dict[str, str] = field(default_factory=dict)
    principal: Principal | None = None
    route: str = ""
    app: App | None = None
    root_url: str = ""  # the server itself (html_url-style links)

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, "Problems parsing JSON", docs=DOCS) from exc

    def json_object(self) -> dict:
        body = self.json()
        if not isinstance(body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return body


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    refused_shape: bool = False  # a 4xx about the request's shape (see ApiError)


@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern
    handler: Callable[[Request], Response]
    permission: tuple[str, str] | None
    admin: bool = False


def _compile(template: str) -> re.Pattern:
    # `{ref}` in git ref routes and `{path}` in contents routes span slashes (OpenAPI
    # `x-multi-segment`); other params don't.
    pattern = re.escape(template)
    pattern = re.sub(r"\\\{(ref|name_path|path)\\\}", r"(?P<\1>.+)", pattern)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile(f"^{pattern}$")


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, permission: tuple[str, str] | None = None, admin: bool = False):
        def register(handler: Callable[[Request], Response]):
            self.routes.append(Route(method, template, _compile(template), handler, permission, admin))
            return handler
        return register

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        path_exists = False
        for route in self.routes:
            m = route.regex.match(path)
            if m:
                path_exists = True
                if route.method == method:
                    return route, {k: unquote(v) for k, v in m.groupdict().items()}, True
        return None, {}, path_exists


@dataclass
class Fault:
    """One injected fault rule. `route` is '*' or 'METHOD /template'; deterministic per seed."""

    kind: str  # "5xx" | "secondary" | "primary" | "reset" | "latency"
    route: str = "*"
    probability: float = 1.0
    times: int | None = None  # stop after this many hits
    status: int = 502
    retry_after: int | None = 1
    latency: float = 0.0
    when: str = "before"  # "before": request not applied; "after": applied, then the response is lost
    seed: int = 0
    hits: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if self.kind not in {"5xx", "secondary", "primary", "reset", "latency"}:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.when not in {"before", "after"}:
            raise ValueError(f"fault 'when' must be before or after, not {self.when!r}")
        self.rng = random.Random(self.seed)

    def fires(self, key: str) -> bool:
        if self.route != "*" and self.route != key:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        if self.rng.random() >= self.probability:
            return False
        self.hits += 1
        return True


@dataclass
class LogEntry:
    method: str
    route: str
    path: str
    status: int
    fault: str | None
    at: float

    @property
    def key(self) -> str:
        return f"{self.method} {self.route}"


@dataclass
class Refusal:
    job: str  # the job whose token it was ("" for a token not made for a job)
    method: str
    route: str
    needed: str  # "statuses: write"
    had: str  # the token's level of that scope

    def line(self) -> str:
        refused = f"{self.method} {self.route} was refused with GitHub's 403 \"Resource not accessible by integration\""
        if not self.job:
            return (f"a token made for no job lacks `{self.needed}` ({refused}). Fix: give the request the job's "
                    "GITHUB_TOKEN (github.token), which has the job's permissions")
        scope = self.needed.split(":")[0]
        return (f"job {self.job} lacks `{self.needed}` ({refused}; the job's token has {scope}: {self.had}). "
                f"Fix: add `{self.needed}` under the job's `permissions:`")


class Quota:
    """One resource's primary rate limit, counted per token ("" = unauthenticated, per address)."""

    def __init__(self, limit: int, clock: Callable[[], float], *, anonymous: int = 60, window: int = 3600):
        self.limit, self.anonymous, self.clock, self.window = limit, anonymous, clock, window
        self.used: Counter = Counter()
        self.reset_at = int(clock()) + window

    def _roll(self) -> None:
        now = self.clock()
        if now >= self.reset_at:
            self.used.clear()
            self.reset_at = int(now) + self.window

    def limit_for(self, key: str) -> int:
        return self.limit if key else self.anonymous

    def take(self, key: str) -> tuple[int, int]:
        self._roll()
        self.used[key] += 1
        return self.used[key], self.reset_at

    def peek(self, key: str) -> dict:
        self._roll()
        limit, used = self.limit_for(key), self.used.get(key, 0)
        return {"limit": limit, "used": used, "remaining": max(limit - used, 0), "reset": self.reset_at}


class DoubleHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, app: App):
        self.app = app
        super().__init__(address, Handler)


class App:
    """Dispatches requests for a `World`; shared by the HTTP handler and in-process callers."""

    def __init__(self, world: World, router: Router, *, rate_limit: int = 5000):
        self.world, self.router = world, router
        self.tokens: dict[str, Principal] = {}
        # Each job's GITHUB_TOKEN, made when the job starts: key -> {"job": name, "permissions": {...}}
        self.job_permissions: dict[str, dict] = {}
        self.refusals: list[Refusal] = []  # requests refused for a permission the token lacks
        self.faults: list[Fault] = []
        self.log: list[LogEntry] = []
        self.observers: list[Callable[[Request, Response], None]] = []
        # GraphQL takes no unauthenticated calls, hence its anonymous limit 0 (as /rate_limit shows it).
        self.quotas = {"core": Quota(rate_limit, world.clock.now),
                       "graphql": Quota(rate_limit, world.clock.now, anonymous=0)}
        self._log_lock = threading.Lock()
        self._fault_lock = threading.Lock()

    # --- configuration ---------------------------------------------------------------
    def register_token(self, token: str, *, login: str = "github-actions[bot]", kind: str = "integration",
                       permissions: dict[str, str] | None = None, job: str = "") -> None:
        self.world.user_id(login)
        self.tokens[token] = Principal(login=login, kind=kind, permissions=permissions, job=job)

    def mint_job_token(self, key: str) -> str:
        """A new GITHUB_TOKEN for a job that starts, with the permissions planned for `key`
        (GitHub makes one per job, "before each job begins"). KeyError: no plan for that job."""
        plan = self.job_permissions[key]
        token = "ghs_" + secrets.token_hex(18)
        self.register_token(token, permissions=dict(plan["permissions"]), job=plan["job"])
        return token

    def refuse(self, req: Request, scope: str, level: str) -> None:
        """Note a request refused for a permission its token lacks (the rehearsal names job and scope)."""
        principal = req.principal
        self.refusals.append(Refusal(job=principal.job, method=req.method, route=req.route or req.path,
                                     needed=f"{scope}: {level}",
                                     had=(principal.permissions or {}).get(scope, "none")))

    def principal_for(self, token: str | None, req: Request | None = None) -> Principal:
        if not token:
            # GitHub answers reads of public repositories without a token (60 requests an hour per
            # address, https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api);
            # writes and GraphQL need one. Private repositories are hidden (404) from anonymous callers.
            if req is not None and req.method in {"GET", "HEAD"} and req.route != "/graphql":
                return ANONYMOUS
            if req is not None and req.route == "/graphql":
                # GitHub's GraphQL endpoint words it its own way and points at the GraphQL docs
                raise ApiError(401, "This endpoint requires you to be authenticated.", docs=GRAPHQL_AUTH_DOCS)
            raise ApiError(401, "Requires authentication", docs=DOCS)
        if not self.tokens:
            return Principal(login="github-actions[bot]")
        principal = self.tokens.get(token)
        if principal is None:
            raise ApiError(401, "Bad credentials",
                           docs=GRAPHQL_DOCS if req is not None and req.route == "/graphql" else DOCS)
        return principal

    def counts(self) -> Counter:
        with self._log_lock:
            return Counter(entry.key for entry in self.log)

    def reset_log(self) -> None:
        with self._log_lock:
            self.log.clear()

    # --- dispatch --------------------------------------------------------------------
    def handle(self, req: Request) -> tuple[Response, bool]:
        """Returns the response and whether the connection should be dropped without one."""
        req.app = self
        req.root_url = req.root_url or req.base_url
        if not self._unprefix(req) or not self._by_repository_id(req):
            err = not_found()
            return self._finish(req, Response(err.status, err.body()), None), False
        route, params, path_exists = self.router.match(req.method, req.path)
        if route is None:
            status = 404 if not path_exists else 405
            err = ApiError(status, "Not Found" if status == 404 else "Method Not Allowed")
            return self._finish(req, Response(err.status, err.body()), None), False
        req.params, req.route = params, route.template
        if route.admin:
            try:
                return route.handler(req), False
            except ApiError as err:
                return Response(err.status, err.body(), err.headers), False
        fault = self._pick_fault(f"{req.method} {route.template}")
        if fault is not None and fault.kind == "latency":
            time.sleep(fault.latency)
            fault = None
        if fault is not None and fault.when == "before":
            if fault.kind == "reset":
                self._record(req, 0, "reset")
                return Response(), True
            return self._finish(req, self._fault_response(fault), fault.kind), False
        try:
            req.principal = self.principal_for(token_of(req.headers), req)
            resource = "graphql" if route.template == "/graphql" else "core"
            headers = self._rate_headers(req, resource)
            if route.permission and not req.principal.allows(*route.permission):
                if req.principal.kind == "anonymous":
                    raise ApiError(401, "Requires authentication", docs=DOCS, headers=headers)
                self.refuse(req, *route.permission)
                # GitHub names what the endpoint accepts in this header on App and fine-grained tokens.
                headers = {**headers, "X-Accepted-GitHub-Permissions":
                                          f"{route.permission[0].replace('-', '_')}={route.permission[1]}"}
                raise ApiError(403, "Resource not accessible by integration" if req.principal.kind == "integration"
                               else "Resource not accessible by personal access token",
                               docs=DOCS, headers=headers)
            with self.world.lock:
                response = route.handler(req)
            response.headers = {**headers, **response.headers}
        except ApiError as err:
            response = Response(err.status, err.body(), err.headers, refused_shape=err.shape)
        if fault is not None:  # when == "after": the write happened, the client never hears of it
            if fault.kind == "reset":
                self._record(req, 0, "reset-after")
                return Response(), True
            return self._finish(req, self._fault_response(fault), f"{fault.kind}-after"), False
        return self._finish(req, response, None), False

    def _unprefix(self, req: Request) -> bool:
        """GitHub Enterprise Server serves REST under /api/v3 and GraphQL at /api/graphql; github.com at
        the root. With the `ghes` variant the prefixed paths are the API (the admin routes answer with or
        without the prefix); without it nothing lives under /api. False: answer 404."""
        ghes = self.world.variant("ghes") is not None
        if req.path == "/api/v3" or req.path.startswith("/api/v3/"):
            if not ghes:
                return False
            req.path, req.base_url = req.path[len("/api/v3"):] or "/", f"{req.root_url}/api/v3"
            return True
        if req.path == "/api/graphql":
            if not ghes:
                return False
            req.path, req.base_url = "/graphql", f"{req.root_url}/api/v3"
            return True
        return not ghes or req.path.startswith("/_double/")

    def _by_repository_id(self, req: Request) -> bool:
        """`/repositories/{id}/...` is GitHub's other address of `/repos/{owner}/{repo}/...` (the one its
        `Link` headers use); answered as that route. False: no repository has that id (404)."""
        m = REPOSITORY_ID_PATH.match(req.path)
        if m is None:
            return True
        repo = next((r for r in self.world.repos.values() if r.id == int(m["id"])), None)
        if repo is None:
            return False
        req.path = f"/repos/{repo.full_name}{m['rest']}"
        return True

    def _finish(self, req: Request, response: Response, fault: str | None) -> Response:
        self._record(req, response.status, fault)
        for observer in list(self.observers):
            observer(req, response)
        return response

    def _record(self, req: Request, status: int, fault: str | None) -> None:
        with self._log_lock:
            self.log.append(LogEntry(req.method, req.route or req.path, req.path, status, fault, time.time()))

    def _pick_fault(self, key: str) -> Fault | None:
        with self._fault_lock:
            for fault in self.faults:
                if fault.fires(key):
                    return fault
        return None

    def _fault_response(self, fault: Fault) -> Response:
        now = int(self.world.clock.now())
        if fault.kind == "5xx":
            # No documentation_url: GitHub's 502 reads {"message": "Server Error"} (the whole body, as PyGithub
            # shows it: gitcoinco/web#2824, PennyDreadfulMTG/Penny-Dreadful-Tools#4941); `status` as on every error.
            return Response(fault.status, {"message": "Server Error", "status": str(fault.status)})
        if fault.kind == "secondary":
            headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
            status = fault.status if fault.status in (403, 429) else 403
            return Response(status, {"message": SECONDARY_MESSAGE, "documentation_url": DOCS, "status": str(status)},
                            headers)
        # primary exhaustion
        reset = now + (fault.retry_after or 1)
        return Response(403, {"message": "API rate limit exceeded for installation ID 1.", "documentation_url": DOCS,
                              "status": "403"},
                        {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
                         "x-ratelimit-reset": str(reset), "x-ratelimit-resource": "core"})

    def _rate_headers(self, req: Request, resource: str) -> dict[str, str]:
        quota, key = self.quotas[resource], token_of(req.headers) or ""
        if req.route == "/rate_limit":  # does not count against the primary limit, but reports it
            now = quota.peek(key)
            return {"x-ratelimit-limit": str(now["limit"]), "x-ratelimit-remaining": str(now["remaining"]),
                    "x-ratelimit-used": str(now["used"]), "x-ratelimit-reset": str(now["reset"]),
                    "x-ratelimit-resource": resource}
        limit = quota.limit_for(key)
        used, reset = quota.take(key)
        headers = {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(max(limit - used, 0)),
                   "x-ratelimit-used": str(min(used, limit)), "x-ratelimit-reset": str(reset),
                   "x-ratelimit-resource": resource}
        if used > limit:
            who = "installation ID 1" if key else "127.0.0.1"
            raise ApiError(403, f"API rate limit exceeded for {who}.", headers=headers)
        return headers


ANONYMOUS = Principal(login="", kind="anonymous", permissions={
    scope: "read" for scope in ("metadata", "contents", "deployments", "actions", "statuses", "checks")})


def token_of(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() in {"token", "bearer"} and value.strip() else None


REPOSITORY_ID_PATH = re.compile(r"^/repositories/(?P<id>\d+)(?P<rest>/.*)?$")
REPOSITORY_PATH = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)(?P<rest>/.*)?$")


def link_path(req: Request) -> str:
    """The path a `Link` header names: a repository's routes by its id, `/repositories/ID/...`, as github.com
    writes them (PyGithub replay data: 213 recorded Link headers use that form, e.g.
    `<https://api.github.com/repositories/3544490/tags?page=2>`; the `/repos/OWNER/NAME` form appears only in
    recordings from 2012). Both forms are served."""
    m = REPOSITORY_PATH.match(req.path)
    repo = req.app.world.repo(m["owner"], m["repo"]) if m is not None and req.app is not None else None
    return req.path if repo is None else f"/repositories/{repo.id}{m['rest'] or ''}"


def paginate(req: Request, items: list, *, default: int = 30, maximum: int = 100) -> tuple[list, dict[str, str]]:
    """Slice `items` by page/per_page and build GitHub's `Link` header (links PyGithub follows verbatim)."""
    try:
        per_page = min(max(int(req.query.get("per_page", default)), 1), maximum)
        page = max(int(req.query.get("page", 1)), 1)
    except ValueError:
        per_page, page = default, 1
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page: page * per_page]

    def link(n: int, rel: str) -> str:
        query = {**req.query, "per_page": str(per_page), "page": str(n)}
        return f'<{req.base_url}{link_path(req)}?{urlencode(query)}>; rel="{rel}"'

    rels = []
    if page > 1:
        rels += [link(page - 1, "prev"), link(1, "first")]
    if page < last:
        rels += [link(page + 1, "next"), link(last, "last")]
    return chunk, ({"Link": ", ".join(rels)} if rels else {})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle's algorithm and the client's delayed ACK
    # every answer would wait ~40 ms for nothing.
    disable_nagle_algorithm = True
    server: DoubleHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _serve(self) -> None:
        app = self.server.app
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, split.path.rstrip("/") or "/", query, headers, body, self.server.base_url,
                      root_url=self.server.base_url)
        try:
            response, drop = app.handle(req)
        except Exception as exc:  # a bug in the double must still answer, and loudly
            response, drop = Response(500, {"message": f"double crashed: {exc!r}", "documentation_url": DOCS,
                                            "status": "500"}), False
        if drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if response.raw is not None:
            payload = response.raw
            ctype = response.headers.pop("Content-Type", "application/octet-stream")
        elif response.body is None:
            payload, ctype = b"", None
        else:
            payload, ctype = json.dumps(response.body).encode(), "application/json; charset=utf-8"
        self.send_response(response.status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
