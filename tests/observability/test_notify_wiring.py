"""Notifications from the commands themselves: promote (promoted, failed, rolled back) and brief
(waiting for approval), through the action inputs, against a receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from .test_notify import PATH_SECRET, SECRET, Receiver


def _events(receiver: Receiver) -> list[dict]:
    out = []
    for request in receiver.requests:
        signature = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert request["headers"]["X-Cdhelper-Signature-256"] == signature
        out.append(json.loads(request["body"]))
    return out


def _webhook(receiver: Receiver, **extra: str) -> dict:
    return {"INPUT_NOTIFY_WEBHOOKS": f"json {receiver.url}", "INPUT_NOTIFY_SECRET": SECRET, **extra}


def test_a_promotion_and_a_failure_are_announced_signed_and_masked(pipeline):
    with Receiver() as receiver:
        assert pipeline.release().code == 0
        done = pipeline.promote("staging", **_webhook(receiver))
        failed = pipeline.promote("production", "1.0.0", "--run", "exit 3", **_webhook(receiver))
    assert done.code == 0 and failed.code == 10, failed.out
    [promoted, broken] = _events(receiver)
    assert (promoted["kind"], promoted["environment"], promoted["version"]) == ("promoted", "staging", "1.0.0")
    assert promoted["deployment_id"] == int(done.outputs["deployment-id"]) and promoted["digest"] == done.outputs["digest"]
    assert (broken["kind"], broken["environment"]) == ("failed", "production") and "exit" in broken["message"]
    assert "Notifications: 1 of 1 delivered" in done.summary
    for outcome in (done, failed):  # masked: the runner consumes ::add-mask:: and hides the value everywhere
        shown = [line for line in (outcome.out + outcome.err).splitlines() if not line.startswith("::add-mask::")]
        text = "\n".join(shown) + outcome.summary + json.dumps(outcome.outputs)
        assert PATH_SECRET not in text and SECRET not in text
        assert f"::add-mask::{receiver.url}" in outcome.out and f"::add-mask::{SECRET}" in outcome.out


def test_a_hanging_receiver_never_holds_the_deployment_past_the_deadline(pipeline):
    with Receiver(("hang", 60)) as receiver:
        assert pipeline.release().code == 0
        started = time.monotonic()
        done = pipeline.promote("staging", **_webhook(receiver, INPUT_NOTIFY_DEADLINE="2"))
        took = time.monotonic() - started
    assert done.code == 0 and took < 8, took
    assert "Notifications: 0 of 1 delivered" in done.summary and "The deployment itself is not affected" in done.summary
    assert "::warning title=Notification not delivered::" in done.out
    assert pipeline.states(int(done.outputs["deployment-id"]))[-1] == "success"


def test_the_brief_announces_the_wait_for_approval(pipeline):
    with Receiver() as receiver:
        assert pipeline.release().code == 0 and pipeline.promote("staging").code == 0
        out = pipeline.run("brief", "--environment", "production", "--version", "1.0.0", "--mode", "delivery",
                           **_webhook(receiver))
        deployed = pipeline.run("brief", "--environment", "production", "--version", "1.0.0", "--mode", "deployment",
                                **_webhook(receiver))
    assert out.code == deployed.code == 0
    [waiting] = _events(receiver)  # deployment mode: nobody waits
    assert (waiting["kind"], waiting["environment"]) == ("waiting", "production")
    assert "waits for approval on production-approval" in waiting["message"]


def test_a_bad_webhook_fails_before_anything_is_written(pipeline, double):
    assert pipeline.release().code == 0
    before = double.writes()
    out = pipeline.promote("staging", INPUT_NOTIFY_WEBHOOKS="json http://hooks.example.com/x", INPUT_NOTIFY_SECRET=SECRET)
    assert out.code == 2 and double.writes() == before and pipeline.deployments() == []
    assert "Traceback" not in out.out + out.err


def test_the_dora_report_goes_to_the_webhook_too(pipeline):
    with Receiver() as receiver:
        assert pipeline.release().code == 0 and pipeline.promote("staging").code == 0
        assert pipeline.promote("production").code == 0
        out = pipeline.run("dora", "--window", "30d", **_webhook(receiver))
    assert out.code == 0, out.err
    [report] = _events(receiver)
    assert (report["kind"], report["environment"], report["version"]) == ("report", "production", "")
    assert "Deployment frequency" in report["message"] and "1 in 30 days" in report["message"]
