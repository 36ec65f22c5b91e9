"""`cdhelper rehearse --scenario NAME`: progressive delivery, rehearsed on real parts.

The pipeline runs under act as a team adopts it in one `uses:` (a caller workflow and the reusable
workflow; the plain rehearsal runs the template, made from the same file), but production is the sample
platform (cdhelper/devtools/rehearsal/platform): services behind a real nginx, their metrics in a real
Prometheus, steady load through the splitter. The sample app's cd.yml gives production a strategy
whose analyses ask Prometheus for the new version's error rate. A scenario is a few pipeline runs,
each a new commit; a version marked bad answers half of its requests with errors.

    canary           0.1.1 rolls out, then 0.1.2 goes 20% -> 50%, holds (the job ends: the soak job
                     waits without a runner), and the resume job takes it to 100%, analyses passing
    canary-rollback  0.1.1 rolls out, then 0.1.2 (bad) passes the lenient analysis at 20% (it allows
                     up to 90% errors), fails the strict one at 50% and is rolled back by itself
    blue-green       0.1.1 to blue, 0.1.2 to green and switched, 0.1.3 (bad) switched back; each new
                     slot is checked before the switch (the idle slot's smoke analysis)
    canary-judge     every version answers in 50 ms, but 0.1.3 in 65 ms (30% slower). Judged against
                     the stable version it runs beside (a `compare` analysis: Mann-Whitney U, no fixed
                     latency threshold anywhere), 0.1.2 (equal) passes and 0.1.3 is rolled back

Each scenario's report names the analyses it uses and prints each decision with its values.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cdhelper.core.errors import InputError

from . import AUTHOR, REPOSITORY, REVIEWER, Rehearsal

HOOKS = Path(__file__).resolve().parent / "platform" / "hooks"


def errors_query(app: str) -> str:
    """PromQL: the share of 5xx answers of the version being rolled out, on the platform's `app`."""
    return (f'sum(rate(http_requests_total{{app="{app}",version="{{{{version}}}}",code=~"5.."}}[5s])) '
            f'/ sum(rate(http_requests_total{{app="{app}",version="{{{{version}}}}"}}[5s]))')



def latency_query(app: str) -> str:
    """PromQL: the mean time to answer of the version named by `{{version}}`, on the platform's `app`."""
    return (f'sum(rate(http_request_duration_seconds_sum{{app="{app}",version="{{{{version}}}}"}}[3s])) '
            f'/ sum(rate(http_request_duration_seconds_count{{app="{app}",version="{{{{version}}}}"}}[3s]))')


# What each analysis of the scenarios' cd.yml decides, for the report (the definitions: cd_yml).
ANALYSES = {
    "errors": "the new version's share of 5xx answers at most 0.05, 4 samples 1s apart (after 1s), 2 with a value",
    "lenient": "the new version's share of 5xx answers at most 0.9 (lets a bad version through), 2 samples 1s apart",
    "smoke": "the idle slot's /healthz answers 200 naming the new version, before the switch, 2 samples",
    "latency-vs-stable": "compare: the canary's mean latency against the stable version's over the same 10s "
                         "(Mann-Whitney U at 98%, worse by more than 10% fails; no fixed threshold), 2 samples",
}


@dataclass(frozen=True)
class Scenario:
    strategy: str
    versions: tuple[tuple[str, bool], ...]  # (version made by the run, bad?)
    analyses: tuple[str, ...]  # the analyses the strategy uses, named in the report
    env_analysis: bool = False
    latency: tuple[tuple[str, float], ...] = ()  # seconds each version adds to its answers
    rolled_back: bool = False  # the last version is rolled back (the others succeed)

    def env(self, version: str, bad: bool) -> dict[str, str]:
        """The platform's settings for the run of `version`, as the sample hooks read them."""
        return {"CDHELPER_PLATFORM_BAD_VERSIONS": version if bad else "",
                "CDHELPER_PLATFORM_LATENCY": " ".join(f"{v}={t:g}" for v, t in self.latency)}


SCENARIOS = {
    "canary": Scenario("{canary: {steps: [{weight: 20, analysis: [errors]}, {weight: 50, analysis: [errors]}, "
                       # soak: act holds no job for a wait timer, so the hold soaks for a second, checked by the resume
                       "{pause: hold, soak: 1s}, {weight: 100}]}}", (("0.1.1", False), ("0.1.2", False)), ("errors",)),
    "canary-rollback": Scenario("{canary: {steps: [{weight: 20, analysis: [lenient]}, {weight: 50, analysis: [errors]}, "
                                "{weight: 100}]}}", (("0.1.1", False), ("0.1.2", True)), ("lenient", "errors"),
                                rolled_back=True),
    "blue-green": Scenario("{blue-green: {analysis: [smoke]}}", (("0.1.1", False), ("0.1.2", False), ("0.1.3", True)),
                           ("smoke", "errors"), env_analysis=True, rolled_back=True),
    "canary-judge": Scenario("{canary: {steps: [{weight: 50, analysis: [latency-vs-stable]}, {weight: 100}]}}",
                             (("0.1.1", False), ("0.1.2", False), ("0.1.3", False)), ("latency-vs-stable",),
                             latency=(("0.1.1", 0.05), ("0.1.2", 0.05), ("0.1.3", 0.065)), rolled_back=True),
    # one release, then `cdhelper flags set` turns a flag on in production: deploying is not releasing
    "flag-flip": Scenario("all-at-once", (("0.1.1", False),), ()),
}
FLAG = "new-greeting"


def flag_file(default: str) -> str:
    """The sample app's flags, in flagd's format: `new-greeting` off everywhere to start with."""
    return json.dumps({"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {FLAG: {
        "state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": default}}}, indent=2) + "\n"


def cd_yml(scenario: Scenario, prometheus: str, url: str) -> str:
    return f"""version: 1
environments:
  - name: staging
    url: https://staging.acme.example
  - name: production
    required-contexts: [pipeline / Acceptance]   # the acceptance job's check run, named as GitHub names it in a called workflow
    strategy: {scenario.strategy}
    hooks:
      deploy: '{HOOKS}/deploy.sh'
      shift-traffic: '{HOOKS}/shift-traffic.sh'
      switch: '{HOOKS}/switch.sh'
      teardown: '{HOOKS}/teardown.sh'
{"    analysis: [errors]" if scenario.env_analysis else ""}
analysis:
  errors:                  # the new version's share of 5xx answers, as Prometheus computes it
    prometheus:
      url: {prometheus}
      query: '{errors_query("production")}'
      max: 0.05
    initial-delay: 1s
    interval: 1s
    count: 4
    min-samples: 2
  lenient:
    prometheus:
      url: {prometheus}
      query: '{errors_query("production")}'
      max: 0.9
    interval: 1s
    count: 2
    min-samples: 1
  smoke:                   # the idle slot, reached on its own route before the switch
    http:
      url: '{url}/production/_slot/{{{{slot}}}}/healthz'
      version: header:X-Version
    interval: 1s
    count: 2
  latency-vs-stable:       # the canary against the version it runs beside: no latency threshold
    compare:
      url: {prometheus}
      window: 10s
      step: 1s
      confidence: 98
      without-baseline: pass   # the first release has nothing to be compared with
      metrics:
        latency:
          query: '{latency_query("production")}'
          direction: increase
          tolerance: 10
    initial-delay: 10s
    interval: 2s
    count: 2
"""


def run(name: str, *, mode: str, as_json: bool, keep: bool, io) -> int:
    from .platform import Platform
    scenario = SCENARIOS[name]
    lacking = Platform.missing(flags=name == "flag-flip")
    if lacking:
        raise InputError(f"the {name} scenario cannot run here", "it needs real parts: " + "; ".join(lacking),
                         "install them (then run again); `cdhelper rehearse` without --scenario needs none of them")
    started = time.monotonic()
    rehearsal = Rehearsal(mode=mode)
    platform = Platform(rehearsal.workdir / "platform").start()
    runs = []
    try:
        (rehearsal.repo_dir / ".github" / "cd.yml").write_text(cd_yml(scenario, platform.prometheus_url, platform.url))
        if name == "flag-flip":
            return _flag_flip(rehearsal, platform, mode=mode, as_json=as_json, keep=keep, io=io, started=started)
        caller = rehearsal.call_reusable_workflow()
        platform.send_load("production", 50)
        for i, (version, bad) in enumerate(scenario.versions):
            rehearsal.commit(f"Release {version}", {"app/VERSION": version + "\n"})
            run_id = 4242 + i
            rehearsal.plan_run(run_id=run_id)
            latency = dict(scenario.latency).get(version)
            if not as_json:
                io.info(f"run {i + 1}: {version}{' (a bad version: half of its answers are errors)' if bad else ''}"
                        + (f" (answers in {latency * 1000:g} ms)" if latency is not None else ""))
            seen = len(rehearsal.lines)
            code = rehearsal.act(run_id=run_id, run_number=i + 1, workflow=caller,
                                 env={"CDHELPER_PLATFORM": str(platform.directory), **scenario.env(version, bad)})
            last = i == len(scenario.versions) - 1
            since = _rollback_time(rehearsal) if last and scenario.rolled_back else time.time()
            runs.append(_run_report(rehearsal, version, bad, code, _served(platform, since),
                                    decisions(rehearsal.lines[seen:], scenario.analyses), latency))
        result = {"scenario": name, "mode": mode, "analyses": {a: ANALYSES[a] for a in scenario.analyses},
                  "runs": runs, "api_requests": rehearsal.double.total_requests(),
                  "seconds": round(time.monotonic() - started, 1)}
        ok = _as_expected(scenario, runs)
        if as_json:
            io.out_json(result, indent=2)
        else:
            io.out(_text(result))
        if not ok:
            io.error(f"the {name} scenario did not end as expected. Fix: {rehearsal.where_to_look(keep)}",
                     title="Rehearsal failed")
            if not as_json:
                io.info(rehearsal.output()[-4000:])
        return 0 if ok else 1
    finally:
        platform.stop()
        rehearsal.close(keep=keep)


def _rollback_time(rehearsal) -> float:
    """When the last rollback's record was written (its first status): traffic was back by then."""
    repo = rehearsal.double.repo(REPOSITORY)
    rollbacks = [d for d in repo.deployments.values() if (d["payload"] or {}).get("rollback_of")]
    return repo.statuses[rollbacks[-1]["id"]][0]["created_at"] if rollbacks else time.time() - 2


def _served(platform, since: float, *, enough: int = 50, timeout: float = 15.0) -> dict:
    """What production served since `since`, by nginx's log, once the steady load has sent `enough`
    requests in that window (a busy machine may take longer than the ~1 s that needs)."""
    deadline = time.monotonic() + timeout
    while True:
        served = platform.requests("production", since=since)
        if sum(served.values()) >= enough or time.monotonic() > deadline:
            return served
        time.sleep(0.2)


DECISION = re.compile(r"^step \d+: analysis .*")


def decisions(lines: list[dict], analyses: tuple[str, ...]) -> list[str]:
    """The analyses' samples and decisions of one act run, with their values, as the rollout logged
    them (`latency-vs-stable: score 0 < marginal 75 (latency: canary median ...)`, then `step 1:
    analysis at 50%: failed - ...`): the records' statuses hold only 140 characters of them."""
    out = []
    for line in lines:
        text = str(line.get("msg", "")).strip()
        if (DECISION.match(text) or text.startswith(tuple(f"{a}: " for a in analyses))) and text not in out:
            out.append(text)
    return out


def _run_report(rehearsal, version: str, bad: bool, code: int, served: dict, decided: list[str],
                latency: float | None) -> dict:
    repo = rehearsal.double.repo(REPOSITORY)
    production = [d for d in repo.deployments.values() if d["environment"] == "production"]
    records = []
    for dep in production:
        if (dep["payload"] or {}).get("version") != version and not (dep["payload"] or {}).get("rollback_of"):
            continue
        statuses = repo.statuses.get(dep["id"], [])
        records.append({"deployment_id": dep["id"], "version": dep["payload"]["version"],
                        "rollback_of": dep["payload"].get("rollback_of"),
                        "state": statuses[-1]["state"] if statuses else "pending",
                        "steps": [s["description"] for s in statuses if s["state"] in ("in_progress", "failure")]})
    return {"version": version, "bad": bad, "latency": latency, "act_exit": code, "records": records[-2:],
            "decisions": decided, "served_after": served}


def _as_expected(scenario: Scenario, runs: list[dict]) -> bool:
    *before, last = runs
    if not all(r["records"] and r["records"][-1]["state"] == "success" for r in before):
        return False
    if scenario.rolled_back:
        rolled = [r for r in last["records"] if r["rollback_of"]]
        return bool(rolled) and rolled[-1]["state"] == "success" and last["served_after"].get(last["version"], 0) == 0
    return bool(last["records"]) and last["records"][-1]["state"] == "success"


def _text(result: dict) -> str:
    lines = [f"cdhelper rehearsal: the {result['scenario']} scenario ({result['mode']} mode), the reusable workflow, "
             "production on nginx + Prometheus", "", "Analyses:"]
    lines += [f"  {name}: {what}" for name, what in result["analyses"].items()] or ["  none"]
    lines.append("")
    for i, run in enumerate(result["runs"], 1):
        speed = f" (answers in {run['latency'] * 1000:g} ms)" if run.get("latency") is not None else ""
        lines.append(f"run {i}: {run['version']}{' (bad)' if run['bad'] else ''}{speed}: act exited {run['act_exit']}")
        for record in run["records"]:
            label = f"rollback of {record['rollback_of']}" if record["rollback_of"] else "promotion"
            lines.append(f"  deployment {record['deployment_id']} ({label}, {record['version']}): {record['state']}")
            lines += [f"    - {step}" for step in record["steps"]]
        if run["decisions"]:
            lines.append("  decisions:")
            lines += [f"    {decision}" for decision in run["decisions"]]
        served = ", ".join(f"{v}: {n}" for v, n in sorted(run["served_after"].items())) or "nothing"
        lines.append(f"  production served afterwards: {served}")
    lines += ["", f"GitHub API requests: {result['api_requests']} (all answered by the double)",
              f"Wall time: {result['seconds']} s"]
    return "\n".join(lines)


# --- flag-flip --------------------------------------------------------------------------------------

def _flag_answer(platform, *, timeout: float = 10.0, want: str | None = None) -> str:
    """What production's sample app evaluates `new-greeting` to (its X-Flag header), through nginx."""
    import urllib.request
    deadline = time.monotonic() + timeout
    answer = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(platform.app_url("production"), timeout=2) as resp:  # noqa: S310 - loopback
                answer = resp.headers.get(f"X-Flag-{FLAG}", "")
        except OSError:
            answer = ""
        if answer and (want is None or answer == want):
            return answer
        time.sleep(0.2)
    return answer


def _flag_flip(rehearsal, platform, *, mode: str, as_json: bool, keep: bool, io, started: float) -> int:
    from . import ROOT, RUN_ID, permissions
    (rehearsal.repo_dir / ".github" / "flags").mkdir(exist_ok=True)
    rehearsal.commit("Feature flags, off", {f".github/flags/{env}.flagd.json": flag_file("off")
                                            for env in ("staging", "production")})
    caller = rehearsal.call_reusable_workflow()
    rehearsal.plan_run(run_id=RUN_ID)
    env = {"CDHELPER_PLATFORM": str(platform.directory)}
    if not as_json:
        io.info("run 1: release 0.1.1 with new-greeting off, through the pipeline")
    code = rehearsal.act(run_id=RUN_ID, run_number=1, workflow=caller, env=env)
    before = _flag_answer(platform)
    # The flip: its own run, approved on the gate environment like a production promotion.
    flip_run = RUN_ID + 1
    gate = "production-approval"
    rehearsal.double.create_run(REPOSITORY, run_id=flip_run, actor=AUTHOR, waiting_on=[gate])
    if mode == "delivery":
        rehearsal.double.review(REPOSITORY, flip_run, gate, REVIEWER, comment="turn it on")
    if not as_json:
        io.info("run 2: cdhelper flags set new-greeting on --environment production, as cd-flags.yml's three jobs run it"
                + (" (approved on production-approval)" if mode == "delivery" else ""))
    # By hand, as the cd-flags template's three jobs run it, each with the token that job would get
    # (its permissions, computed as GitHub does): the hook runs only with flip's, which writes nothing.
    import yaml
    template = yaml.safe_load((ROOT / "workflows-templates" / "cd-flags.yml").read_text())
    outputs = rehearsal.workdir / "flip-outputs"

    def by_hand(job: str, *extra: str) -> subprocess.CompletedProcess:
        token = f"ghs_rehearsal_{job.replace('-', '_')}_token"
        rehearsal.double.register_token(token, job=f"{job} of cd-flags.yml, run by hand",
                                        permissions=permissions.token_permissions(template["jobs"][job], template))
        outputs.write_text("")
        return subprocess.run(
            [sys.executable, "-m", "cdhelper", "flags", "set", FLAG, "on", "--environment", "production", "--mode", mode,
             *extra], cwd=rehearsal.repo_dir, capture_output=True, text=True, timeout=120,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
                 "GITHUB_API_URL": rehearsal.double.url, "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_TOKEN": token,
                 "GITHUB_RUN_ID": str(flip_run), "GITHUB_RUN_ATTEMPT": "1", "GITHUB_ACTOR": AUTHOR,
                 "GITHUB_SHA": rehearsal.head(), "GITHUB_WORKSPACE": str(rehearsal.repo_dir),
                 "GITHUB_SERVER_URL": "https://github.com", "RUNNER_TEMP": str(rehearsal.workdir),
                 "GITHUB_OUTPUT": str(outputs), **env})

    def output(name: str) -> str:
        return next((line.split("=", 1)[1] for line in outputs.read_text().splitlines()
                     if line.startswith(f"{name}=")), "")
    flip = by_hand("flip-open", "--phase", "open")
    handoff = output("handoff")
    if flip.returncode == 0 and handoff:
        deployed = by_hand("flip", "--phase", "deploy", "--handoff", handoff)
        report = output("report")
        flip = by_hand("flip-record", "--phase", "close", "--handoff", handoff, "--report", report,
                       "--job-result", "success" if deployed.returncode == 0 else "failure")
        flip = deployed if deployed.returncode else flip
    after = _flag_answer(platform, want="true")
    repo = rehearsal.double.repo(REPOSITORY)
    flips = [d for d in repo.deployments.values() if (d["payload"] or {}).get("flag_release")]
    record = flips[-1] if flips else None
    result = {"scenario": "flag-flip", "mode": mode, "analyses": {}, "pipeline_act_exit": code, "flip_exit": flip.returncode,
              "served_before": before, "served_after": after,
              "flip": None if record is None else {
                  "deployment_id": record["id"], "task": record["task"], **record["payload"]["flag_release"],
                  "state": repo.statuses[record["id"]][-1]["state"]},
              "api_requests": rehearsal.double.total_requests(), "seconds": round(time.monotonic() - started, 1)}
    ok = code == 0 and flip.returncode == 0 and before == "false" and after == "true" and record is not None
    if as_json:
        io.out_json(result, indent=2)
    else:
        f = result["flip"] or {}
        io.out("\n".join([
            f"cdhelper rehearsal: the flag-flip scenario ({mode} mode), production on nginx, flags evaluated by "
            "the OpenFeature SDK (flagd provider, file mode)", "", "Analyses: none (all-at-once, no analysis)", "",
            f"run 1: 0.1.1 through the pipeline: act exited {code}; production answers {FLAG}={before or '?'}",
            f"run 2: flags set {FLAG} on: exit {flip.returncode}"
            + (f"; deployment {f.get('deployment_id')} ({f.get('task')}): {f.get('old')} -> {f.get('new')}, "
               f"{f.get('state')}, approved by {f.get('approver') or 'nobody (deployment mode)'}" if f else ""),
            f"  production answers {FLAG}={after or '?'} (same version, no rebuild, no redeploy of new code)", "",
            f"GitHub API requests: {result['api_requests']} (all answered by the double)",
            f"Wall time: {result['seconds']} s"]))
    if not ok:
        io.error(f"the flag-flip scenario did not end as expected. Fix: {rehearsal.where_to_look(keep)}",
                 title="Rehearsal failed")
        if not as_json:
            io.info((flip.stdout + flip.stderr)[-2000:] + rehearsal.output()[-2000:])
    return 0 if ok else 1
