"""What the doctor reports: findings, and the catalogue of rules they come from (id -> severity and
why it matters). docs/doctor.md explains each rule; a test keeps the two in step."""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Rule:
    severity: str
    why: str
    # Where the rule's fix is pasted (docs/doctor.md, "Where a fix goes"): "jobs" (whole jobs, under `jobs:`),
    # "job" (keys of the finding's job), "with" (inputs of the step, or reusable call, at the finding's line),
    # "cd.yml" (keys of .github/cd.yml), "expression" (the compared value), "settings", "" (a YAML error)
    fix_at: str = "job"


RULES: dict[str, Rule] = {
    "yaml-syntax": Rule(ERROR, "GitHub refuses a workflow it cannot parse: nothing in it runs", ""),
    "gate-skip-blocks-production": Rule(
        ERROR, "in deployment mode the gate job is skipped, and a job that needs a skipped job (directly or "
        "further up) is skipped too unless its `if:` holds a status function; the run still goes green and nothing "
        "reaches production"),
    "gate-not-needed": Rule(
        ERROR, "in delivery mode a gated promotion needs this run's approval of the gate environment; with no gate "
        "job upstream nobody is asked, and the promotion is refused (fail-closed) after the run started"),
    "deployment-record-duplicate": Rule(
        WARNING, "a job bound to an environment makes GitHub create its own deployment record besides the one cdhelper "
        "writes: two records per promotion on the deployments page, one of them never carrying the artifact's digest "
        "(cdhelper ignores it; GitHub Enterprise Server lacks the key: there cdhelper removes GitHub's record itself)"),
    "finish-missing": Rule(
        WARNING, "a cancelled or killed promotion leaves its deployment record queued or in progress until the "
        "hourly sweep closes it; meanwhile the environment looks busy with a candidate that is not running", "jobs"),
    "permissions-missing": Rule(
        ERROR, "without `permissions:` the job token gets the repository's default permissions: read-only in newer "
        "repositories (cdhelper then fails with exit 3) or write to everything in older ones"),
    "permissions-insufficient": Rule(
        ERROR, "the job token lacks a permission cdhelper needs here, so the step fails with exit 3 (a called "
        "workflow whose jobs ask for more than the caller grants does not start at all)"),
    "permissions-too-broad": Rule(
        WARNING, "write scopes no step of the job needs widen what a compromised step or dependency can do with the "
        "job token"),
    "code-with-write-token": Rule(
        ERROR, "a step that runs repository code (a `run:` step, a local action, promote's deploy command, hooks and "
        "analyses) runs with the job's token: whoever pushes a change to that code can write with it (tags, records, "
        "releases), and a step that can gain root (sudo on GitHub-hosted runners) reads the token from memory"),
    "code-with-packages-write": Rule(
        WARNING, "a step that runs repository code can push packages with the job's token; pushing images from the "
        "build is common, but the registry then trusts whatever that code pushes"),
    "code-with-write-token-self-hosted": Rule(
        WARNING, "the single-job layout is allowed on a self-hosted runner where no step can gain root: cdhelper "
        "keeps the token out of every user command's environment, but a step that can gain root reads it from memory"),
    "deploy-without-open": Rule(
        ERROR, "promote `phase: deploy` deploys what the open phase checked (gate, evidence, digest) and recorded; "
        "with no open job upstream it has no handoff and fails, or deploys a handoff no check produced for it", "jobs"),
    "environment-not-in-path": Rule(
        ERROR, "cdhelper promotes only to environments of the promotion path in .github/cd.yml (default staging -> "
        "production) and refuses any other name with exit 2", "with"),
    "gate-environment-mismatch": Rule(
        ERROR, "the gate environment the workflow names and the one .github/cd.yml names differ, so every gated "
        "promotion is refused (exit 2): cd.yml may only repeat the workflow's gate", "with"),
    "gate-job-environment": Rule(
        ERROR, "the gate job is what GitHub holds for the reviewers; bound to no environment, or to another one, it "
        "runs at once and the production promotion finds no approval of the gate environment"),
    "gate-condition": Rule(
        ERROR, "the gate job must run exactly when the mode is not deployment (unset means delivery): otherwise "
        "delivery runs skip the human gate, or deployment runs wait for a reviewer"),
    "cd-mode-value": Rule(
        ERROR, "CD_MODE is only ever 'delivery', 'deployment' or unset; a comparison with any other value is always "
        "false or always true, so that branch of the workflow never (or always) runs", "expression"),
    "concurrency-missing": Rule(
        WARNING, "two runs may then deploy to the same environment at once; cdhelper stops the older candidate, but "
        "only after both jobs started (a job-level group per environment queues them instead)"),
    "concurrency-group-split": Rule(
        WARNING, "jobs that deploy to the same environment under different concurrency groups do not queue behind "
        "each other: two deploy commands may run at once (cdhelper stops the older candidate, but only after both "
        "started)"),
    "gate-job-name": Rule(
        ERROR, "a promotion's `gate-job` input names the gate job as GitHub shows it; when a re-run holds both an "
        "approval and a rejection, the approval counts only if that job succeeded in this attempt: a name that matches "
        "no job refuses the promotion (fail-closed)", "with"),
    "concurrency-cancel-in-progress": Rule(
        WARNING, "`cancel-in-progress: true` kills a deployment half-way when a newer run starts, leaving the "
        "environment between two versions"),
    "gate-reviewers-missing": Rule(
        ERROR, "a gate environment without required reviewers lets the gate job run at once: in delivery mode every "
        "production promotion is then refused (fail-closed)", "settings"),
    "gate-self-review-allowed": Rule(
        ERROR, "without prevent self-review whoever pushed can approve their own change; cdhelper refuses such a "
        "gate in delivery mode", "settings"),
    "soak-wait-timer-missing": Rule(
        ERROR, "a `pause: hold` lasts as long as the soak environment's wait timer; without one GitHub would start the "
        "resume at once, so the promotion is refused before anything is written", "settings"),
    "environment-missing": Rule(
        ERROR, "GitHub creates an environment a job names on first use, with no protection rules and no secrets: "
        "the deploy runs unprotected (or the gate asks nobody)", "settings"),
    "cd-mode-unknown": Rule(
        ERROR, "any CD_MODE other than delivery, deployment or unset fails every run before anything is written", "settings"),
}


@dataclass(frozen=True)
class Finding:
    rule: str
    file: str | None  # None for a repository setting
    line: int | None
    message: str
    fix: str
    job: str | None = None
    fix_at: str = ""  # where this fix is pasted, when not where the rule's fixes go (Rule.fix_at)

    def __post_init__(self):
        if not self.fix_at:
            object.__setattr__(self, "fix_at", RULES[self.rule].fix_at)

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity

    @property
    def why(self) -> str:
        return RULES[self.rule].why

    @property
    def where(self) -> str:
        if self.file is None:
            return "repository settings"
        return f"{self.file}:{self.line}"

    def as_json(self) -> dict:
        out = asdict(self)
        out.update(severity=self.severity, why=self.why)
        return out
