"""The template pipeline under act with a hostile repository: modules committed to shadow the
helper and its dependencies, PYTHONPATH/PYTHONSTARTUP pointing into the workspace, and a deploy
command that hunts for the token. The real composite actions run; nothing of the workspace runs
inside them, and the deploy command finds no token."""

from __future__ import annotations

import pytest

from cdhelper.devtools.rehearsal import JOB_TOKEN_FILE, REPOSITORY
from tests.boot.test_isolation import markers_left, plant_shadows

from .test_act_pipeline import _deployments, _states, rehearsal_factory  # noqa: F401 - fixture

pytestmark = pytest.mark.act

PROBE = f"""#!/usr/bin/env bash
# Where could a deploy command find its job's token? Its own environment, and the environ and cmdline
# of every process from its parent up to the helper (a python). (The rehearsal leaves the token where
# a dump of the runner's memory would find it, the file read here, only to know what to look for.)
token=$(cat "$RUNNER_TEMP/{JOB_TOKEN_FILE}")
[ -n "$token" ] || {{ echo "no job token" > "$CDHELPER_REHEARSAL_TARGETS/probe-$CD_ENVIRONMENT"; exit 0; }}
found=""
if env | grep -q "$token"; then found="$found own-environment"; fi
pid=$PPID
while [ "$pid" -gt 1 ]; do
  for what in environ cmdline; do
    holders=$(tr '\\0' '\\n' < "/proc/$pid/$what" | grep "$token" | cut -d= -f1 | tr '\\n' ' ')
    if [ -n "$holders" ]; then found="$found $what-of-$(cat "/proc/$pid/comm")[$holders]"; fi
  done
  case "$(cat "/proc/$pid/comm")" in python*) break;; esac
  pid=$(awk '{{print $4}}' "/proc/$pid/stat")
done
echo "${{found:-nothing}}" > "$CDHELPER_REHEARSAL_TARGETS/probe-$CD_ENVIRONMENT"
"""


def test_modules_committed_to_shadow_the_helper_never_run_in_any_job(rehearsal_factory, tmp_path):  # noqa: F811
    r = rehearsal_factory("delivery")
    markers = tmp_path / "markers"
    plant_shadows(r.repo_dir, markers)
    r.commit("Shadow cdhelper, its dependencies and the standard library", {})
    r.plan_run()
    code = r.act(env={"PYTHONPATH": ".", "PYTHONSTARTUP": "startup.py"})
    assert markers_left(markers) == {}
    assert code == 0, r.output()[-3000:]
    assert {j: rec.result for j, rec in r.jobs.items()} == {
        "doctor": "success", "build": "success", "release": "success", "staging": "success",
        "staging-record": "success", "acceptance": "success", "gate": "success", "production-open": "success",
        "production": "success", "production-record": "success"}
    [production] = _deployments(r, "production")
    assert _states(r, production) == ["queued", "in_progress", "success"]
    assert production["payload"]["gate"]["approvers"][0]["login"] == "rehearsal-reviewer"


def test_the_deploy_command_finds_no_token_in_any_environment(rehearsal_factory):  # noqa: F811
    r = rehearsal_factory("deployment")
    workflow = r.repo_dir / ".github" / "workflows" / "cd-pipeline.yml"
    workflow.write_text(workflow.read_text().replace("DEPLOY_COMMAND: ./deploy.sh",
                                                     "DEPLOY_COMMAND: ./deploy.sh && ./probe.sh"))
    (r.repo_dir / "probe.sh").write_text(PROBE)
    (r.repo_dir / "probe.sh").chmod(0o755)
    r.commit("A deploy command that looks for the token", {})
    r.plan_run(review=None)
    assert r.act() == 0, r.output()[-3000:]
    for environment in ("staging", "production"):
        assert (r.targets / f"probe-{environment}").read_text().strip() == "nothing", environment
    assert r.double.repo(REPOSITORY).refs  # it really ran: the release tag exists
