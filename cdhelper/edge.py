"""The edge shared by every command family: action inputs, the secrets, the run context, cd.yml and
the GitHub client, each read once here and handed on as frozen objects (domain code never reads the
environment and never builds a client)."""

from __future__ import annotations

import os


def input_value(name: str, default: str = "") -> str:
    return os.environ.get(f"INPUT_{name.upper().replace('-', '_')}", default)


def boolean(raw: str, name: str) -> bool:
    from .errors import InputError
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


def secrets(io):
    from . import credentials
    from .errors import InputError
    try:
        found = credentials.load(os.environ)
    except credentials.CredentialsError as err:
        what, _, fix = str(err).partition(". Fix: ")
        raise InputError("the secrets handed to cdhelper could not be read", what, fix or "re-run the job") from None
    io.mask(found.github_token)
    io.mask(found.registry_password)
    return found


def context(args, io):
    from .context import RunContext
    token = secrets(io).github_token
    writers = getattr(args, "trusted_writer", None) or lines(input_value("trusted-writers"))
    return RunContext.from_environ(dict(os.environ), token=token, repository=args.repository, writers=writers)


def config(args, ctx):
    from . import config
    # Only the commands that decide on the gate hold the workflow's gate environment to check cd.yml against.
    return config.load(args.config, workspace=ctx.workspace if ctx else ".",
                       gate_environment=getattr(args, "gate_environment", None))


def client(ctx):
    from .errors import InputError
    from .github_api import GitHubClient
    raw = os.environ.get("CDHELPER_BACKOFF", "0.25")
    try:
        backoff = float(raw)
    except ValueError:
        backoff = -1.0
    if not 0 <= backoff <= 60:  # NaN fails here too
        raise InputError(f"CDHELPER_BACKOFF={raw[:40]!r} is not a delay between 0 and 60 seconds",
                         "it is the first retry delay in seconds", "unset it or set e.g. 0.25") from None
    return GitHubClient(ctx, backoff=backoff)


def variants(specs: list[str]) -> list[str]:
    from .double import variants
    from .errors import InputError
    try:
        variants.parse(specs)
    except ValueError as err:
        raise InputError(f"--variant {' '.join(specs)[:80]!r} is not usable", str(err),
                         "pick from the list in cdhelper github-double --help") from None
    return specs


def notification_targets(io):
    """The webhooks (notify.py), read at the start so bad input fails before anything is deployed;
    every URL and the secret are masked at once."""
    from . import notify
    found = secrets(io)
    targets = notify.targets_from({**os.environ, "INPUT_NOTIFY_WEBHOOKS": found.notify_webhooks,
                                   "INPUT_NOTIFY_SECRET": found.notify_secret})
    for value in notify.secret_values(targets):
        io.mask(value)
    return targets


def announce(io, targets, event) -> None:
    """Tell the webhooks; a failed delivery is a warning and a line in the summary, never the step's failure."""
    if not targets:
        return
    from . import notify
    deliveries = notify.send(event, targets, deadline_s=notify.deadline_from(os.environ))
    for delivery in deliveries:
        if not delivery.ok:
            io.warning(delivery.describe(), title="Notification not delivered")
    io.append_summary(notify.summary_lines(deliveries))
