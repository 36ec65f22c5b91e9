"""The GraphQL text cdhelper sends: fragments, queries and the small functions that assemble them.

Text only. Reading the answers is the domains' work (deploy/records.py for the ledger,
observe/history.py for the timeline), by the aliases and variables named here: `e0`, `e1`, ...
one per environment, `recent`, `tag`, `commit`, `gate`, `run`, `statusMutation`; `r0`, `r1`, ...
one per workflow run. The GitHub double (devtools/double/graphql_api.py) executes these same queries.
"""

from __future__ import annotations

STATUS_DEPTH = 50  # statuses read per record: ours write about four per attempt
HISTORY_PAGE = 100  # records a page of the history (GitHub's largest page)

ACTOR = "creator { __typename login }"
DEPLOYMENT_FIELDS = f"""fragment ledgerRecord on Deployment {{
  id databaseId environment createdAt payload {ACTOR}
  statuses(last: {STATUS_DEPTH}) {{ pageInfo {{ hasPreviousPage }} nodes {{ state createdAt logUrl description {ACTOR} }} }}
}}"""
COMMIT_FIELDS = """fragment commitFacts on Commit {
  oid authors(first: 100) { pageInfo { hasNextPage } nodes { user { login } } } committer { user { login } }
}"""
# Required contexts are commit statuses or check runs (GitHub counts both; an Actions job is a check
# run named after the job, written by the github-actions app).
CONTEXT_FIELDS = """statusCheckRollup { contexts(first: 100) { nodes { __typename
  ... on StatusContext { context state """ + ACTOR + """ }
  ... on CheckRun { name status conclusion checkSuite { app { slug } } } } } }"""
GATE_FIELDS = """gate: environment(name: $gate) { name protectionRules(first: 20) { nodes {
  type preventSelfReview reviewers(first: 10) { nodes { __typename ... on User { login } ... on Team { slug } } } } } }"""
RUN_REVIEWS = """run: resource(url: $runUrl) { __typename ... on WorkflowRun { deploymentReviews(last: 50) {
  nodes { state comment user { login } environments(first: 20) { nodes { name } } } } } }"""
# Asked only to learn whether the schema shows the mutation (a preview may hide it).
STATUS_MUTATION_PROBE = ' statusMutation: __type(name: "CreateDeploymentStatusPayload") { name }'

QUEUE = """mutation cdhelperQueue($deployment: ID!, $env: [String!], $log: String, $url: String, $description: String) {
  createDeploymentStatus(input: {deploymentId: $deployment, state: QUEUED, logUrl: $log, environmentUrl: $url,
                                 description: $description}) {
    deploymentStatus { deployment { repository {
      deployments(environments: $env, last: %d) { nodes { ...ledgerRecord } } } } } } }
"""

HISTORY_PAGE_QUERY = DEPLOYMENT_FIELDS + """
query($owner: String!, $name: String!, $env: [String!], $before: String) {
  repository(owner: $owner, name: $name) {
    deployments(environments: $env, last: PAGE, before: $before) {
      pageInfo { hasPreviousPage startCursor }
      nodes { ...ledgerRecord task commit { oid committedDate } }
    }
  }
}""".replace("PAGE", str(HISTORY_PAGE))

RUN_FIELDS = "__typename ... on WorkflowRun { createdAt }"


def queue_status(depth: int) -> str:
    """Mark a deployment `queued` and read its environment's last `depth` records after the write."""
    return QUEUE % depth + DEPLOYMENT_FIELDS


def ledger(environments: int, depth: int, *, tag: bool = False, commit: bool = False, contexts: bool = False,
           gate: bool = False, run: bool = False, probe_mutation: bool = False) -> str:
    """The one ledger query: the last `depth` records of each of `environments` environments
    ($env0, $env1, ...) and of all of them (`recent`); with `tag` ($tag) or else `commit` ($commit)
    that commit's facts (and its statuses and check runs with `contexts`); with `gate` ($gate) the
    gate environment's rules; with `run` ($runUrl) the run's deployment reviews; with
    `probe_mutation` whether the schema shows the status mutation."""
    declared = ["$owner: String!", "$name: String!"]
    parts = []
    for i in range(environments):
        declared.append(f"$env{i}: [String!]")
        parts.append(f"e{i}: deployments(environments: $env{i}, last: {depth}) {{ pageInfo {{ hasPreviousPage }} "
                     "nodes { ...ledgerRecord } }")
    if environments:  # the latest of all environments: records a status moved away still count at home
        parts.append(f"recent: deployments(last: {depth}) {{ nodes {{ ...ledgerRecord }} }}")
    facts = "...commitFacts " + (CONTEXT_FIELDS if contexts else "")
    fragments = [DEPLOYMENT_FIELDS] if environments else []
    if tag:
        declared.append("$tag: String!")
        parts.append("tag: ref(qualifiedName: $tag) { target { __typename oid ... on Tag { message target { "
                     f"__typename oid ... on Commit {{ {facts} }} }} }} ... on Commit {{ {facts} }} }} }}")
        fragments.append(COMMIT_FIELDS)
    elif commit:
        declared.append("$commit: GitObjectID!")
        parts.append(f"commit: object(oid: $commit) {{ __typename ... on Commit {{ {facts} }} }}")
        fragments.append(COMMIT_FIELDS)
    if gate:
        declared.append("$gate: String!")
        parts.append(GATE_FIELDS)
    top = ""
    if run:
        declared.append("$runUrl: URI!")
        top = RUN_REVIEWS
    if probe_mutation:
        top += STATUS_MUTATION_PROBE
    return (f"query cdhelperLedger({', '.join(declared)}) {{ repository(owner: $owner, name: $name) {{ "
            + " ".join(parts) + f" }} {top} }}\n" + "\n".join(fragments))


def run_times(runs: int) -> str:
    """When GitHub created each of `runs` workflow runs: $u0, $u1, ... their URLs, r0, r1, ... the answers."""
    declared = ", ".join(f"$u{i}: URI!" for i in range(runs))
    fields = " ".join(f"r{i}: resource(url: $u{i}) {{ {RUN_FIELDS} }}" for i in range(runs))
    return f"query cdhelperRunTimes({declared}) {{ {fields} }}"
