"""`cdhelper rehearse`: a whole pipeline under act against a fresh GitHub double (cdhelper/rehearsal/)."""

from __future__ import annotations

from .. import edge


def register(sub) -> dict:
    p = sub.add_parser("rehearse", help="run the template pipeline under act against a fresh GitHub double")
    p.add_argument("--mode", default="delivery", choices=["delivery", "deployment"],
                   help="CD_MODE of the rehearsed run: delivery waits for the simulated reviewer, deployment does not")
    p.add_argument("--json", action="store_true", help="print the outcome (jobs, records, requests) as JSON")
    p.add_argument("--reject", action="store_true", help="the simulated reviewer rejects instead of approving "
                   "(exit 0 when production then stays untouched, as it should)")
    p.add_argument("--keep", action="store_true", help="keep the rehearsal's working directory")
    p.add_argument("--variant", action="append", default=[], metavar="NAME[:SETTING]",
                   help="rehearse against the double emulating this GitHub behaviour (repeatable; see github-double)")
    p.add_argument("--scenario", choices=["canary", "canary-rollback", "blue-green"],
                   help="rehearse progressive delivery: production on a real nginx + Prometheus, several releases "
                        "(needs nginx, prometheus and prometheus_client; docs/progressive-delivery.md)")
    return {"rehearse": run}


def run(args, io) -> int:
    if args.scenario:
        from ..errors import InputError
        if args.reject or args.variant:
            raise InputError(f"--scenario {args.scenario} cannot be combined with --reject or --variant",
                             "a scenario fixes its own reviews and GitHub", "drop those options")
        from ..rehearsal import scenarios
        return scenarios.run(args.scenario, mode=args.mode, as_json=args.json, keep=args.keep, io=io)
    from ..rehearsal import rehearse
    return rehearse(mode=args.mode, as_json=args.json, reject=args.reject, keep=args.keep, io=io,
                    variants=edge.variants(args.variant))
