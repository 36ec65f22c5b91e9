"""Every record kind goes through the one record writer (cdhelper/deploy/record_writer.py): the automatic
rollback's record gets the same lost-response look-up as a promotion's and a flip's (the flip's is
tested in tests/flags/test_flag_safety.py)."""

from __future__ import annotations

import json

from cdhelper.devtools.double import Fault
from tests.progressive.test_rollouts import rollouts  # noqa: F401 - the fixture, asked for by name below

CREATE = "POST /repos/{owner}/{repo}/deployments"


def test_a_lost_response_on_the_automatic_rollbacks_create_is_looked_up_before_retrying(pipeline, double, request):
    configure, release, _ = request.getfixturevalue("rollouts")
    configure(bad="2.0.0")
    release("1.0.0")
    assert pipeline.promote("production", "1.0.0").code == 0
    release("2.0.0")
    armed = []

    def lose_the_next_create(req, resp) -> None:
        """Once 2.0.0's record is made, the next create (the rollback's) lands but its answer is lost."""
        if f"{req.method} {req.route}" == CREATE and resp.status == 201 and not armed \
                and json.loads(req.body)["payload"]["version"] == "2.0.0":
            armed.append(True)
            double.inject(Fault("5xx", route=CREATE, times=1, when="after"))
    double.observe(lose_the_next_create)
    failed = pipeline.promote("production", "2.0.0")
    assert failed.code == 11, failed.out
    assert armed
    first, bad, rollback = pipeline.deployments("production")  # exactly one rollback record: no duplicate
    assert rollback["payload"]["version"] == "1.0.0" and rollback["payload"]["rollback_of"] == bad["id"]
    assert pipeline.states(rollback["id"]) == ["in_progress", "success"]
    assert rollback["payload"]["run"] == bad["payload"]["run"]  # the same run block as the promotion's


def test_a_cancellation_whose_exception_python_lost_still_ends_the_work_and_closes_the_record(pipeline, double):
    """Python drops an exception a signal handler raises inside its at-fork handlers (a SIGTERM that
    lands while a hook is being started): the record was then left to end as `success` after the
    cancelled work went on. The cancellation is raised again until the writer handled it."""
    import os
    import signal
    import time

    import pytest

    from cdhelper.core.context import RunContext
    from cdhelper.deploy.record_writer import Cancelled, RecordWriter
    from cdhelper.github.client import GitHubClient

    assert pipeline.release().code == 0
    opened = pipeline.promote("staging", "1.0.0", "--phase", "open")
    ident = int(opened.outputs["deployment-id"])
    ctx = RunContext.from_environ({"GITHUB_API_URL": double.url, "GITHUB_REPOSITORY": "acme/app",
                                   "GITHUB_RUN_ID": "4242", "RUNNER_TEMP": str(pipeline.tmp / "runner")}, token="t")
    writer = RecordWriter(GitHubClient(ctx), ctx)
    went_on = []
    with pytest.raises(Cancelled):
        with writer.open(ident, "staging") as ending:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            except Cancelled:
                pass  # lost, as Python loses it inside an at-fork handler
            time.sleep(3)  # the work goes on (a hook running) until the cancellation comes again
            went_on.append(True)
            ending.state, ending.description = "success", "done"
    assert went_on == [] and pipeline.states(ident)[-1] == "error"
