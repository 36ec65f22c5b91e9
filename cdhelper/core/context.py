"""The run context, read once from the environment at the edge into a frozen object."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import InputError

REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
MODES = ("delivery", "deployment")
LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$")
DEFAULT_WRITERS = ("github-actions[bot]",)


@dataclass(frozen=True)
class RunContext:
    repository: str
    token: str
    api_url: str
    graphql_url: str
    server_url: str
    run_id: int
    run_attempt: int
    run_number: int
    sha: str
    ref: str
    actor: str
    workspace: str
    temp_dir: str
    triggering_actor: str = ""
    repository_id: int = 0  # GITHUB_REPOSITORY_ID: stable across renames and transfers
    writers: tuple[str, ...] = DEFAULT_WRITERS  # logins whose records and statuses count (trusted input)

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repository.split("/", 1)[1]

    @property
    def run_url(self) -> str:
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @property
    def ghes(self) -> bool:
        """GitHub Enterprise Server serves its REST API under /api/v3 (github.com and GHEC, data
        residency included, do not): there a job bound to an environment always creates its own
        deployment record, since GHES has no `deployment: false`."""
        return self.api_url.endswith("/api/v3")

    @property
    def run_path(self) -> str:
        """The run's URL path, which identifies it whatever the server's host name."""
        return f"/{self.repository}/actions/runs/{self.run_id}".lower()

    @classmethod
    def from_environ(cls, environ: dict[str, str], *, token: str = "", repository: str = "",
                     writers: tuple[str, ...] | list[str] = ()) -> RunContext:
        repository = repository or environ.get("GITHUB_REPOSITORY", "")
        if not REPOSITORY.match(repository):
            raise InputError(f"repository {repository!r} is not usable", "it must look like OWNER/NAME",
                             "run inside GitHub Actions (GITHUB_REPOSITORY is set there) or pass --repository OWNER/NAME")
        api_url = _url(environ, "GITHUB_API_URL", "https://api.github.com")
        graphql_url = _url(environ, "GITHUB_GRAPHQL_URL", _graphql_url(api_url))
        return cls(
            repository=repository, token=token, api_url=api_url, graphql_url=graphql_url,
            server_url=_url(environ, "GITHUB_SERVER_URL", "https://github.com"),
            run_id=_int(environ, "GITHUB_RUN_ID", 0), run_attempt=_int(environ, "GITHUB_RUN_ATTEMPT", 1),
            run_number=_int(environ, "GITHUB_RUN_NUMBER", 0), sha=environ.get("GITHUB_SHA", ""),
            ref=environ.get("GITHUB_REF", ""), actor=environ.get("GITHUB_ACTOR", ""),
            workspace=environ.get("GITHUB_WORKSPACE") or ".",
            temp_dir=environ.get("RUNNER_TEMP") or "/tmp",
            triggering_actor=environ.get("GITHUB_TRIGGERING_ACTOR", ""),
            repository_id=_int(environ, "GITHUB_REPOSITORY_ID", 0),
            writers=parse_writers(writers),
        )


def parse_writers(extra: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The Actions bot, plus the logins the workflow names (an App's `name[bot]`, a machine user)."""
    out = list(DEFAULT_WRITERS)
    for raw in extra:
        login = raw.strip()
        if not LOGIN.match(login):
            raise InputError(f"trusted writer {raw[:60]!r} is not a GitHub login",
                             "it names who may write the deployment records and statuses cdhelper counts",
                             "give logins such as my-deploy-app[bot] (an App's bot) or a user name, one per line")
        if login.lower() not in {w.lower() for w in out}:
            out.append(login)
    return tuple(out)


def _url(environ: dict[str, str], key: str, default: str) -> str:
    raw = environ.get(key) or default
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment \
            or any(c.isspace() for c in raw):
        raise InputError(f"{key}={raw[:100]!r} is not an http(s) URL", "cdhelper sends GitHub API requests there",
                         f"unset {key} inside GitHub Actions (the runner sets it) or set it to e.g. {default}")
    return raw.rstrip("/")


def _graphql_url(api_url: str) -> str:
    # GitHub Enterprise Server serves REST at /api/v3 and GraphQL at /api/graphql.
    if api_url.endswith("/api/v3"):
        return api_url[: -len("/api/v3")] + "/api/graphql"
    return api_url + "/graphql"


def _int(environ: dict[str, str], key: str, default: int) -> int:
    raw = environ.get(key, "")
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise InputError(f"{key}={raw[:40]!r} is not a number", "GitHub sets it to a positive integer",
                         f"unset {key} or set it to the run's value")
    return int(raw)


def parse_mode(raw: str | None) -> str:
    """`CD_MODE`: exactly `delivery`, `deployment`, or empty (delivery, the safe default). Nothing is
    normalised: the workflows compare it with GitHub's case-insensitive `!=`, so ` Deployment` would
    skip nothing there and mean something else here; anything else fails closed."""
    value = raw or ""
    if value == "":
        return "delivery"
    if value not in MODES:
        raise InputError(f"mode {value[:40]!r} is not recognised",
                         "CD_MODE must be exactly 'delivery' or 'deployment' (lower case, no spaces; empty means delivery)",
                         "set the repository variable CD_MODE to delivery or deployment: Settings > Secrets and variables > Actions > Variables")
    return value
