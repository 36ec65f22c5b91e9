"""Issue 20's attack: repository code handed its job's token, as a dump of the runner's memory would
hand it over (CVE-2025-30066), tries to write evidence: a deployment record, a commit status named
like the acceptance check, and a moved release tag. The deploy command, a strategy hook, a `command:`
analysis and the acceptance tests each try. In the split layout every attempt is refused and the
records are exactly the pipeline's; in the single-job layout the template had before, the deploy
command's job writes a record the Actions bot signs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdhelper.devtools.rehearsal import JOB_TOKEN_FILE, REPOSITORY, for_act

from .test_act_pipeline import _deployments, _tags, rehearsal_factory  # noqa: F401 - fixture

pytestmark = pytest.mark.act

BASELINE = Path(__file__).resolve().parents[2] / "benchmarks" / "baseline" / "cd-pipeline.single-job.yml"
ATTACKERS = ("deploy", "hook", "analysis", "acceptance")

FORGE = f"""#!/usr/bin/env bash
# forge.sh WHO: this job's token, from where a dump of the runner's memory finds it, then three writes.
token=$(cat "$RUNNER_TEMP/{JOB_TOKEN_FILE}")
python3 - "$1" "$token" <<'PY'
import json, os, sys, urllib.error, urllib.request
who, token = sys.argv[1], sys.argv[2]
api, repo = os.environ["GITHUB_API_URL"], os.environ.get("GITHUB_REPOSITORY", "{REPOSITORY}")
sha = os.environ["GITHUB_SHA"]
def call(method, path, body):
    request = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode(), headers={{
        "Authorization": "token " + token, "Content-Type": "application/json", "Accept": "application/vnd.github+json"}})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code
codes = {{
    "deployment": call("POST", f"/repos/{{repo}}/deployments", {{
        "ref": sha, "environment": "production", "auto_merge": False, "required_contexts": [],
        "payload": {{"forged_by": who}}, "description": "forged by " + who}}),
    "status": call("POST", f"/repos/{{repo}}/statuses/{{sha}}", {{
        "state": "success", "context": "Acceptance", "description": "forged by " + who}}),
    "tag": call("PATCH", f"/repos/{{repo}}/git/refs/tags/v0.1.1", {{"sha": "0" * 40, "force": True}}),
}}
with open(os.path.join(os.environ["CDHELPER_REHEARSAL_TARGETS"], f"forge-{{who}}-{{os.getpid()}}.json"), "w") as out:
    json.dump(codes, out)
PY
exit 0
"""

CD_YML = """version: 1
environments:
  - name: staging
    url: https://staging.acme.example
    hooks:
      deploy: ./deploy.sh && ./forge.sh deploy
  - name: production
    url: https://acme.example
    required-contexts: [Acceptance]
    strategy: {canary: {steps: [{weight: 50, analysis: [forged]}, {weight: 100}]}}
    hooks:
      deploy: ./deploy.sh && ./forge.sh deploy
      shift-traffic: ./forge.sh hook
analysis:
  forged:
    command:
      run: ./forge.sh analysis
gate:
  environment: production-approval
"""


def _arm(r) -> None:
    (r.repo_dir / "forge.sh").write_text(FORGE)
    (r.repo_dir / "forge.sh").chmod(0o755)
    r.commit("Repository code that steals its job's token", {
        ".github/cd.yml": CD_YML,
        "acceptance-tests.sh": (r.repo_dir / "acceptance-tests.sh").read_text() + "\n./forge.sh acceptance\n"})


def _attempts(r) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted(r.targets.glob("forge-*.json")):
        found.setdefault(path.name.split("-")[1], []).append(json.loads(path.read_text()))
    return found


def _forged(r) -> list[dict]:
    return [d for d in _deployments(r) if "forged_by" in (d["payload"] or {})]


@pytest.mark.parametrize("mode", ["delivery", "deployment"])
def test_in_the_split_layout_repository_code_cannot_write_with_its_jobs_token(rehearsal_factory, mode):  # noqa: F811
    r = rehearsal_factory(mode)
    _arm(r)
    r.plan_run()
    assert r.act() == 0, r.output()[-3000:]
    attempts = _attempts(r)
    assert set(attempts) == set(ATTACKERS), attempts  # each of them ran, with a token in hand
    for who, tries in attempts.items():
        for codes in tries:
            assert codes == {"deployment": 403, "status": 403, "tag": 403}, (who, codes)
    assert _forged(r) == []
    assert "forged" not in json.dumps(r.double.repo(REPOSITORY).commit_statuses)
    assert [d["environment"] for d in _deployments(r)] == ["staging", "production"]  # exactly the pipeline's
    assert _tags(r) == ["refs/tags/v0.1.1"]
    [production] = _deployments(r, "production")
    assert production["payload"]["layout"] == "split"


def test_in_the_single_job_layout_the_deploy_command_forges_a_record(rehearsal_factory):  # noqa: F811
    """What the split layout closes: the same attack against the template as it was (the baseline)."""
    r = rehearsal_factory("deployment")
    (r.repo_dir / ".github" / "workflows" / "cd-pipeline.yml").write_text(
        for_act(BASELINE.read_text(), source="cd-pipeline.yml"))
    _arm(r)
    r.plan_run(review=None)
    assert r.act() == 0, r.output()[-3000:]
    deploy = _attempts(r)["deploy"]
    assert {codes["deployment"] for codes in deploy} == {201}
    forged = _forged(r)
    assert forged and {d["creator"] for d in forged} == {"github-actions[bot]"}  # signed by the Actions bot
