"""What a rehearsal's run wrote, read back from the double after it: every deployment record of the
path's environments with each status it went through (a rollout's steps, with the values the
rollout put in them), rollbacks, flag changes, and who approved what. Reports show this instead of
each environment's last state only, so a canary's steps or a rollback need no reading of act's log."""

from __future__ import annotations

from cdhelper.deploy.gate import GateDecision


def rollouts(repo, environments: list[str] | tuple[str, ...]) -> list[dict]:
    """The records of `environments` (the double's Repo), in the order they were made."""
    wanted = {name.lower() for name in environments}
    out = []
    for dep in sorted(repo.deployments.values(), key=lambda d: d["id"]):
        if dep["environment"].lower() not in wanted:
            continue
        payload = dep["payload"] or {}
        statuses = repo.statuses.get(dep["id"], [])
        flag = payload.get("flag_release")
        gate = payload.get("gate") or {}
        out.append({
            "environment": dep["environment"], "deployment_id": dep["id"],
            "kind": "flag change" if flag else "rollback" if payload.get("rollback_of") else "promotion",
            "version": payload.get("version"), "digest": payload.get("digest"),
            "rollback_of": payload.get("rollback_of"), "flag": flag,
            "state": statuses[-1]["state"] if statuses else "pending",
            # the approval the record keeps (the gate job's line in the report has the reviewer's answer)
            "gate": GateDecision(True, str(gate.get("environment", "")), tuple(gate.get("approvers") or ())).describe()
            if gate.get("required") else "",
            "steps": [{"state": s["state"], "description": s.get("description") or ""} for s in statuses],
        })
    return out


def rollout_lines(records: list[dict]) -> list[str]:
    """The report's section: each record with its statuses in order."""
    lines = ["", "Rollouts (each record and every status it went through):"]
    if not records:
        lines.append("  none: no deployment record was written")
    for record in records:
        if record["flag"]:
            what = f"{record['flag'].get('flag')}: {record['flag'].get('old')} -> {record['flag'].get('new')}"
        elif record["rollback_of"]:
            what = f"back to {record['version']}, rolling back deployment {record['rollback_of']}"
        else:
            what = str(record["version"])
        lines.append(f"  {record['environment']}: deployment {record['deployment_id']} ({record['kind']}, {what}): "
                     f"{record['state']}" + (f"; {record['gate']}" if record["gate"] else ""))
        lines += [f"    {step['state']:<12} {step['description']}" for step in record["steps"]]
    return lines
