"""The run context, read once from the environment at the edge into a frozen object."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InputError

REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
MODES = ("delivery", "deployment")


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

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repository.split("/", 1)[1]

    @property
    def run_url(self) -> str:
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @classmethod
    def from_environ(cls, environ: dict[str, str], *, token: str = "", repository: str = "") -> RunContext:
        repository = repository or environ.get("GITHUB_REPOSITORY", "")
        if not REPOSITORY.match(repository):
            raise InputError(f"repository {repository!r} is not usable", "it must look like OWNER/NAME",
                             "run inside GitHub Actions (GITHUB_REPOSITORY is set there) or pass --repository OWNER/NAME")
        api_url = (environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
        graphql_url = environ.get("GITHUB_GRAPHQL_URL") or _graphql_url(api_url)
        return cls(
            repository=repository, token=token, api_url=api_url, graphql_url=graphql_url.rstrip("/"),
            server_url=(environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
            run_id=_int(environ, "GITHUB_RUN_ID", 0), run_attempt=_int(environ, "GITHUB_RUN_ATTEMPT", 1),
            run_number=_int(environ, "GITHUB_RUN_NUMBER", 0), sha=environ.get("GITHUB_SHA", ""),
            ref=environ.get("GITHUB_REF", ""), actor=environ.get("GITHUB_ACTOR", ""),
            workspace=environ.get("GITHUB_WORKSPACE") or ".",
            temp_dir=environ.get("RUNNER_TEMP") or "/tmp",
        )


def _graphql_url(api_url: str) -> str:
    # GitHub Enterprise Server serves REST at /api/v3 and GraphQL at /api/graphql.
    if api_url.endswith("/api/v3"):
        return api_url[: -len("/api/v3")] + "/api/graphql"
    return api_url + "/graphql"


def _int(environ: dict[str, str], key: str, default: int) -> int:
    raw = environ.get(key, "")
    if not raw:
        return default
    if not raw.isdigit():
        raise InputError(f"{key}={raw!r} is not a number", "GitHub sets it to a positive integer",
                         f"unset {key} or set it to the run's value")
    return int(raw)


def parse_mode(raw: str | None) -> str:
    """`CD_MODE`: empty means delivery (the safe default); anything unknown fails closed."""
    value = (raw or "").strip().lower()
    if value == "":
        return "delivery"
    if value not in MODES:
        raise InputError(f"mode {raw!r} is not recognised", "CD_MODE must be 'delivery' or 'deployment' (empty means delivery)",
                         "set the repository variable CD_MODE to delivery or deployment: Settings > Secrets and variables > Actions > Variables")
    return value
