"""`cdhelper rehearse`: a whole pipeline under act against a fresh GitHub double (cdhelper/devtools/rehearsal/).
Without --workflow, the template pipeline; with it, the user's own workflow from their checkout."""

from __future__ import annotations

import os
from pathlib import Path

from cdhelper.cli.commands.devtools import checked_variants
from cdhelper.core.errors import InputError


def register(sub) -> dict:
    p = sub.add_parser("rehearse", help="run the template pipeline, or your own workflow (--workflow), under act "
                                        "against a fresh GitHub double")
    p.add_argument("--mode", default="delivery", choices=["delivery", "deployment"],
                   help="CD_MODE of the rehearsed run: delivery waits for the simulated reviewer, deployment does not")
    p.add_argument("--json", action="store_true", help="print the outcome (jobs, records, requests) as JSON")
    p.add_argument("--approve", dest="reject", action="store_false", default=False,
                   help="the simulated reviewer approves (the default)")
    p.add_argument("--reject", action="store_true", help="the simulated reviewer rejects instead of approving "
                   "(exit 0 when production then stays untouched, as it should)")
    p.add_argument("--keep", action="store_true", help="keep the rehearsal's working directory")
    p.add_argument("--variant", action="append", default=[], metavar="NAME[:SETTING]",
                   help="rehearse against the double emulating this GitHub behaviour (repeatable; see github-double)")
    p.add_argument("--scenario", choices=["canary", "canary-rollback", "blue-green", "canary-judge", "flag-flip"],
                   help="rehearse progressive delivery: production on a real nginx + Prometheus, several releases; "
                        "canary-judge: a canary judged against its baseline, no fixed threshold "
                        "(needs nginx, prometheus and the extra cdhelper[samples]; docs/rehearse.md)")
    own = p.add_argument_group("your own workflow (docs/rehearse.md); run from your repository's checkout")
    own.add_argument("--workflow", metavar="PATH", help="rehearse this workflow of the checkout in the current "
                     "directory, e.g. .github/workflows/ship.yml, with a double seeded from its .github/cd.yml")
    own.add_argument("--event", default="push", help="the event the run is for: push (default), workflow_dispatch, ...")
    own.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                     help="a workflow_dispatch input (with --event workflow_dispatch); the others take their defaults")
    own.add_argument("--ref", default="main", metavar="BRANCH",
                     help="the branch the run is for (default main): github.ref, and the workflow's branch filters")
    own.add_argument("--secret", action="append", default=[], metavar="NAME[=VALUE]",
                     help="a secret the workflow reads; NAME alone takes the value of your environment variable NAME")
    own.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                     help="a repository variable the workflow reads (CD_MODE comes from --mode)")
    own.add_argument("--runner", action="append", default=[], metavar="LABEL",
                     help="run jobs with this runs-on label on this machine too (ubuntu-*, self-hosted, linux already are)")
    own.add_argument("--action", action="append", default=[], metavar="OWNER/REPO@REF=DIR",
                     help="a local copy of a remote action the workflow uses (nothing is fetched from GitHub)")
    return {"rehearse": run}


def run(args, io) -> int:
    if args.scenario:
        if args.reject or args.variant or args.workflow:
            raise InputError(f"--scenario {args.scenario} cannot be combined with --reject, --variant or --workflow",
                             "a scenario fixes its own workflow, reviews and GitHub", "drop those options")
        from cdhelper.devtools.rehearsal import scenarios
        return scenarios.run(args.scenario, mode=args.mode, as_json=args.json, keep=args.keep, io=io)
    if args.workflow:
        from cdhelper.devtools.rehearsal.own_workflow import rehearse_own
        return rehearse_own(checkout=Path.cwd(), workflow=args.workflow, mode=args.mode, event=args.event,
                            reject=args.reject, as_json=args.json, keep=args.keep, io=io,
                            secrets=_secrets(args.secret), variables=_pairs(args.var, "--var"),
                            runners=set(args.runner), actions={k: Path(v).resolve() for k, v in
                                                               _pairs(args.action, "--action").items()},
                            variants=tuple(checked_variants(args.variant)), inputs=_pairs(args.input, "--input"),
                            ref=args.ref)
    own_only = [f"--{name}" for name in ("secret", "var", "runner", "action", "input") if getattr(args, name)]
    own_only += [f"--{name}" for name, default in (("event", "push"), ("ref", "main")) if getattr(args, name) != default]
    if own_only:
        raise InputError(f"{', '.join(own_only)} applies to your own workflow only",
                         "the template rehearsal runs the template's push", "add --workflow PATH, or drop the option")
    from cdhelper.devtools.rehearsal import rehearse
    return rehearse(mode=args.mode, as_json=args.json, reject=args.reject, keep=args.keep, io=io,
                    variants=checked_variants(args.variant))


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise InputError(f"{option} {value!r} is not NAME=VALUE", f"{option} takes a name and a value",
                             f"write it as {option} NAME=VALUE")
        out[name] = rest
    return out


def _secrets(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep:
            if name not in os.environ:
                raise InputError(f"--secret {name} names no environment variable", f"${name} is not set here",
                                 f"export {name}=... first, or pass --secret {name}=VALUE")
            rest = os.environ[name]
        out[name] = rest
    return out
