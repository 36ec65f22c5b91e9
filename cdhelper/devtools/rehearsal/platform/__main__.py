"""The sample platform's command line.

    python -m cdhelper.devtools.rehearsal.platform up --platform DIR        # run a platform in the foreground
    python -m cdhelper.devtools.rehearsal.platform ctl --platform DIR COMMAND ...
    python -m cdhelper.devtools.rehearsal.platform missing                  # what is not installed (exit 1 if any)

ctl commands (each prints a one-line summary on stderr and its JSON result on stdout; exit 0 done,
1 refused or failed, 2 usage, 3 no platform running there):

    deploy   --version V [--slot blue|green] [--error-rate R] [--latency S] [--replace] [--flags FILE.flagd.json]
    weight   --percent W [--version V]
    switch   --slot S
    teardown --version V | --slot S [--force]
    status
    remove                                               # stop everything of the app, forget it
    requests [--since UNIX_TIME] [--route live|slot|version|any]
    load     --rate R                                    # 0 stops it
    configure [--bad-versions "V1 V2"] [--bad-error-rate R]

--platform defaults to $CDHELPER_PLATFORM, --app to $CDHELPER_PLATFORM_APP, else "app". A deploy
without --error-rate serves errors (at the platform's bad error rate) when its version is named in
the supervisor's bad versions or in this command's $CDHELPER_PLATFORM_BAD_VERSIONS. A deploy without
--latency answers as fast as it can, unless $CDHELPER_PLATFORM_LATENCY names its version
("0.1.1=0.05 0.1.3=0.065": seconds added to each answer).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from . import control
from .common import PlatformError
from .supervisor import parse_latencies, parse_versions, serve


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    parser.add_argument("--platform", default=default(os.environ.get("CDHELPER_PLATFORM", "")),
                        help="the platform folder (default: $CDHELPER_PLATFORM)")
    parser.add_argument("--app", default=default(os.environ.get("CDHELPER_PLATFORM_APP") or "app"),
                        help="the app (default: $CDHELPER_PLATFORM_APP, else app)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cdhelper.devtools.rehearsal.platform",
                                description="The sample platform of cdhelper's rehearsal.")
    sub = p.add_subparsers(dest="what", required=True)

    up = sub.add_parser("up", help="run a platform in the foreground until interrupted")
    up.add_argument("--platform", required=True)
    up.add_argument("--bad-versions", default=os.environ.get("CDHELPER_PLATFORM_BAD_VERSIONS", ""))
    up.add_argument("--bad-error-rate", type=float, default=0.5)
    up.add_argument("--scrape-interval", type=float, default=1.0)

    sup = sub.add_parser("supervise", help=argparse.SUPPRESS)  # started by Platform.start
    sup.add_argument("--platform", required=True)
    sup.add_argument("--owner", type=int, default=0)
    sup.add_argument("--bad-versions", default="")
    sup.add_argument("--bad-error-rate", type=float, default=0.5)
    sup.add_argument("--scrape-interval", type=float, default=1.0)
    sup.add_argument("--no-wait-discovery", action="store_true")

    sub.add_parser("missing", help="say what the platform needs and is not installed")

    ctl = sub.add_parser("ctl", help="control a running platform")
    _common(ctl, suppress=False)
    cmds = ctl.add_subparsers(dest="command", required=True)
    deploy = cmds.add_parser("deploy", help="start a version (beside the others, or in a slot)")
    deploy.add_argument("--version", required=True)
    deploy.add_argument("--slot", choices=("blue", "green"), default="")
    deploy.add_argument("--error-rate", type=float, default=None, help="share of requests answered 500 (0..1)")
    deploy.add_argument("--latency", type=float, default=None, help="seconds added to each answer (0..10)")
    deploy.add_argument("--replace", action="store_true", help="take all the traffic and stop the other versions")
    deploy.add_argument("--flags", default="", help="a flagd JSON flag file the service evaluates (the hook's CD_FLAGS)")
    deploy.add_argument("--wait-scraped", action="store_true",
                        help="return once Prometheus holds the new instance's metrics (about one scrape interval)")
    weight = cmds.add_parser("weight", help="send a share of the live traffic to a version (default: the canary)")
    weight.add_argument("--percent", type=int, required=True)
    weight.add_argument("--version", default="")
    switch = cmds.add_parser("switch", help="make a slot live")
    switch.add_argument("--slot", choices=("blue", "green"), required=True)
    teardown = cmds.add_parser("teardown", help="stop a version or a slot (not while it serves, unless --force)")
    what = teardown.add_mutually_exclusive_group(required=True)
    what.add_argument("--version", default="")
    what.add_argument("--slot", choices=("blue", "green"), default="")
    teardown.add_argument("--force", action="store_true")
    cmds.add_parser("status", help="versions, slots, weights, ports (JSON)")
    cmds.add_parser("remove", help="stop everything of the app and forget it")
    requests = cmds.add_parser("requests", help="requests answered per version (from nginx's access log)")
    requests.add_argument("--since", type=float, default=None, help="Unix time: only requests started since")
    requests.add_argument("--route", choices=("live", "slot", "version", "any"), default="live")
    load = cmds.add_parser("load", help="a steady load on the app, sent by the supervisor (rate 0 stops it)")
    load.add_argument("--rate", type=float, required=True)
    configure = cmds.add_parser("configure", help="which versions are bad, and how bad")
    configure.add_argument("--bad-versions", default=None)
    configure.add_argument("--bad-error-rate", type=float, default=None)
    for sp in (deploy, weight, switch, teardown, requests, load, configure, cmds.choices["status"], cmds.choices["remove"]):
        _common(sp, suppress=True)
    return p


def _summary(command: str, args: argparse.Namespace, result: dict) -> str:
    app = result.get("app", args.app)
    if command in ("deploy", "weight", "switch", "teardown"):
        traffic = (", ".join(f"{v} {w}%" for v, w in result.get("weights", {}).items())
                   if result.get("mode") == "versions" else f"live slot {result.get('live') or 'none'}")
        if command == "deploy":
            verb = f"deployed {args.version}" + (f" to {args.slot}" if args.slot else "")
        elif command == "weight":
            verb = f"weight {args.percent}%" + (f" to {args.version}" if args.version else "")
        elif command == "switch":
            verb = f"switched to {args.slot}"
        else:
            verb = f"tore down {args.version or args.slot}"
        took = f" in {result['seconds']}s" if "seconds" in result else ""
        return f"platform {app}: {verb}{'' if result.get('changed', True) else ' (already so)'}{took}; traffic: {traffic or 'none'}"
    return f"platform {command}: done"


def ctl(args: argparse.Namespace) -> int:
    if not args.platform:
        print("ctl: no platform: pass --platform DIR or set CDHELPER_PLATFORM", file=sys.stderr)
        return 2
    command = args.command
    try:
        if command == "requests":
            from .splitter import requests_per_version
            url = control.request(args.platform, "status", timeout=10)["url"]  # a platform runs there
            result = requests_per_version(Path(args.platform) / "nginx" / "access.log", app=args.app, since=args.since,
                                          route=None if args.route == "any" else args.route, url=url)
        else:
            payload: dict = {"app": args.app}
            if command == "deploy":
                payload |= {"version": args.version, "slot": args.slot, "error_rate": args.error_rate,
                            "replace": args.replace, "flags": str(Path(args.flags).resolve()) if args.flags else "",
                            "bad_versions": parse_versions(os.environ.get("CDHELPER_PLATFORM_BAD_VERSIONS", "")),
                            "latency": args.latency,
                            "latencies": parse_latencies(os.environ.get("CDHELPER_PLATFORM_LATENCY", ""))}
            elif command == "weight":
                payload |= {"percent": args.percent, "version": args.version}
            elif command == "switch":
                payload |= {"slot": args.slot}
            elif command == "teardown":
                payload |= {"version": args.version, "slot": args.slot, "force": args.force}
            elif command == "load":
                payload |= {"rate": args.rate}
            elif command == "configure":
                payload = {"bad_versions": None if args.bad_versions is None else parse_versions(args.bad_versions),
                           "bad_error_rate": args.bad_error_rate}
            elif command == "status":
                payload = {}
            result = control.request(args.platform, command, **payload)
            if command == "deploy" and args.wait_scraped:
                result["scraped_after_s"] = _wait_scraped(args.platform, result, args.version, args.slot)
    except control.NotRunning as exc:
        print(f"ctl {command}: {exc}", file=sys.stderr)
        return 3
    except PlatformError as exc:
        print(f"ctl {command}: {exc}", file=sys.stderr)
        return 1
    print(_summary(command, args, result), file=sys.stderr)
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


def _wait_scraped(directory: str, result: dict, version: str, slot: str) -> float:
    from . import prometheus
    from .supervisor import STATE
    url = json.loads((Path(directory) / STATE).read_text())["prometheus"]
    for i in result["instances"]:
        if i["version"] == version and i["slot"] == slot:
            return round(prometheus.wait_scraped(url, f"127.0.0.1:{i['port']}", app=result["app"], version=version), 3)
    raise PlatformError(f"{version} is not running after its deploy")


def up(args: argparse.Namespace) -> int:
    from .api import Platform
    platform = Platform(args.platform, bad_versions=parse_versions(args.bad_versions),
                        bad_error_rate=args.bad_error_rate, scrape_interval=args.scrape_interval)
    try:
        platform.start()
    except PlatformError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"platform up in {platform.timings['start_s']}s: splitter {platform.url}, Prometheus {platform.prometheus_url}\n"
          f"control it with: {platform.ctl} deploy --app APP --version V   (Ctrl-C stops it)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5) and platform.running:
            pass
    except KeyboardInterrupt:
        pass
    platform.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.what == "supervise":
        return serve(args)
    if args.what == "up":
        return up(args)
    if args.what == "missing":
        from .api import missing
        lacking = missing()
        for line in lacking:
            print(line)
        return 1 if lacking else 0
    return ctl(args)


if __name__ == "__main__":
    sys.exit(main())
