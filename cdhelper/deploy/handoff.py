"""What the jobs of a split promotion hand each other (docs/rehearse.md, "Where repository code runs").

The open job (no repository code, a token that writes records) hands the deploy job and the record
job a **handoff**: the record it opened and what the rollout needs from the ledger. It travels as a
job output written by a job that runs nothing from the repository, so the record job trusts it.

The deploy job (repository code, a token that writes nothing) hands the record job a **report**: the
statuses the rollout would have posted, how it ended, why. Repository code ran in that job and
could have written the report itself, so it is parsed strictly, capped, labelled as reported, and
never decides the record's final state (GitHub's own result of the job does).
"""

from __future__ import annotations

import json
from importlib import resources

from cdhelper.core.errors import InputError
from cdhelper.progressive import strategies

MAX_REPORT = 64 * 1024  # characters; GitHub allows 1 MB of outputs per job
MAX_HANDOFF = 64 * 1024


def _schema_error(data, name: str):
    """The most telling way `data` breaks schemas/NAME.schema.json, or None."""
    import jsonschema  # heavy: imported when used, so --help starts without it
    schema = json.loads(resources.files("cdhelper.core").joinpath(f"schemas/{name}.schema.json").read_text())
    return jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))


def of(result, req, env, plan, analyses=None) -> dict:
    """The handoff of an opened (or resumed, or already finished) promotion: `result` a PromotionResult;
    `analyses` (cd.yml's, by name) tell the steps where an inconclusive analysis may pause."""
    c, previous = result.candidate, result.previous
    holds = [i + 1 for i, step in enumerate(plan.steps) if step.kind == "hold"]
    return {
        "v": 1, "environment": env.name, "production": env.production, "deployment_id": result.deployment_id, "node_id": result.node_id,
        "version": c.version, "digest": c.manifest, "tag": c.tag, "commit": c.commit, "images": list(c.images),
        "mode": req.mode, "rollback": bool(req.rollback), "rollback_of": result.rollback_of,
        "resume_step": req.resume_step, "hold_step": holds[0] if holds else 0, "steps": plan.rollout_steps,
        "pause_steps": list(strategies.pausing_steps(plan, analyses or {})),
        "strategy": plan.type, "live_slot": result.live_slot, "url": req.environment_url or env.url,
        "unchanged": result.state == "unchanged", "gate": result.gate.payload(),
        "full": bool(getattr(req, "full", False)), "soak_seconds": int(result.soak_seconds),
        "previous": None if previous is None else {
            "version": previous.version, "digest": previous.digest, "deployment_id": previous.id,
            "tag": str((previous.payload or {}).get("tag", "")), "commit": str((previous.payload or {}).get("commit", "")),
            "images": list((previous.payload or {}).get("images") or []),
            # what the rollback record says runs: the plan on the slot that served before
            "strategy": plan.payload(result.live_slot)},
    }


def dump(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def parse_handoff(raw: str, *, name: str = "handoff") -> dict:
    """The open job's output, passed through unchanged by the workflow."""
    fix = f"pass the open job's `handoff` output unchanged: {name}: ${{{{ needs.<open job>.outputs.handoff }}}}"
    if not raw.strip():
        raise InputError(f"{name} is empty", "the deploy and record phases continue what the open phase began", fix)
    if len(raw) > MAX_HANDOFF:
        raise InputError(f"{name} is {len(raw)} characters long", f"a handoff is at most {MAX_HANDOFF}", fix)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"{name} {raw[:40]!r} is not JSON", str(exc)[:80], fix) from None
    error = _schema_error(data, "promotion-handoff")
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        raise InputError(f"{name} is not a promotion handoff", f"at {where}: {error.message[:120]}", fix)
    return data


def report(deployment_id: int, state: str, *, statuses: list[str], reason: str = "", paused_at: int = 0,
           steps: list | None = None) -> dict:
    """The deploy job's report (`steps`: strategies.StepReport), capped to what the record job accepts."""
    out = {"v": 1, "deployment_id": deployment_id, "state": state, "paused_at": paused_at, "reason": reason[:1000],
           "statuses": [s[:300] for s in statuses[-100:]],
           "steps": [{"step": s.step, "what": s.what[:300], "outcome": s.outcome[:50], "detail": s.detail[:1000]}
                     for s in (steps or [])[-100:]]}
    while len(dump(out)) > MAX_REPORT and (out["steps"] or out["statuses"]):
        (out["steps"] or out["statuses"]).pop(0)  # the oldest go first: how it ended matters most
    return out


def parse_report(raw: str, handoff: dict) -> tuple[dict | None, str]:
    """The deploy job's report, or None and why it was not used. Never an error: the record job closes
    the record from the job's result whatever the report says (or whether there is one)."""
    if not raw.strip():
        return None, "the deploy job reported nothing"
    if len(raw) > MAX_REPORT:
        return None, f"the deploy job's report is {len(raw)} characters long (at most {MAX_REPORT})"
    try:
        data = json.loads(raw)
    except ValueError:
        return None, "the deploy job's report is not JSON"
    error = _schema_error(data, "deploy-report")
    if error is not None:
        return None, f"the deploy job's report is malformed ({error.message[:80]})"
    if data["deployment_id"] != handoff["deployment_id"]:
        return None, (f"the deploy job reported on deployment {data['deployment_id']}, not {handoff['deployment_id']} "
                      "which the open job made")
    return data, ""
