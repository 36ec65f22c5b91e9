"""The edge shared by every command family: action inputs, the secrets, the run context, cd.yml and
the GitHub client, each read once here and handed on as frozen objects (domain code never reads the
environment and never builds a client)."""

from __future__ import annotations

import json
import os
from argparse import ArgumentParser, RawDescriptionHelpFormatter

from cdhelper.core.errors import InputError

# Imported when run, inside the functions below: keeps --help fast (cdhelper.deploy.cd_yml loads
# jsonschema and yaml, cdhelper.github.client PyGithub and requests, cdhelper.notify requests).

ENVIRONMENT = """environment (the runner sets these inside GitHub Actions; to run by hand, see docs/cli.md):
  GITHUB_TOKEN          the token (also INPUT_GITHUB_TOKEN, the actions' github-token input, or GH_TOKEN);
                        never printed, never passed to your commands
  GITHUB_REPOSITORY     OWNER/NAME (or --repository)
  GITHUB_API_URL        REST API root (default https://api.github.com; GHES: https://HOST/api/v3)
  GITHUB_GRAPHQL_URL    GraphQL endpoint (default: derived from GITHUB_API_URL)
  GITHUB_SERVER_URL     links to runs (default https://github.com)
  GITHUB_SHA            the commit released and deployed
  GITHUB_REF            the ref the run is for
  GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT, GITHUB_RUN_NUMBER
                        the run: its approvals, its records, the default version BASE.RUN_NUMBER
  GITHUB_ACTOR, GITHUB_TRIGGERING_ACTOR
                        who started and who re-ran the run: neither may approve it
  GITHUB_REPOSITORY_ID  tells this repository's records from others'
  GITHUB_WORKSPACE      where .github/cd.yml is read (default: the current directory)
  RUNNER_TEMP           scratch space (default /tmp)
  GITHUB_ACTIONS, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY
                        inside Actions: annotations, step outputs, the job summary
  INPUT_<NAME>          an action input; each option's default (e.g. INPUT_ENVIRONMENT)
  INPUT_REGISTRY_USERNAME, INPUT_REGISTRY_PASSWORD
                        registry credentials for image tags (the password is a secret, like the token)
  CDHELPER_BACKOFF      first retry delay in seconds (default 0.25)
  CDHELPER_DEBUG        1: print the traceback of an internal error (exit 70)
"""


class Parser(ArgumentParser):
    """argparse, but a refused command line is cdhelper's one-line InputError (mapped to exit 2 with
    every other error in cli.main.failed), never a usage dump and never SystemExit. Subparsers inherit it."""

    def error(self, message: str):
        shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in message)
        if len(shown) > 300:  # argparse quotes unknown arguments whole
            shown = f"{shown[:300]}… ({len(shown)} characters)"
        raise InputError(f"{self.prog}: {shown}", "the command line is not one this command accepts",
                         f"see `{self.prog} --help`")


def config_options(p, *, github: bool = True) -> None:
    """--config; for a command that talks to GitHub also --repository, and the variables it reads in --help."""
    if github:
        p.epilog, p.formatter_class = ENVIRONMENT, RawDescriptionHelpFormatter
    p.add_argument("--config", default=input_value("config") or None, help="path of cd.yml (default .github/cd.yml)")
    if github:
        p.add_argument("--repository", default=input_value("repository"), help="OWNER/NAME (default $GITHUB_REPOSITORY)")


GATE_JOB = "Approval (delivery mode)"  # the templates' name of the gate job


def environment_default(name: str, *, in_actions: str | None = "") -> str | None:
    """The default of --gate-environment and --soak-environment (docs/cli.md, "The gate and soak
    environments"): the action input NAME; else, in Actions, `in_actions` ("": the built-in name, for there
    the workflow names them; None for the commands that take cd.yml's anyway); else, run by hand, None:
    .github/cd.yml's name, else the built-in one (environment_name)."""
    return input_value(name) or (in_actions if os.environ.get("GITHUB_ACTIONS") == "true" else None)


def environment_name(value: str | None, *, cd_yml: str, builtin: str) -> str:
    """The gate or soak environment: the flag or input (`value`; empty: the built-in), else cd.yml's, else
    the built-in name. (cd.yml's gate is taken in config.load by the same rule: it checks the file against it.)"""
    return (cd_yml if value is None else value).strip() or builtin


def named_by(name: str) -> str:
    """How the user gives the value NAME, for an error's fix: the action input in Actions (as `required`
    tells them apart), else the flag."""
    return f"the `{name}` input" if from_action(name) else f"--{name}"


def soak_option(p, *, help: str) -> None:  # noqa: A002 - argparse's name
    """--soak-environment: whose wait timer holds the job that resumes a `pause: hold`."""
    p.add_argument("--soak-environment", default=environment_default("soak-environment"),
                   help=help + " (default: input soak-environment; by hand the environment's soak-environment in "
                        ".github/cd.yml; else production-soak)")


def gate_options(p, *, job: bool = True, unset: str | None = "") -> None:
    """--gate-environment (and --gate-job): the workflow's gate, which cd.yml may only repeat. `unset`
    is the default in Actions when the input is empty: None for the commands that then take cd.yml's."""
    p.add_argument("--gate-environment", default=environment_default("gate-environment", in_actions=unset),
                   help="the approval environment the workflow's gate job is bound to (default: input "
                        "gate-environment; by hand .github/cd.yml's gate.environment; else production-approval); "
                        "gate.environment, if set, must repeat it")
    if job:
        p.add_argument("--gate-job", default=input_value("gate-job") or GATE_JOB,
                       help="the gate job's name as GitHub shows it: tells an approval in this attempt of a re-run "
                            "from a rejection in another (default: the templates' name)")


def mode_option(p, *, help: str = "delivery (default, also when empty) or deployment; pass vars.CD_MODE",  # noqa: A002 - argparse's name
                unset: str | None = "") -> None:
    """--mode, CD_MODE (input mode). `unset` is the default when the input is absent."""
    p.add_argument("--mode", default=input_value("mode", unset), help=help)


PHASES = ("all", "open", "deploy", "close")


def phase_options(p, *, what: str) -> None:
    """The split layout's phases (docs/rehearse.md, "Where repository code runs"): promote and flags set."""
    p.add_argument("--phase", default=input_value("phase") or "all",
                   help=f"all: {what} in this job (the single-job layout: only where no step can gain root); open: "
                        "check and open the record, run nothing of the repository; deploy: run the user commands "
                        "for the record the open job made, write nothing to GitHub; close: post what the deploy "
                        "job reported and end the record from its result (input phase)")
    p.add_argument("--handoff", default=input_value("handoff"),
                   help="deploy and close phases: the open job's `handoff` output, unchanged")
    p.add_argument("--job-result", default=input_value("job-result"),
                   help="close phase: GitHub's result of the deploy job (needs.<job>.result)")
    p.add_argument("--report", default=input_value("report"),
                   help="close phase: the deploy job's `report` output (untrusted: labelled as reported)")


def phase(args) -> str:
    """The phase asked for, checked here: from INPUT_PHASE, which argparse's choices do not see."""
    if args.phase not in PHASES:
        raise InputError(f"phase {args.phase[:40]!r} is not a phase", f"it is one of {', '.join(PHASES)}",
                         "use all (one job), or open, deploy and close in the split layout (docs/rehearse.md)")
    return args.phase


def trusted_writer_option(p) -> None:
    """--trusted-writer: besides the Actions bot, whose deployment records and statuses count."""
    p.add_argument("--trusted-writer", action="append", default=None, metavar="LOGIN",
                   help="besides the Actions bot, a login whose deployment records and statuses count "
                        "(e.g. your App's NAME[bot]); repeatable (input trusted-writers, one per line)")


def emit(io, args, data: dict, text: str) -> int:
    """A command's result: the `json` step output, and on stdout as JSON (--json) or as text."""
    io.set_output("json", json.dumps(data))
    if args.json:
        io.out_json(data)
    else:
        io.out(text)
    return 0


def input_value(name: str, default: str | None = "") -> str | None:
    return os.environ.get(_input_variable(name), default)


def _input_variable(name: str) -> str:
    return f"INPUT_{name.upper().replace('-', '_')}"


def from_action(name: str) -> bool:
    """Whether the input NAME reached cdhelper from an action step (in Actions, with INPUT_NAME set by
    the composite action's `env:`), rather than as a flag typed by hand: errors name what was used."""
    return os.environ.get("GITHUB_ACTIONS") == "true" and _input_variable(name) in os.environ


def required(value: str | None, flag: str, *, why: str, example: str, input_name: str = "") -> str:
    """A value the command cannot do without: missing, empty or blank is the one-line InputError,
    naming the action input (`input_name`) when it came from an action step, else the flag."""
    if value and value.strip():
        return value
    if input_name and from_action(input_name):
        raise InputError(f"the `{input_name}` input is empty", why,
                         f"set `{input_name}:` in the step's `with:` (e.g. {input_name}: {example})")
    raise InputError(f"{flag} is missing or empty", why, f"pass {flag} {example}")


def boolean(raw: str, name: str) -> bool:
    value = (raw or "").strip().lower()
    if value in {"", "false", "0", "no"}:
        return False
    if value in {"true", "1", "yes"}:
        return True
    raise InputError(f"input {name}={raw!r} is not a boolean", "booleans are 'true' or 'false'",
                     f"set {name} to 'true' or 'false'")


def lines(raw: str) -> list[str]:
    """Multi-line or whitespace-separated action inputs -> list."""
    return [part for part in (raw or "").split() if part]


def _credentials():
    from cdhelper._boot import credentials  # imported when a command runs: keeps --help fast
    try:
        return credentials.load(os.environ)
    except credentials.CredentialsError as err:
        what, _, fix = str(err).partition(". Fix: ")
        raise InputError("the secrets handed to cdhelper could not be read", what, fix or "re-run the job") from None


def read_secrets(io):
    """The secrets handed over at start (credentials.py), each masked in the log."""
    found = _credentials()
    io.mask(found.github_token)
    io.mask(found.registry_password)
    return found


def run_context(args, io):
    """This run (RunContext): the environment, the token, --repository and the trusted writers."""
    from cdhelper.core.context import RunContext  # imported when run: keeps --help fast
    token = read_secrets(io).github_token
    writers = getattr(args, "trusted_writer", None) or lines(input_value("trusted-writers"))
    return RunContext.from_environ(dict(os.environ), token=token, repository=args.repository, writers=writers)


def load_config(args, ctx):
    """.github/cd.yml (or --config), checked against the workflow's gate environment, with every
    section parsed (deploy/cd_yml.py)."""
    from cdhelper.deploy import cd_yml
    # Only the commands that decide on the gate hold the workflow's gate environment to check cd.yml against.
    return cd_yml.load(args.config, workspace=ctx.workspace if ctx else ".",
                       gate_environment=getattr(args, "gate_environment", None),
                       gate_by_hand=not from_action("gate-environment"))


def github_client(ctx):
    """The GitHub client for this run, with the first retry delay of CDHELPER_BACKOFF."""
    from cdhelper.github.client import GitHubClient
    raw = os.environ.get("CDHELPER_BACKOFF", "0.25")
    try:
        backoff = float(raw)
    except ValueError:
        backoff = -1.0
    if not 0 <= backoff <= 60:  # NaN fails here too
        raise InputError(f"CDHELPER_BACKOFF={raw[:40]!r} is not a delay between 0 and 60 seconds",
                         "it is the first retry delay in seconds", "unset it or set e.g. 0.25") from None
    return GitHubClient(ctx, backoff=backoff)


def notification_targets(io):
    """The webhooks (notify.py), read at the start so bad input fails before anything is deployed;
    every URL and the secret are masked at once."""
    from cdhelper import notify
    found = _credentials()  # the token was masked when the context was read; the webhooks are masked below
    targets = notify.targets_from({**os.environ, "INPUT_NOTIFY_WEBHOOKS": found.notify_webhooks,
                                   "INPUT_NOTIFY_SECRET": found.notify_secret})
    for value in notify.secret_values(targets):
        io.mask(value)
    return targets


def event(ctx, kind: str, *, environment: str, version: str = "", **facts):
    """A notification (notify.Event) about this run of this repository."""
    from cdhelper.notify import Event
    return Event(kind=kind, repository=ctx.repository, environment=environment, version=version,
                 run_url=ctx.run_url if ctx.run_id else "", **facts)


def announce(io, targets, event) -> None:
    """Tell the webhooks; a failed delivery is a warning and a line in the summary, never the step's failure."""
    if not targets:
        return
    from cdhelper import notify
    deliveries = notify.send(event, targets, deadline_s=notify.deadline_from(os.environ))
    for delivery in deliveries:
        if not delivery.ok:
            io.warning(delivery.describe(), title="Notification not delivered")
    io.append_summary(notify.summary_lines(deliveries))
