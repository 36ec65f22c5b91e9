"""Deployment records: the payload cdhelper writes, and the ledger read back from GitHub.

The ledger is read with GraphQL because REST has no latest-status field: knowing which records
succeeded would cost one extra request per deployment (N+1). One query returns the recent
records of every environment needed, with their statuses, and whatever else the decision needs
(the candidate's tag and commit, the run's reviews, the gate environment's rules).

Only trusted writers make evidence: anyone holding `deployments: write` can create a deployment
with a cdhelper-looking payload, or post a `success` status on one of ours. A record counts only
when a trusted writer (the Actions bot, or a login the workflow names) created it for a run of this
repository, and its state is read from the statuses trusted writers posted. What was ignored is
reported, so a forgery never passes silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources

from cdhelper.github import queries
from cdhelper.github.client import GraphQLRefused
from cdhelper.github.queries import STATUS_DEPTH

PAYLOAD_VERSION = 1
LEDGER_DEPTH = 50  # records read per environment; older ones matter only for rollbacks far back
FINAL_STATES = {"success", "failure", "error", "inactive"}
IN_FLIGHT_STATES = {"pending", "queued", "in_progress"}
UNKNOWN = "unknown"  # the trusted statuses were pushed out of the window by others': nobody can say
RUN_PATH = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]+(/[^?#]*)$", re.I)


def identity(actor: dict | None) -> str:
    """A comparable login. GraphQL gives a Bot's login without the `[bot]` REST shows: put it back."""
    if not actor:
        return ""
    login = str(actor.get("login") or "")
    if actor.get("__typename") == "Bot" and not login.endswith("[bot]"):
        login += "[bot]"
    return login.lower()


@dataclass(frozen=True)
class Trust:
    """Who may write evidence, and which runs are this repository's."""

    writers: frozenset[str]
    repository: str  # owner/name, lower case
    repository_id: int = 0

    @classmethod
    def of(cls, ctx) -> Trust:
        return cls(frozenset(w.lower() for w in ctx.writers), ctx.repository.lower(), ctx.repository_id)

    def describe(self) -> str:
        return ", ".join(sorted(self.writers))

    def foreign_run(self, payload: dict) -> str:
        """Why the payload's run is not one of this repository's ("" when it is)."""
        run = payload.get("run")
        if not isinstance(run, dict) or not isinstance(run.get("id"), int):
            return "its payload names no workflow run"
        if self.repository_id and isinstance(run.get("repository_id"), int):
            if run["repository_id"] != self.repository_id:
                return f"its payload names a run of another repository (id {run['repository_id']})"
            return ""
        m = RUN_PATH.match(str(run.get("url", "")))
        if not m or m.group(1).lower() != f"/{self.repository}/actions/runs/{run['id']}":
            return f"its payload names a run of another repository ({str(run.get('url'))[:100]})"
        return ""


@dataclass(frozen=True)
class Status:
    """One trusted status of a record, as written (status reads a rollout's steps from these)."""

    state: str  # lower case
    at: datetime
    description: str


@dataclass(frozen=True)
class Record:
    id: int
    node_id: str
    environment: str
    created_at: datetime
    state: str  # latest trusted status, lower case; "pending" when it has none
    succeeded_at: datetime | None  # first trusted success status, kept when later made inactive
    payload: dict | None  # None for deployments cdhelper did not write (or whose writer is not trusted)
    changed_at: datetime | None = None  # time of the latest trusted status (the record's last sign of life)
    creator: str = ""  # who created it (identity(): lower case, bots as name[bot])
    notes: tuple[str, ...] = ()  # what was not trusted about it, for the warnings
    log_url: str = ""  # of its latest status, whoever wrote it (GitHub's own records point at their job)
    description: str = ""  # of its latest trusted status: why it ended so (free text the writer chose)
    statuses: tuple[Status, ...] = ()  # its trusted statuses, oldest first (those the ledger read)

    @property
    def home(self) -> str:
        """Where the record belongs: the environment its trusted payload names. A status may move a
        deployment to another environment on GitHub; anyone with `deployments: write` can post one."""
        return str((self.payload or {}).get("environment") or self.environment)

    @property
    def ours(self) -> bool:
        return self.payload is not None

    @property
    def version(self) -> str:
        return (self.payload or {}).get("version", "")

    @property
    def digest(self) -> str:
        return (self.payload or {}).get("digest", "")

    @property
    def run(self) -> dict:
        return (self.payload or {}).get("run") or {}

    @property
    def live(self) -> bool:
        """Succeeded and not replaced by a failure (auto-inactivation still counts as having been good)."""
        return self.state == "success"

    @property
    def in_flight(self) -> bool:
        return self.state in IN_FLIGHT_STATES

    @property
    def proven(self) -> bool:
        return self.succeeded_at is not None

    def of_run(self, run_id: int) -> bool:
        return self.run.get("id") == run_id


def parse_time(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _payload(raw: str | None) -> dict | None:
    """A cdhelper payload, or None. The fields the decisions read must have their types."""
    try:
        payload = json.loads(raw or "null")
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("cdhelper") != PAYLOAD_VERSION:
        return None
    if not isinstance(payload.get("version"), str) or not isinstance(payload.get("digest"), str):
        return None
    return payload


def from_graphql(nodes: list[dict], trust: Trust) -> list[Record]:
    """GraphQL `last:` windows come oldest first; the ledger is newest first. Untrusted records
    lose their payload (they are not ours) and untrusted statuses are not read; both are noted."""
    records = []
    for node in reversed(nodes):
        notes: list[str] = []
        payload = _payload(node.get("payload"))
        writer = identity(node.get("creator"))
        where = f"deployment {node['databaseId']} in {node['environment']}"
        if payload is not None:
            if writer not in trust.writers:
                notes.append(f"{where} was ignored: it was created by {writer or 'an unknown actor'}, who is not a "
                             f"trusted writer ({trust.describe()})")
                payload = None
            elif why := trust.foreign_run(payload):
                notes.append(f"{where} was ignored: {why}")
                payload = None
            elif str(payload.get("environment", "")).lower() != str(node["environment"]).lower():
                notes.append(f"{where} counts for {payload.get('environment')}, where it was made: a status moved it")
        connection = node.get("statuses") or {}
        statuses = connection.get("nodes") or []
        trusted = [s for s in statuses if identity(s.get("creator")) in trust.writers]
        state = trusted[-1]["state"].lower() if trusted else "pending"
        if payload is not None and len(trusted) < len(statuses):
            others = sorted({identity(s.get("creator")) or "unknown" for s in statuses} - trust.writers)
            notes.append(f"{where}: {len(statuses) - len(trusted)} status(es) by {', '.join(others)} ignored "
                         "(not a trusted writer)")
            if (connection.get("pageInfo") or {}).get("hasPreviousPage"):
                state = UNKNOWN  # older trusted statuses may have been pushed out of the window
        success = next((s for s in trusted if s["state"] == "SUCCESS"), None)
        latest = trusted[-1] if trusted else None
        records.append(Record(id=node["databaseId"], node_id=node["id"], environment=node["environment"],
                              created_at=parse_time(node["createdAt"]), state=state,
                              succeeded_at=parse_time(success["createdAt"]) if success else None, payload=payload,
                              changed_at=parse_time(latest["createdAt"]) if latest else None, creator=writer,
                              notes=tuple(notes), log_url=(statuses[-1].get("logUrl") or "") if statuses else "",
                              description=str((latest or {}).get("description") or ""),
                              statuses=tuple(Status(s["state"].lower(), parse_time(s["createdAt"]),
                                                    str(s.get("description") or "")) for s in trusted)))
    return records


def group(windows: dict[str, list[Record]], extra: list[Record], environments: list[str]) -> dict[str, list[Record]]:
    """Each record under the environment it belongs to (`home`), newest first (ids grow): a record
    moved by a status still counts where it was made, and never where it was moved to."""
    by_id = {r.id: r for r in extra}
    for records in windows.values():
        by_id.update((r.id, r) for r in records)
    names = {e.lower(): e for e in environments}
    out: dict[str, list[Record]] = {e: [] for e in environments}
    for record in sorted(by_id.values(), key=lambda r: r.id, reverse=True):
        name = names.get(record.home.lower())
        if name is not None:
            out[name].append(record)
    return out


def inconclusive(environment: str, records: list[Record], window: list[Record], full: bool, trust: Trust) -> str:
    """Why what is live in `environment` cannot be told, or "" when it can. Others' deployments can
    fill the window read, and others' statuses can push ours out of a record's window: then absence
    proves nothing, and promotions there are refused until the junk is removed."""
    unknown = [r for r in records if r.ours and r.state == UNKNOWN]
    if unknown:
        return (f"deployment {unknown[0].id} carries more statuses from untrusted writers than cdhelper reads "
                f"({STATUS_DEPTH}), so its own are out of sight")
    foreign = sorted({r.creator or "unknown" for r in window if r.creator not in trust.writers})
    if full and foreign and not any(r.ours and r.live for r in records):
        return (f"its last {len(window)} deployments hold no live cdhelper record, and some were created by "
                f"{', '.join(foreign[:5])} (not trusted writers), who can hide the live one that way")
    return ""


def live_record(records: list[Record]) -> Record | None:
    """What runs in the environment now: the newest cdhelper record whose last status is success."""
    return next((r for r in records if r.ours and r.live), None)


def previous_good(records: list[Record], current: Record | None) -> Record | None:
    """The rollback target: the newest proven record older than `current` with another digest
    (with nothing live now, the newest proven record of all)."""
    older = records
    if current is not None:
        index = next((i for i, r in enumerate(records) if r.id == current.id), len(records))
        older = records[index + 1:]
    return next((r for r in older if r.ours and r.proven and (current is None or r.digest != current.digest)), None)


def validate_payload(payload: dict) -> None:
    # Imported here: every command loads this module (`--help` too, through cli.commands.flags and
    # record_writer) and jsonschema is slow to import; the import seal preloads it.
    import jsonschema
    schema = json.loads(resources.files("cdhelper.core").joinpath("schemas/deployment-payload.schema.json").read_text())
    jsonschema.validate(payload, schema)


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class CommitFacts:
    """Who wrote a commit (GitHub logins of its authors, co-authors and committer) and the commit
    statuses on it, each context's latest with its creator."""

    oid: str
    people: tuple[str, ...] = ()
    contexts: dict[str, list[tuple[str, str]]] | None = None  # name -> [(state, writer)]; None when not read
    complete: bool = True  # False when GitHub listed more authors than were read


@dataclass(frozen=True)
class GateRules:
    """The gate environment's protection, as GitHub reports it."""

    exists: bool
    reviewers: tuple[str, ...] = ()
    prevent_self_review: bool = False


@dataclass(frozen=True)
class Ledger:
    records: dict[str, list[Record]]  # environment name -> newest first
    tag_message: str | None = None  # message of the requested annotated tag, if asked and found
    tag_commit: str | None = None  # the commit the tag really points at
    approvals: list[dict] | None = None  # the run's reviews, newest first; None if not asked or not resolved
    commit: CommitFacts | None = None
    gate: GateRules | None = None  # None when not asked, or when GitHub did not show it
    ignored: tuple[str, ...] = field(default_factory=tuple)  # records and statuses that were not trusted
    doubts: dict[str, str] = field(default_factory=dict)  # environment -> why what is live there is unknowable

    def of(self, environment: str) -> list[Record]:
        return self.records.get(environment, [])


def queue_and_read(client, ctx, deployment_id: int, deployment_node_id: str, environment: str, *, log_url: str,
                   environment_url: str, description: str, depth: int = LEDGER_DEPTH) -> list[Record]:
    """Mark a record `queued` and read its environment's recent records after that write, for the
    race check. One request: GraphQL `createDeploymentStatus`, whose payload reaches back through
    the deployment to its repository. The mutation sits on GitHub's schema-previews page, so if
    GitHub refuses it (unknown field, preview required, FORBIDDEN), REST writes the status and a
    GraphQL query reads the records (one request more), and this process does not ask again."""
    description = description[:140]
    if "createDeploymentStatus" not in client.refused:
        try:
            data = client.graphql(queries.queue_status(depth),
                                  {"deployment": deployment_node_id, "env": [environment], "log": log_url or None,
                                   "url": environment_url or None, "description": description},
                                  mutation=True, refusable=True)
            repo = ((data.get("createDeploymentStatus") or {}).get("deploymentStatus") or {})
            repo = ((repo.get("deployment") or {}).get("repository") or {}).get("deployments")
            if repo is None:  # answered without error, yet without the status: treat it as refused
                raise GraphQLRefused("GitHub did not write the status", "no deploymentStatus in the answer", "REST")
            return group({environment: from_graphql(repo["nodes"], Trust.of(ctx))}, [], [environment])[environment]
        except GraphQLRefused:
            client.refused.add("createDeploymentStatus")
    client.create_deployment_status(deployment_id, "queued", log_url=log_url, environment_url=environment_url,
                                    description=description)
    return read_ledger(client, ctx, [environment], depth=depth).of(environment)


def read_ledger(client, ctx, environments: list[str], *, tag: str | None = None, commit: str | None = None,
                contexts: bool = False, run_url: str | None = None, gate: str | None = None,
                probe_mutation: bool = False, depth: int = LEDGER_DEPTH) -> Ledger:
    """One GraphQL request: the recent records of each environment and, when asked, a tag's message
    and target, the facts of its commit (or of `commit`), with its commit statuses if `contexts`,
    a workflow run's deployment reviews, and the rules of the `gate` environment. The run and the
    gate are optional parts: if GitHub does not resolve them the caller asks REST instead."""
    trust = Trust.of(ctx)
    variables: dict = {"owner": ctx.owner, "name": ctx.name}
    variables.update((f"env{i}", [env]) for i, env in enumerate(environments))
    if tag is not None:
        variables["tag"] = f"refs/tags/{tag}"
    elif commit is not None:
        variables["commit"] = commit
    optional = []
    if gate is not None:
        variables["gate"] = gate
        optional.append(("repository", "gate"))
    if run_url is not None:
        variables["runUrl"] = run_url
        optional.append(("run",))
    if probe_mutation:  # a schema that hides the mutation (a preview it needs): the promotion skips it
        optional.append(("statusMutation",))
    query = queries.ledger(len(environments), depth, tag=tag is not None, commit=commit is not None,
                           contexts=contexts, gate=gate is not None, run=run_url is not None,
                           probe_mutation=probe_mutation)
    data, failed = client.graphql_partial(query, variables, optional=optional)
    if probe_mutation and not data.get("statusMutation"):
        client.refused.add("createDeploymentStatus")
    repo = data["repository"]
    windows = {env: from_graphql(repo[f"e{i}"]["nodes"], trust) for i, env in enumerate(environments)}
    recent = from_graphql((repo.get("recent") or {}).get("nodes") or [], trust) if environments else []
    records = group(windows, recent, environments)
    seen = [*(r for env in environments for r in windows[env]), *(r for env in environments for r in records[env])]
    ignored = [note for record in seen for note in record.notes]
    doubts = {env: why for i, env in enumerate(environments)
              if (why := inconclusive(env, records[env], windows[env], repo[f"e{i}"]["pageInfo"]["hasPreviousPage"],
                                      trust))}
    message = tag_commit = None
    target = (repo.get("tag") or {}).get("target") if tag is not None else None
    commit_node = None
    if target:
        if target["__typename"] == "Tag":
            message, commit_node = target["message"], target["target"]
        else:
            commit_node = target
        tag_commit = commit_node["oid"]
    elif commit is not None:
        commit_node = repo.get("commit")
    return Ledger(records=records, tag_message=message, tag_commit=tag_commit,
                  approvals=None if ("run",) in failed else _reviews(data.get("run")),
                  commit=_commit_facts(commit_node, contexts), ignored=tuple(dict.fromkeys(ignored)), doubts=doubts,
                  gate=None if gate is None or ("repository", "gate") in failed else _gate_rules(repo.get("gate")))


def _reviews(run: dict | None) -> list[dict] | None:
    if not run or run.get("__typename") != "WorkflowRun":
        return None
    return [{"state": r["state"].lower(), "comment": r["comment"] or "", "user": (r.get("user") or {}).get("login", ""),
             "environments": [e["name"] for e in r["environments"]["nodes"]]}
            for r in reversed(run["deploymentReviews"]["nodes"])]


def _commit_facts(node: dict | None, contexts: bool) -> CommitFacts | None:
    if not node or node.get("__typename", "Commit") != "Commit" or "authors" not in node:
        return None
    people = [(a.get("user") or {}).get("login") for a in (node.get("authors") or {}).get("nodes") or []]
    people.append(((node.get("committer") or {}).get("user") or {}).get("login"))
    found = None
    if contexts:
        found = {}
        for c in (((node.get("statusCheckRollup") or {}).get("contexts") or {}).get("nodes") or []):
            if c.get("__typename") == "CheckRun":
                app = ((c.get("checkSuite") or {}).get("app") or {}).get("slug")
                state = (c.get("conclusion") or "pending").lower() if c.get("status") == "COMPLETED" else "pending"
                found.setdefault(c["name"], []).append((state, f"{app}[bot]".lower() if app else ""))
            elif c.get("__typename") == "StatusContext":
                found.setdefault(c["context"], []).append((c["state"].lower(), identity(c.get("creator"))))
    complete = not ((node.get("authors") or {}).get("pageInfo") or {}).get("hasNextPage")
    return CommitFacts(node["oid"], tuple(sorted({p.lower() for p in people if p})), found, complete)


def _gate_rules(env: dict | None) -> GateRules | None:
    """None when GitHub's answer leaves a doubt (the caller then asks REST): a missing environment
    reads as null here, as does one the token may not see."""
    if not env:
        return None
    reviewers, prevent = [], None
    for rule in env["protectionRules"]["nodes"]:
        if rule["type"] == "REQUIRED_REVIEWERS":
            reviewers += [n.get("login") or n.get("slug") or "" for n in rule["reviewers"]["nodes"]]
            prevent = rule.get("preventSelfReview")
    if reviewers and prevent is None:
        return None
    return GateRules(True, tuple(reviewers), bool(prevent))


def gate_rules_from_rest(environment: dict | None) -> GateRules:
    if environment is None:
        return GateRules(False)
    reviewers, prevent = [], False
    for rule in environment.get("protection_rules") or []:
        if rule.get("type") == "required_reviewers":
            reviewers += [(r.get("reviewer") or {}).get("login") or (r.get("reviewer") or {}).get("slug") or ""
                          for r in rule.get("reviewers") or []]
            prevent = bool(rule.get("prevent_self_review"))
    return GateRules(True, tuple(reviewers), prevent)
