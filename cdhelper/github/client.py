"""The only module that imports PyGithub. A narrow client for what the helper does on GitHub.

Configured on purpose: PyGithub's own throttling (0.25 s between requests, 1 s between writes)
and its retry (which re-POSTs after a 5xx, duplicating deployments) are off. Instead:
- reads (GET, GraphQL queries) retry on 5xx, resets and rate limits, following `retry-after`
  and `x-ratelimit-reset`, within a wait budget;
- writes retry only when GitHub refused them before applying (rate limits), or when repeating
  is harmless (`idempotent=True`, e.g. deployment statuses). Otherwise a lost response raises
  `OutcomeUnknown` and the domain code finds out what happened before trying again.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from cdhelper.core.context import RunContext
from cdhelper.core.errors import CDHelperError, GitHubAPIError, NotFoundError, PermissionDeniedError

API_VERSION = "2022-11-28"
# The Deployments schema preview, which GitHub's docs still list createDeploymentStatus under. GitHub
# ignores a preview that has graduated (PyGithub sends this one with every deployment status), so
# sending it with the mutation costs nothing where it is not needed and helps where it is.
FLASH_PREVIEW = "application/vnd.github+json, application/vnd.github.flash-preview+json"
RATE_LIMIT_MARKERS = ("rate limit", "abuse detection")


class OutcomeUnknown(Exception):
    """A write whose response was lost (5xx, reset, timeout): it may or may not have happened."""


class GraphQLRefused(GitHubAPIError):
    """GitHub answered a GraphQL request with errors (an unknown field, a preview it requires, a
    FORBIDDEN): nothing was done, and a REST way may still work."""


@dataclass
class ApiFailure(Exception):
    """A definite refusal (4xx) the caller interprets: 409 conflicts, 422 validation."""

    status: int
    message: str
    data: Any = None

    def __str__(self) -> str:
        return f"{self.status} {self.message}"


class GitHubClient:
    def __init__(self, ctx: RunContext, *, timeout: float = 15, attempts: int = 6, max_wait: float = 90,
                 backoff: float = 0.25, sleep: Callable[[float], None] = time.sleep):
        from github import Auth, Github  # heavy: imported when used, so --help and the launcher start without it
        if not ctx.token:
            raise PermissionDeniedError("no GitHub token was given", "every call to GitHub needs one",
                                        "pass `github-token: ${{ github.token }}` (the default) or set GITHUB_TOKEN")
        self.ctx = ctx
        self._gh = Github(base_url=ctx.api_url, auth=Auth.Token(ctx.token), retry=None, timeout=timeout,
                          seconds_between_requests=None, seconds_between_writes=None, lazy=True, per_page=100)
        self._requester = self._gh.requester
        self._repo_url = f"{ctx.api_url}/repos/{ctx.repository}"
        self.attempts, self.max_wait, self.backoff, self._sleep = attempts, max_wait, backoff, sleep
        self.requests = 0  # what this client sent, retries included
        self.refused: set[str] = set()  # GraphQL features GitHub refused once: not asked again by this process

    def close(self) -> None:
        self._gh.close()

    # --- transport -------------------------------------------------------------------------
    def _send(self, verb: str, url: str, *, body: Any = None, params: dict | None = None,
              headers: dict | None = None, upload: str | None = None) -> tuple[dict, Any]:
        """One request. `upload` is a file path streamed as the body (release assets)."""
        import requests  # heavy: imported when used, so --help and the launcher start without it
        from github import GithubException
        self.requests += 1
        headers = {"X-GitHub-Api-Version": API_VERSION, "Accept": "application/vnd.github+json", **(headers or {})}
        try:
            if upload is not None:
                return self._requester.requestBlobAndCheck(verb, url, parameters=params, headers=headers, input=upload)
            return self._requester.requestJsonAndCheck(verb, url, parameters=params, input=body, headers=headers)
        except GithubException as exc:
            raise _Http(exc.status, exc.data, exc.headers or {}) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Http(0, {"message": f"connection failed: {_reason(exc)}"}, {}) from None

    def _call(self, verb: str, url: str, *, write: bool, idempotent: bool = False, needs: str = "",
              what: str = "", **kwargs: Any) -> Any:
        waited = 0.0
        for attempt in range(1, self.attempts + 1):
            try:
                return self._send(verb, url, **kwargs)[1]
            except _Http as err:
                if (err.status == 0 or err.status >= 500) and write and not idempotent:
                    raise OutcomeUnknown(f"{verb} {_short(url)}: {err.message or err.status}") from None
                delay = self._retry_delay(err, attempt)
                if delay is None or attempt == self.attempts:
                    raise self._translate(err, needs=needs, what=what or f"{verb} {_short(url)}") from None
                if waited + delay > self.max_wait:
                    raise GitHubAPIError(
                        f"{what or verb + ' ' + _short(url)} was rate limited", f"GitHub asks to wait {delay:.0f} s more",
                        "re-run the job later; cdhelper spends few requests, so check other automation sharing the token") from None
                self._sleep(delay)
                waited += delay
        raise AssertionError("unreachable")

    def _retry_delay(self, err: _Http, attempt: int) -> float | None:
        headers = {k.lower(): v for k, v in err.headers.items()}
        message = err.message.lower()
        if err.status in (403, 429) and (any(m in message for m in RATE_LIMIT_MARKERS) or "retry-after" in headers
                                         or headers.get("x-ratelimit-remaining") == "0"):
            if "retry-after" in headers:
                return float(headers["retry-after"])
            if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
                return max(float(headers["x-ratelimit-reset"]) - time.time(), 0) + 1
            return 60.0  # GitHub: wait at least a minute when it gives no hint
        if err.status == 0 or err.status >= 500:
            return min(self.backoff * 2 ** (attempt - 1), 8.0)
        return None

    def _translate(self, err: _Http, *, needs: str, what: str) -> CDHelperError | ApiFailure:
        if err.status == 401:
            return PermissionDeniedError(f"{what} was refused", "GitHub rejected the token (401 Bad credentials)",
                                         "pass a valid token: `github-token: ${{ github.token }}` is the default")
        if err.status == 403 and not _is_rate_limit(err):
            fix = (f"grant it in the job: `permissions:` with `{needs}`" if needs else
                   "grant the job the permission this call needs under `permissions:`")
            return PermissionDeniedError(f"{what} was refused",
                                         f"the token lacks a permission (403 {err.message})", fix)
        if err.status == 404:
            return NotFoundError(f"{what} found nothing", f"GitHub answered 404 for {self.ctx.repository}",
                                 "check the repository name and that the token can see it"
                                 + (f" (it needs `{needs}`)" if needs else ""))
        if err.status in (409, 422):
            return ApiFailure(err.status, err.message, err.data)
        if err.status == 0:
            return GitHubAPIError(f"{what} failed", f"no answer from {self.ctx.api_url} ({err.message}) after "
                                  f"{self.attempts} attempts",
                                  f"check that GITHUB_API_URL ({self.ctx.api_url}) is right and reachable from this "
                                  "runner (the runner sets it; on GitHub Enterprise Server it is https://HOST/api/v3); "
                                  "if it is, re-run the job: nothing half-done is left behind")
        if err.status >= 500:
            return GitHubAPIError(f"{what} failed", f"GitHub did not answer ({err.status}: {err.message}) after {self.attempts} attempts",
                                  "re-run the job; nothing half-done is left behind")
        return GitHubAPIError(f"{what} failed", f"GitHub answered {err.status}: {err.message}",
                              "check the inputs named above; re-run with ACTIONS_STEP_DEBUG=true for details")

    # --- reads ---------------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict, *, mutation: bool = False, refusable: bool = False) -> dict:
        """`refusable`: GraphQL errors raise GraphQLRefused, for callers that have a REST way."""
        return self.graphql_partial(query, variables, mutation=mutation, refusable=refusable)[0]

    def graphql_partial(self, query: str, variables: dict, *, mutation: bool = False,
                        optional: list[tuple[str, ...]] | tuple = (),
                        refusable: bool = False) -> tuple[dict, set[tuple[str, ...]]]:
        """A GraphQL request whose `optional` parts (paths such as ("run",)) may fail on their own:
        GitHub then answers the rest with errors that name those paths. Returns the data and the
        optional paths that failed; any other error raises."""
        # The only mutation the helper sends writes a deployment status, which is harmless to repeat.
        raw = self._call("POST", self.ctx.graphql_url, write=mutation, idempotent=True,
                         headers={"Accept": FLASH_PREVIEW} if mutation else None,
                         body={"query": query, "variables": variables}, needs="deployments: write" if mutation else "",
                         what="writing a deployment status (GraphQL)" if mutation else "reading deployment history (GraphQL)")
        failed, fatal = set(), []
        for error in raw.get("errors") or []:
            path = tuple(str(p) for p in error.get("path") or ())
            part = next((tuple(o) for o in optional if path[:len(o)] == tuple(o)), None)
            if part is not None:
                failed.add(part)
            else:
                fatal.append(error)
        if fatal:
            if refusable:
                first = fatal[0]
                raise GraphQLRefused("GitHub refused a GraphQL request", str(first.get("message", first))[:300],
                                     "nothing to do: cdhelper falls back to REST")
            raise self._graphql_error(fatal[0], mutation=mutation)
        if not isinstance(raw.get("data"), dict):
            raise GitHubAPIError("a GraphQL request returned no data", str(raw)[:200],
                                 "re-run the job; report it if it persists")
        return raw["data"], failed

    def _graphql_error(self, first: dict, *, mutation: bool) -> CDHelperError:
        message, path = first.get("message", str(first))[:300], [str(p) for p in first.get("path") or ()]
        if first.get("type") == "NOT_FOUND" and path[:1] == ["repository"]:
            return NotFoundError(f"repository {self.ctx.repository} was not found", message,
                                 "check the repository name and that the token can read it")
        if first.get("type") in {"FORBIDDEN", "INSUFFICIENT_SCOPES"}:
            if mutation:
                return PermissionDeniedError("writing a deployment status was refused", message,
                                             "grant it in the job: `permissions:` with `deployments: write`")
            return PermissionDeniedError(f"reading {'.'.join(path) or 'deployments'} was refused", message,
                                         "grant `deployments: read` and `contents: read` under `permissions:` "
                                         "(and `statuses: read` where required-contexts are checked)")
        return GitHubAPIError("a GraphQL query failed", message + (f" (at {'.'.join(path)})" if path else ""),
                              "report this with the message above; it is a cdhelper bug if the query is malformed")

    def _get_optional(self, url: str, *, needs: str, what: str) -> Any:
        """A GET whose 404 means "there is none" rather than an error."""
        try:
            return self._call("GET", url, write=False, needs=needs, what=what)
        except NotFoundError:
            return None

    def get_ref(self, ref: str) -> dict | None:
        """`tags/v1` -> {"sha", "type"}, or None when the ref does not exist."""
        data = self._get_optional(f"{self._repo_url}/git/ref/{ref}", needs="contents: read", what=f"reading ref {ref}")
        return None if data is None else {"sha": data["object"]["sha"], "type": data["object"]["type"]}

    def get_tag_object(self, sha: str) -> dict:
        data = self._call("GET", f"{self._repo_url}/git/tags/{sha}", write=False, needs="contents: read",
                          what=f"reading tag object {sha[:12]}")
        return {"tag": data["tag"], "message": data["message"], "object_sha": data["object"]["sha"]}

    def run_approvals(self, run_id: int) -> list[dict]:
        try:
            data = self._call("GET", f"{self._repo_url}/actions/runs/{run_id}/approvals", write=False,
                              needs="actions: read", what=f"reading the approvals of run {run_id}")
        except NotFoundError:
            self.get_repository()  # a repository it cannot see raises its own 404 here: then that is the cause
            raise NotFoundError(f"run {run_id} is unknown to GitHub in {self.ctx.repository}",
                                f"GitHub answered 404 for /actions/runs/{run_id}/approvals",
                                "GITHUB_RUN_ID must be the id of the workflow run whose approval counts (in Actions "
                                "it is set for you; by hand, export the id shown in the run's URL)") from None
        return [{"state": a["state"], "comment": a.get("comment") or "", "user": a["user"]["login"],
                 "environments": [e["name"] for e in a["environments"]]} for a in data]

    def attempt_jobs(self, run_id: int, attempt: int) -> list[dict]:
        """The jobs of one attempt of a run: name, status, conclusion (one page of 100 is plenty)."""
        data = self._call("GET", f"{self._repo_url}/actions/runs/{run_id}/attempts/{attempt}/jobs", write=False,
                          needs="actions: read", what=f"reading the jobs of run {run_id} attempt {attempt}",
                          params={"per_page": 100})
        return [{"name": j.get("name", ""), "status": j.get("status"), "conclusion": j.get("conclusion"),
                 "run_attempt": j.get("run_attempt")} for j in data.get("jobs", [])]

    def get_release(self, tag: str) -> dict | None:
        return self._get_optional(f"{self._repo_url}/releases/tags/{quote(tag, safe='')}", needs="contents: read",
                                  what=f"reading release {tag}")

    def download_asset(self, asset_id: int, dest: Path) -> None:
        """Streams release asset `asset_id` into the file `dest` (created or truncated).

        GitHub answers the API request (`Accept: application/octet-stream`) with a 302 to a signed
        link on its storage (objects.githubusercontent.com; a path of its own host on GHES), or with
        the bytes themselves. The API request goes through `_send` (auth, rate limits, errors as
        everywhere); the link is fetched without the token (it is signed; netrc is not consulted)
        and with timeouts, which PyGithub's own redirect handling lacks. A 200 is streamed again
        through PyGithub's requester. Retried as reads are, one request counted per API request; a
        download cut midway starts again from the first byte, and an error of the storage (an
        expired link) is retried with a fresh link."""

        import requests  # heavy: imported when used, so --help and the launcher start without it
        url = f"{self._repo_url}/releases/assets/{int(asset_id)}"
        what = f"downloading release asset {asset_id}"

        def save(chunks) -> None:
            with open(dest, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)

        waited = 0.0
        for attempt in range(1, self.attempts + 1):
            storage = ""
            try:
                try:
                    headers = self._send("GET", url, headers={"Accept": "application/octet-stream"})[0]
                    location = {k.lower(): v for k, v in headers.items()}.get("location")
                except ValueError:  # a 200 whose bytes PyGithub took for broken JSON
                    location = None
                if location:
                    with requests.get(urljoin(url, location), stream=True, timeout=(15, 60), auth=lambda r: r) as response:
                        if response.status_code >= 400:
                            storage = f"{response.status_code} {response.reason or ''}".strip()
                            raise _Http(0, {"message": f"the download location answered {storage}"}, {})
                        save(response.iter_content(chunk_size=1024 * 1024))
                else:  # GitHub sent the bytes at once: ask again, streaming this time
                    self.requests += 1
                    _, _, chunks = self._requester.getStream(url, headers={"X-GitHub-Api-Version": API_VERSION},
                                                             chunk_size=1024 * 1024)
                    save(chunks)
                return
            except _Http as failure:
                err = failure
            except requests.HTTPError as exc:  # getStream's errors
                try:
                    data = exc.response.json()
                except ValueError:
                    data = {"message": exc.response.reason or ""}
                err = _Http(exc.response.status_code, data, dict(exc.response.headers))
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                err = _Http(0, {"message": f"connection failed: {_reason(exc)}"}, {})
            delay = self._retry_delay(err, attempt)
            if delay is None or attempt == self.attempts:
                if storage:
                    raise GitHubAPIError(f"{what} failed", f"the storage GitHub redirected to answered {storage} "
                                         f"after {self.attempts} attempts", "re-run the job; if it persists, check "
                                         "that the release asset still downloads in the browser") from None
                raise self._translate(err, needs="contents: read", what=what) from None
            if waited + delay > self.max_wait:
                raise GitHubAPIError(f"{what} was rate limited", f"GitHub asks to wait {delay:.0f} s more",
                                     "re-run the job later; cdhelper spends few requests, so check other automation "
                                     "sharing the token") from None
            self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    def get_environment(self, name: str) -> dict | None:
        return self._get_optional(f"{self._repo_url}/environments/{quote(name, safe='')}", needs="actions: read",
                                  what=f"reading environment {name}")

    def list_environments(self) -> list[dict]:
        """Every environment of the repository, as GitHub describes each (protection rules included)."""
        found: list[dict] = []
        for page in range(1, 51):  # 5,000 environments: far beyond any repository
            data = self._call("GET", f"{self._repo_url}/environments", write=False, needs="actions: read",
                              what="listing environments", params={"per_page": 100, "page": page})
            found.extend(data.get("environments") or [])
            if len(found) >= int(data.get("total_count") or 0) or not data.get("environments"):
                break
        return found

    def get_repository(self) -> dict:
        """{"default_branch", "admin"}: admin is whether GitHub says the caller can administer the
        repository, None when its answer does not say (it reports permissions for people's tokens)."""
        data = self._call("GET", self._repo_url, write=False, needs="metadata: read",
                          what=f"reading repository {self.ctx.repository}")
        permissions = data.get("permissions")
        return {"default_branch": data.get("default_branch") or "",
                "admin": permissions.get("admin") if isinstance(permissions, dict) else None}

    def user_id(self, login: str) -> int | None:
        """The id GitHub wants for a user reviewer, or None when there is no such user."""
        data = self._get_optional(f"{self.ctx.api_url}/users/{quote(login, safe='')}", needs="",
                                  what=f"looking up user {login}")
        return None if data is None else int(data["id"])

    def team_id(self, org: str, slug: str) -> int | None:
        """The id GitHub wants for a team reviewer, or None when the organisation has no such team (or
        the token cannot see it: GitHub answers 404 for secret teams too)."""
        data = self._get_optional(f"{self.ctx.api_url}/orgs/{quote(org, safe='')}/teams/{quote(slug, safe='')}",
                                  needs="members: read (organization)", what=f"looking up team {org}/{slug}")
        return None if data is None else int(data["id"])

    def list_branch_policies(self, environment: str) -> list[dict]:
        """The custom deployment branch and tag policies of an environment: [{"id", "name", "type"}]."""
        url = f"{self._repo_url}/environments/{quote(environment, safe='')}/deployment-branch-policies"
        found: list[dict] = []
        for page in range(1, 51):
            try:
                data = self._call("GET", url, write=False, needs="actions: read", params={"per_page": 100, "page": page},
                                  what=f"listing the branch policies of {environment}")
            except NotFoundError:  # the environment has no custom policies (or is gone)
                break
            batch = data.get("branch_policies") or []
            found.extend({"id": p["id"], "name": p["name"], "type": p.get("type", "branch")} for p in batch)
            if not batch or len(found) >= int(data.get("total_count") or 0):
                break
        return found

    def compare(self, base: str, head: str) -> dict | None:
        """Commits on `head` that `base` lacks (GitHub lists at most 250, oldest first); None when
        either commit is unknown to GitHub."""
        return self._get_optional(f"{self._repo_url}/compare/{quote(base, safe='')}...{quote(head, safe='')}",
                                  needs="contents: read", what=f"comparing {base[:12]} with {head[:12]}")

    def get_variable(self, name: str) -> str | None:
        """A repository variable's value (Actions variables), or None when it is not set."""
        data = self._get_optional(f"{self._repo_url}/actions/variables/{quote(name, safe='')}",
                                  needs="variables: read (fine-grained) or repo scope", what=f"reading variable {name}")
        return None if data is None else str(data.get("value", ""))

    # --- writes --------------------------------------------------------------------------------
    def create_tag_object(self, tag: str, message: str, sha: str) -> str:
        # A tag object is invisible until a ref points at it, so creating a second one is harmless.
        data = self._call("POST", f"{self._repo_url}/git/tags", write=True, idempotent=True, needs="contents: write",
                          what=f"creating tag {tag}", body={"tag": tag, "message": message, "object": sha, "type": "commit"})
        return data["sha"]

    def create_ref(self, ref: str, sha: str) -> None:
        self._call("POST", f"{self._repo_url}/git/refs", write=True, needs="contents: write",
                   what=f"creating {ref}", body={"ref": ref, "sha": sha})

    def create_release(self, tag: str, *, name: str, body: str, commit: str) -> dict:
        return self._call("POST", f"{self._repo_url}/releases", write=True, needs="contents: write",
                          what=f"creating release {tag}",
                          body={"tag_name": tag, "name": name, "body": body, "target_commitish": commit,
                                "draft": False, "prerelease": "-" in tag})

    def upload_asset(self, upload_url: str, name: str, path: str) -> dict:
        """Streams the file from disk. A lost response raises OutcomeUnknown: the caller looks first."""
        return self._call("POST", upload_url.split("{", 1)[0], write=True, needs="contents: write",
                          what=f"uploading release asset {name}", params={"name": name}, upload=path,
                          headers={"Content-Type": "application/octet-stream"})

    def create_deployment(self, *, ref: str, environment: str, payload: dict, description: str,
                          required_contexts: list[str], production: bool, task: str = "deploy") -> dict:
        data = self._call("POST", f"{self._repo_url}/deployments", write=True, needs="deployments: write",
                          what=f"creating a deployment to {environment}",
                          body={"ref": ref, "environment": environment, "payload": payload, "task": task,
                                "description": description[:140], "auto_merge": False,
                                "required_contexts": required_contexts, "transient_environment": False,
                                "production_environment": production})
        if "id" not in data:  # 202: GitHub merged instead of deploying; never expected with auto_merge false
            raise GitHubAPIError(f"GitHub created no deployment to {environment}", data.get("message", "202 Accepted"),
                                 "deploy a commit sha (cdhelper does) and keep auto_merge off")
        return data

    def create_deployment_status(self, deployment_id: int, state: str, *, description: str = "", log_url: str = "",
                                 environment_url: str = "") -> dict:
        # Posting the same state twice is harmless, so lost responses are simply retried.
        body = {"state": state, "description": description[:140], "log_url": log_url}
        if environment_url:
            body["environment_url"] = environment_url
        return self._call("POST", f"{self._repo_url}/deployments/{deployment_id}/statuses", write=True,
                          idempotent=True, needs="deployments: write",
                          what=f"setting deployment {deployment_id} to {state}", body=body)

    def delete_deployment(self, deployment_id: int) -> None:
        """Deleting twice is harmless: a 404 after a lost response means it is gone."""
        try:
            self._call("DELETE", f"{self._repo_url}/deployments/{deployment_id}", write=True, idempotent=True,
                       needs="deployments: write", what=f"deleting deployment {deployment_id}")
        except NotFoundError:
            pass

    def put_environment(self, name: str, body: dict) -> dict:
        """Create or update an environment. GitHub replaces wait_timer, prevent_self_review, reviewers and
        deployment_branch_policy together, so callers send all four; the same body twice is harmless."""
        return self._call("PUT", f"{self._repo_url}/environments/{quote(name, safe='')}", write=True, idempotent=True,
                          needs="administration: write", what=f"updating environment {name}", body=body)

    def create_branch_policy(self, environment: str, name: str, kind: str) -> dict:
        # Sending it twice is harmless: GitHub answers a duplicate with a 303 to the policy that exists.
        return self._call("POST", f"{self._repo_url}/environments/{quote(environment, safe='')}/deployment-branch-policies",
                          write=True, idempotent=True, needs="administration: write",
                          what=f"adding {kind} policy {name} to {environment}", body={"name": name, "type": kind})

    def delete_branch_policy(self, environment: str, policy_id: int) -> None:
        """Deleting twice is harmless: a 404 after a lost response means it is gone."""
        try:
            self._call("DELETE", f"{self._repo_url}/environments/{quote(environment, safe='')}/deployment-branch-policies/"
                       f"{int(policy_id)}", write=True, idempotent=True, needs="administration: write",
                       what=f"removing branch policy {policy_id} from {environment}")
        except NotFoundError:
            pass

    def get_file(self, path: str, *, ref: str) -> dict | None:
        """A file of the repository at `ref` (branch, tag or sha): {"text", "sha"} with sha its blob
        sha (what put_file needs to replace it), or None when there is no such file there."""
        data = self._get_optional(f"{self._repo_url}/contents/{quote(path)}?ref={quote(ref, safe='')}",
                                  needs="contents: read", what=f"reading {path} on {ref}")
        if data is None:
            return None
        if data.get("type") != "file" or data.get("encoding") != "base64":
            raise GitHubAPIError(f"{path} on {ref} is not a readable file", f"GitHub describes it as "
                                 f"{data.get('type')} ({data.get('encoding') or 'no content'})",
                                 "keep flag files small plain files (GitHub sends no content above 1 MB)")
        return {"text": base64.b64decode(data["content"]).decode("utf-8"), "sha": data["sha"]}

    def put_file(self, path: str, text: str, *, branch: str, sha: str | None, message: str) -> str:
        """Commit `text` as `path` on `branch` (Contents API): replaces the blob `sha` (None: a new
        file). GitHub refuses with 409/422 (ApiFailure) when the branch's file is not that blob. A lost
        response raises OutcomeUnknown: the caller reads the branch before trying again. Returns the
        new commit's sha."""
        body = {"message": message, "content": base64.b64encode(text.encode("utf-8")).decode(), "branch": branch}
        if sha is not None:
            body["sha"] = sha
        data = self._call("PUT", f"{self._repo_url}/contents/{quote(path)}", write=True, needs="contents: write",
                          what=f"committing {path} to {branch}", body=body)
        return data["commit"]["sha"]

    def create_commit_status(self, sha: str, state: str, context: str, *, description: str = "",
                             target_url: str = "") -> None:
        self._call("POST", f"{self._repo_url}/statuses/{sha}", write=True, idempotent=True, needs="statuses: write",
                   what=f"reporting {context} on {sha[:12]}",
                   body={"state": state, "context": context, "description": description[:140],
                         "target_url": target_url or None})


class _Http(Exception):
    def __init__(self, status: int, data: Any, headers: dict):
        super().__init__(status)
        self.status, self.data, self.headers = status, data, headers
        self.message = (data or {}).get("message", "") if isinstance(data, dict) else str(data or "")


def _is_rate_limit(err: _Http) -> bool:
    return any(m in err.message.lower() for m in RATE_LIMIT_MARKERS)


def _reason(exc: Exception) -> str:
    """The useful end of a requests error: "[Errno 111] Connection refused" rather than the pool's story."""
    found = re.findall(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    if found:
        return found[-1].strip()
    return "timed out" if "timeout" in type(exc).__name__.lower() else type(exc).__name__


def _short(url: str) -> str:
    return url.split("/repos/", 1)[-1] if "/repos/" in url else url
