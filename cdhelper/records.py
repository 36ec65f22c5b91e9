"""Deployment records: the payload cdhelper writes, and the ledger read back from GitHub.

The ledger is read with GraphQL because REST has no latest-status field: knowing which records
succeeded would cost one extra request per deployment (N+1). One query returns the recent
records of every environment needed, with their statuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources

PAYLOAD_VERSION = 1
LEDGER_DEPTH = 50  # records read per environment; older ones matter only for rollbacks far back

DEPLOYMENT_FIELDS = """fragment ledgerRecord on Deployment {
  id databaseId environment createdAt payload
  latestStatus { state createdAt }
  statuses(last: 20) { nodes { state createdAt } }
}"""

FINAL_STATES = {"success", "failure", "error", "inactive"}
IN_FLIGHT_STATES = {"pending", "queued", "in_progress"}


@dataclass(frozen=True)
class Record:
    id: int
    node_id: str
    environment: str
    created_at: datetime
    state: str  # latest status, lower case; "pending" when it has none
    succeeded_at: datetime | None  # first success status, kept when later made inactive
    payload: dict | None  # None for deployments not written by cdhelper

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
        return (self.payload or {}).get("run", {}).get("id") == run_id


def parse_time(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def from_graphql(nodes: list[dict]) -> list[Record]:
    """GraphQL `last:` windows come oldest first; the ledger is newest first."""
    records = []
    for node in reversed(nodes):
        try:
            payload = json.loads(node.get("payload") or "null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or payload.get("cdhelper") != PAYLOAD_VERSION:
            payload = None
        statuses = (node.get("statuses") or {}).get("nodes") or []
        success = next((s for s in statuses if s["state"] == "SUCCESS"), None)
        latest = node.get("latestStatus")
        records.append(Record(id=node["databaseId"], node_id=node["id"], environment=node["environment"],
                              created_at=parse_time(node["createdAt"]),
                              state=latest["state"].lower() if latest else "pending",
                              succeeded_at=parse_time(success["createdAt"]) if success else None, payload=payload))
    return records


def live_record(records: list[Record]) -> Record | None:
    """What runs in the environment now: the newest cdhelper record whose last status is success."""
    return next((r for r in records if r.ours and r.live), None)


def previous_good(records: list[Record], current: Record | None) -> Record | None:
    """The rollback target: the newest proven record before `current` with another digest."""
    seen_current = current is None
    for record in records:
        if not seen_current:
            seen_current = record.id == current.id
            continue
        if record.ours and record.proven and record.digest != current.digest:
            return record
    return None


def validate_payload(payload: dict) -> None:
    import jsonschema
    schema = json.loads(resources.files("cdhelper").joinpath("schemas/deployment-payload.schema.json").read_text())
    jsonschema.validate(payload, schema)


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Ledger:
    records: dict[str, list[Record]]  # environment name -> newest first
    tag_message: str | None  # message of the requested annotated tag, if asked and found
    tag_commit: str | None
    approvals: list[dict] | None = None  # the run's reviews, newest first; None if not asked or not resolved

    def of(self, environment: str) -> list[Record]:
        return self.records.get(environment, [])


QUEUE = """mutation cdhelperQueue($deployment: ID!, $env: [String!], $log: String, $url: String, $description: String) {
  createDeploymentStatus(input: {deploymentId: $deployment, state: QUEUED, logUrl: $log, environmentUrl: $url,
                                 description: $description}) {
    deploymentStatus { deployment { repository {
      deployments(environments: $env, last: %d) { nodes { ...ledgerRecord } } } } } } }
"""


def queue_and_read(client, deployment_node_id: str, environment: str, *, log_url: str, environment_url: str,
                   description: str, depth: int = LEDGER_DEPTH) -> list[Record]:
    """Mark a record `queued` and, in the same request, read its environment's recent records:
    the mutation's payload reaches back through the deployment to its repository."""
    data = client.graphql(QUEUE % depth + DEPLOYMENT_FIELDS,
                          {"deployment": deployment_node_id, "env": [environment], "log": log_url or None,
                           "url": environment_url or None, "description": description[:140]}, mutation=True)
    repo = data["createDeploymentStatus"]["deploymentStatus"]["deployment"]["repository"]
    return from_graphql(repo["deployments"]["nodes"])


RUN_REVIEWS = """run: resource(url: $runUrl) { __typename ... on WorkflowRun { deploymentReviews(last: 50) {
  nodes { state comment user { login } environments(first: 20) { nodes { name } } } } } }"""


def read_ledger(client, owner: str, name: str, environments: list[str], *, tag: str | None = None,
                run_url: str | None = None, depth: int = LEDGER_DEPTH) -> Ledger:
    """One GraphQL request: the recent records of each environment, and if asked a tag's message
    and a workflow run's deployment reviews (the same history as REST's run approvals)."""
    parts, declared, variables = [], ["$owner: String!", "$name: String!"], {"owner": owner, "name": name}
    for i, env in enumerate(environments):
        declared.append(f"$env{i}: [String!]")
        variables[f"env{i}"] = [env]
        parts.append(f"e{i}: deployments(environments: $env{i}, last: {depth}) {{ nodes {{ ...ledgerRecord }} }}")
    if tag is not None:
        declared.append("$tag: String!")
        variables["tag"] = f"refs/tags/{tag}"
        parts.append("tag: ref(qualifiedName: $tag) { target { __typename oid ... on Tag { message target { oid } } } }")
    top = ""
    if run_url is not None:
        declared.append("$runUrl: URI!")
        variables["runUrl"] = run_url
        top = RUN_REVIEWS
    query = (f"query cdhelperLedger({', '.join(declared)}) {{ repository(owner: $owner, name: $name) {{ "
             + " ".join(parts) + f" }} {top} }}\n" + DEPLOYMENT_FIELDS)
    data = client.graphql(query, variables)
    repo = data["repository"]
    records = {env: from_graphql(repo[f"e{i}"]["nodes"]) for i, env in enumerate(environments)}
    message = commit = None
    target = (repo.get("tag") or {}).get("target") if tag is not None else None
    if target:
        if target["__typename"] == "Tag":
            message, commit = target["message"], target["target"]["oid"]
        else:
            commit = target["oid"]
    approvals = None
    run = data.get("run")
    if run and run.get("__typename") == "WorkflowRun":
        approvals = [{"state": r["state"].lower(), "comment": r["comment"] or "", "user": r["user"]["login"],
                      "environments": [e["name"] for e in r["environments"]["nodes"]]}
                     for r in reversed(run["deploymentReviews"]["nodes"])]
    return Ledger(records=records, tag_message=message, tag_commit=commit, approvals=approvals)
