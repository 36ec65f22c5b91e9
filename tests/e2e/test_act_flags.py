"""The flag template (workflows-templates/cd-flags.yml) under act against the double, after the
pipeline released 0.1.1 to production: the flip goes through the production gate in delivery mode
(none in deployment mode), runs through the launcher (actions/flags), so the flags command finds no
token, not even in its parent's /proc environ, is recorded (task release:flags), and the new file is
committed to the default branch through the Contents API."""

from __future__ import annotations

import json

import pytest

from cdhelper.devtools.double.rest.contents import file_at
from cdhelper.devtools.rehearsal import REPOSITORY, REVIEWER
from cdhelper.devtools.rehearsal.scenarios import FLAG, flag_file

from .test_act_isolation import PROBE
from .test_act_pipeline import _deployments, _states, rehearsal_factory  # noqa: F401 - fixture

pytestmark = pytest.mark.act

FLIP_RUN = 5151
PATH = ".github/flags/production.flagd.json"
# The flags command of the template: the probe for the token, then the file handed to the "platform".
FLAGS_COMMAND = PROBE + 'cp "$CD_FLAGS" "$CDHELPER_REHEARSAL_TARGETS/flags-$CD_ENVIRONMENT.json"\n'


def _released_with_flags(r) -> None:
    (r.repo_dir / ".github" / "flags").mkdir()
    (r.repo_dir / "deploy-flags.sh").write_text(FLAGS_COMMAND)
    (r.repo_dir / "deploy-flags.sh").chmod(0o755)
    r.commit("Feature flags, off", {f".github/flags/{env}.flagd.json": flag_file("off") for env in ("staging", "production")})
    r.double.repo(REPOSITORY).refs["refs/heads/main"] = r.head()  # the push GitHub would have seen
    r.plan_run()
    assert r.act() == 0, r.output()[-3000:]


def _dispatch(r, tmp_path, variant: str = "on") -> int:
    inputs = {"flag": FLAG, "variant": variant, "environment": "production"}
    event = tmp_path / "dispatch.json"
    event.write_text(json.dumps({"inputs": inputs, "ref": "refs/heads/main",
                                 "repository": {"full_name": REPOSITORY, "default_branch": "main"}}))
    r.jobs.clear()
    r.plan_run(run_id=FLIP_RUN)  # waits on the gate in delivery mode, the reviewer's answer planned
    args = [a for k, v in inputs.items() for a in ("--input", f"{k}={v}")]
    return r.act(*args, "-e", str(event), event="workflow_dispatch", workflow="cd-flags.yml", run_id=FLIP_RUN)


def _flips(r) -> list[dict]:
    return [d for d in _deployments(r, "production") if d["task"] == "release:flags"]


@pytest.mark.parametrize("mode", ["delivery", "deployment"])
def test_the_flag_template_flips_through_the_gate_and_commits_the_file(rehearsal_factory, tmp_path, mode):  # noqa: F811
    r = rehearsal_factory(mode)
    _released_with_flags(r)
    head = r.double.repo(REPOSITORY).resolve("main")
    assert _dispatch(r, tmp_path) == 0, r.output()[-3000:]
    # The split layout: the hook ran in `flip`, whose token writes nothing; the record and the commit
    # were written by `flip-open` and `flip-record`, which run nothing from the repository.
    split = {"flip-open": "success", "flip": "success", "flip-record": "success"}
    assert {j: rec.result for j, rec in r.jobs.items()} == ({"gate": "success", **split} if mode == "delivery" else split)
    [record] = _flips(r)
    assert _states(r, record)[-1] == "success"
    release = record["payload"]["flag_release"]
    assert (release["flag"], release["old"], release["new"]) == (FLAG, "off", "on")
    assert record["payload"]["version"] == "0.1.1" and record["payload"]["mode"] == mode
    if mode == "delivery":
        assert release["approver"] == REVIEWER
        assert [a["login"] for a in record["payload"]["gate"]["approvers"]] == [REVIEWER]
    else:
        assert record["payload"]["gate"]["required"] is False
    # The flags command ran, through the launcher: it found no token anywhere up to the helper.
    assert (r.targets / "probe-production").read_text().strip() == "nothing"
    handed = json.loads((r.targets / "flags-production.json").read_text())
    assert handed["flags"][FLAG]["defaultVariant"] == "on"
    # The new file is on the default branch, one commit on top of the one the run checked out.
    repo = r.double.repo(REPOSITORY)
    new_head = repo.resolve("main")
    assert new_head != head and repo.commit(new_head)["parents"] == [head]
    assert json.loads(file_at(repo, new_head, PATH))["flags"][FLAG]["defaultVariant"] == "on"
    assert json.loads(file_at(repo, new_head, ".github/flags/staging.flagd.json"))["flags"][FLAG]["defaultVariant"] == "off"
