"""Feature flags: deploying is not releasing.

Each environment's flag state lives in the repository as one OpenFeature flagd file,
`.github/flags/<environment>.flagd.json` (one file per environment: flipping a flag is a one-line
diff in one file, and a review shows exactly which environment changes). Files are checked with
flagd's published JSON schema (vendored in schemas/flagd/, targeting included) and then for what a
schema cannot say: the default variant and every variant a targeting rule returns must exist.

`release` flips one flag in one environment as its own recorded release step: a deployment record
(payload `flag_release`, task `release:flags`) behind the same gate and freeze as a promotion, then
the new file in the workspace, then the environment's deploy hook with CD_FLAGS pointing at it.
A kill switch (the new variant is named "off" or its value is `false`) is treated like a rollback:
no freeze holds it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import ConfigError, DeployError, EvidenceError, FreezeError, InputError, show

FLAGS_DIR = Path(".github") / "flags"
TASK = "release:flags"
SCHEMA_ID = "https://flagd.dev/schema/v0/flags.json"
TARGETING_ID = "https://flagd.dev/schema/v0/targeting.json"


@dataclass(frozen=True)
class FlagFile:
    environment: str
    path: Path
    text: str
    flags: dict  # flag key -> flagd flag definition

    @property
    def digest(self) -> str:
        return digest(self.text)

    @property
    def state(self) -> dict[str, str]:
        """What is on: each flag's default variant (flagd's `state: DISABLED` shows as "(disabled)")."""
        return {k: (f["defaultVariant"] if f.get("state", "ENABLED") == "ENABLED" else "(disabled)")
                for k, f in sorted(self.flags.items())}


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def path_of(workspace: str | Path, environment: str) -> Path:
    return Path(workspace) / FLAGS_DIR / f"{environment}.flagd.json"


def load(workspace: str | Path, environment: str) -> FlagFile | None:
    """The environment's flag file, validated; None when the environment has none."""
    path = path_of(workspace, environment)
    if not path.is_file():
        return None
    return parse(path.read_text(encoding="utf-8"), path=path, environment=environment)


def parse(text: str, *, path: Path, environment: str) -> FlagFile:
    source = f"{FLAGS_DIR / path.name}"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source} is not JSON", f"line {err.lineno} column {err.colno}: {err.msg}",
                          "fix the syntax (flagd files are JSON; `python -m json.tool FILE` points at it)") from None
    error = _schema_error(doc)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        raise ConfigError(f"{source} does not match flagd's schema at {where}", _short(error),
                          "follow https://flagd.dev/reference/flag-definitions/ (schema: cdhelper/schemas/flagd/flags.json)")
    if not isinstance(doc.get("flags"), dict):  # the published schema does not require the key; flagd does
        raise ConfigError(f"{source} defines no flags", "a flagd file is an object with a `flags` object",
                          'start from {"flags": {}} (docs/flags.md)')
    flags = doc["flags"]
    for key, flag in flags.items():
        variants = flag["variants"]
        if flag.get("defaultVariant") not in variants:
            raise ConfigError(f"{source}: flag {key!r} has defaultVariant {show(flag.get('defaultVariant'))}",
                              f"it is not one of its variants ({', '.join(sorted(variants))})",
                              f"set defaultVariant to one of {', '.join(sorted(variants))}, or add that variant")
        for name in _targeted_variants(flag.get("targeting") or {}):
            if name not in variants:
                raise ConfigError(f"{source}: the targeting of flag {key!r} returns variant {show(name)}",
                                  f"it is not one of its variants ({', '.join(sorted(variants))})",
                                  "name an existing variant in the rule, or add the variant")
    return FlagFile(environment, path, text, flags)


def _schema_error(doc):
    import jsonschema
    from referencing import Registry, Resource
    folder = resources.files("cdhelper").joinpath("schemas/flagd")
    schemas = {name: json.loads(folder.joinpath(name).read_text()) for name in ("flags.json", "targeting.json")}
    registry = Registry().with_resources(
        [(SCHEMA_ID, Resource.from_contents(schemas["flags.json"])),
         (TARGETING_ID, Resource.from_contents(schemas["targeting.json"]))])
    validator = jsonschema.Draft7Validator(schemas["flags.json"], registry=registry)
    top = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    return None if top is None else _deepest(top)


def _deepest(error):
    """A flag matches one of four typed schemas (oneOf), so the top error only says "none of them".
    The branch with the fewest errors (then the deepest) is the one the author meant; its deepest
    error names the field."""
    if not error.context:
        return error
    branches: dict = {}
    for e in error.context:
        branches.setdefault(e.relative_schema_path[0], []).append(e)
    def depth(e) -> int:  # of its deepest descendant
        return max([len(e.absolute_path)] + [depth(c) for c in e.context])
    branch = min(branches.values(), key=lambda errors: (len(errors), -max(map(depth, errors))))
    return _deepest(max(branch, key=depth))


def _short(error) -> str:
    """jsonschema's message quotes the whole offending value; a one-line error keeps it short."""
    return " ".join(error.message.split())[:200]


def _targeted_variants(rule) -> list[str]:
    """The variant names a JsonLogic targeting rule can return: the branches of `if`, the buckets
    of `fractional`, or a bare string. Conditions are not results, so they are not looked into."""
    if isinstance(rule, str):
        return [rule]
    if not isinstance(rule, dict) or len(rule) != 1:
        return []
    (op, args), = rule.items()
    if op == "if" and isinstance(args, list):
        results = args[1::2] + ([args[-1]] if len(args) % 2 == 1 and len(args) > 1 else [])
        return [name for r in results for name in _targeted_variants(r)]
    if op == "fractional" and isinstance(args, list):
        return [b[0] for b in args if isinstance(b, list) and b and isinstance(b[0], str)]
    return []


def render(flag_file: FlagFile, flag: str, variant: str) -> str:
    """The file with `flag` defaulting to `variant`, in the form cdhelper writes (2-space JSON, as
    `json.dumps` gives it): keep files in that form and a flip is a one-line diff."""
    doc = json.loads(flag_file.text)
    doc["flags"][flag]["defaultVariant"] = variant
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def is_kill_switch(definition: dict, variant: str) -> bool:
    """Switching a feature off: the new variant is named "off", or its value is the boolean false."""
    return variant == "off" or definition["variants"].get(variant) is False


def changed(before: dict | None, after: dict) -> list[str]:
    """Flags whose state differs (added or removed included); with no earlier state, all of them."""
    if before is None:
        return sorted(after)
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def record_fields(flag_file: FlagFile, previous_payload: dict | None) -> dict:
    """What every deployment record carries about the environment's flags."""
    before = ((previous_payload or {}).get("flags") or {}).get("state")
    return {"file": str(FLAGS_DIR / flag_file.path.name), "digest": flag_file.digest, "state": flag_file.state,
            "changed": changed(before, flag_file.state)}


def differences(left: FlagFile | None, right: FlagFile | None) -> list[dict]:
    """Flags whose state differs between two environments' files ("" where a file lacks the flag)."""
    a, b = (left.state if left else {}), (right.state if right else {})
    return [{"flag": k, "from": a.get(k, ""), "to": b.get(k, "")} for k in changed(a, b)]


# --- the recorded flip -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FlagRequest:
    environment: str
    flag: str
    variant: str
    mode: str
    command: str = ""  # the `--run` command, when cd.yml names no deploy hook
    gate_job: str = ""


@dataclass
class FlagResult:
    environment: str
    flag: str
    old: str
    new: str
    deployment_id: int
    state: str  # "success" | "unchanged"
    kill_switch: bool
    approver: str
    digest: str
    path: Path


def release(client, ctx, config, req: FlagRequest, *, log: Callable[[str], None] = print) -> FlagResult:
    """Everything is checked before anything is written: the file, the freeze (not for a kill
    switch), what runs in the environment, the gate. Then the record, the file, the hook."""
    from . import gate as gates
    from . import hooks
    from .records import read_ledger, validate_payload

    env = config.environment(req.environment)
    current = load(ctx.workspace, env.name)
    if current is None:
        raise InputError(f"{env.name} has no flag file", f"{FLAGS_DIR / (env.name + '.flagd.json')} does not exist",
                         "commit the environment's flagd file first (docs/flags.md)")
    definition = current.flags.get(req.flag)
    if definition is None:
        raise InputError(f"flag {show(req.flag)} is not defined for {env.name}",
                         f"{current.path.name} defines {', '.join(sorted(current.flags)) or 'no flags'}",
                         "add the flag to the file first, or check its name")
    if req.variant not in definition["variants"]:
        raise InputError(f"variant {show(req.variant)} of flag {req.flag!r} does not exist",
                         f"its variants are {', '.join(sorted(definition['variants']))}", "name one of them")
    kill = is_kill_switch(definition, req.variant)
    old = definition["defaultVariant"]
    if old == req.variant and not _flipped_in_this_run(client, ctx, env.name, req):
        log(f"{req.flag} is already {req.variant} in {env.name}'s flag file; nothing to release")
        return FlagResult(env.name, req.flag, old, old, 0, "unchanged", kill, "", current.digest, current.path)
    text = render(current, req.flag, req.variant)
    new_file = parse(text, path=current.path, environment=env.name)  # a flip never writes an invalid file
    if not kill:
        _check_freeze(config, env, req)
    gated = config.is_gated(env.name) and req.mode == "delivery"
    if gated and not ctx.run_id:
        raise InputError("no workflow run id", "the gate is verified against this run's approvals (GITHUB_RUN_ID)",
                         "run inside GitHub Actions, or set GITHUB_RUN_ID to the run that holds the approval")
    ledger = read_ledger(client, ctx, [env.name], commit=ctx.sha, run_url=ctx.run_url if gated else None,
                         gate=config.gate_environment if gated else None)
    for note in ledger.ignored:
        log(note)
    if env.name in ledger.doubts:  # as for a promotion: records nobody can vouch for stop it
        raise EvidenceError(f"flag {req.flag} cannot be released in {env.name} now",
                            f"cdhelper cannot tell what is live there: {ledger.doubts[env.name]}",
                            "remove the deployments and statuses the warnings name, and find out which token wrote them")
    records = ledger.of(env.name)
    mine = next((r for r in records if r.of_run(ctx.run_id) and _release_of(r) == (req.flag, req.variant)), None)
    live = next((r for r in records if r.ours and r.live), None)
    if live is None:
        raise EvidenceError(f"flag {req.flag} cannot be released in {env.name}",
                            f"nothing cdhelper deployed is live in {env.name}, so no release would carry it",
                            f"promote a version to {env.name} first; its deploy hook reads the flags too")
    decision = (gates.verify(client, ctx, ledger, gate_environment=config.gate_environment, target=env.name,
                             **({"gate_job": req.gate_job} if req.gate_job else {})) if gated else
                gates.not_required(config.gate_environment, ungated=env.name if req.mode == "delivery" else ""))
    approver = decision.approvers[0]["login"] if decision.approvers else ""
    result = FlagResult(env.name, req.flag, old, req.variant, mine.id if mine else 0, "success", kill, approver,
                        new_file.digest, current.path)
    if mine is not None and mine.state == "success":
        if current.text != text:
            current.path.write_text(text, encoding="utf-8")
        log(f"{req.flag} is already {req.variant} in {env.name} from this run (deployment {mine.id}); nothing to do")
        result.state = "unchanged"
        result.old = str(mine.payload["flag_release"]["old"])
        return result
    payload = {key: live.payload[key] for key in ("cdhelper", "version", "tag", "commit", "digest", "images")
               if key in live.payload}
    payload.update({
        "environment": env.name, "mode": req.mode,
        "run": {"id": ctx.run_id, "attempt": ctx.run_attempt, "number": ctx.run_number, "url": ctx.run_url,
                "actor": ctx.actor, **({"repository_id": ctx.repository_id} if ctx.repository_id else {})},
        "gate": decision.payload(), "promoted_from": None, "rollback_of": None,
        "previous": {"version": live.version, "digest": live.digest, "deployment_id": live.id},
        "strategy": live.payload.get("strategy", "all-at-once"),  # the rollout (blue-green slot) is unchanged
        "flags": record_fields(new_file, live.payload),
        "flag_release": {"task": TASK, "flag": req.flag, "old": old, "new": req.variant, "kill_switch": kill,
                         "digest": new_file.digest, "approver": approver},
    })
    validate_payload(payload)
    if mine is None:
        made = client.create_deployment(ref=live.payload["commit"], environment=env.name, payload=payload,
                                        description=f"Flags: {req.flag} {old} -> {req.variant}"[:140],
                                        required_contexts=[], production=env.production, task=TASK)
        result.deployment_id = made["id"]
    client.create_deployment_status(result.deployment_id, "in_progress", log_url=ctx.run_url,
                                    description=f"{req.flag}: {old} -> {req.variant}")
    # The workspace holds the new state: the workflow commits it, the hook hands it to the platform.
    current.path.write_text(text, encoding="utf-8")
    command = env.hooks.get("deploy") or req.command
    if command:
        cd_vars = {"CD_ENVIRONMENT": env.name, "CD_FLAGS": str(current.path.resolve()), "CD_FLAGS_DIGEST": new_file.digest,
                   "CD_FLAG": req.flag, "CD_FLAG_VARIANT": req.variant, "CD_RELEASE": TASK, "CD_MODE": req.mode,
                   "CD_VERSION": live.version, "CD_DIGEST": live.digest, "CD_DEPLOYMENT_ID": str(result.deployment_id)}
        log(f"hook deploy: CD_FLAGS={cd_vars['CD_FLAGS']} CD_FLAG={req.flag} CD_FLAG_VARIANT={req.variant}")
        code = hooks.run(command, hooks.environment(os.environ, cd_vars, secrets=(ctx.token,)))
        if code != 0:
            client.create_deployment_status(result.deployment_id, "failure", log_url=ctx.run_url,
                                            description=f"the deploy hook exited {code}")
            raise DeployError(f"releasing {req.flag}={req.variant} in {env.name} failed",
                              f"the deploy hook exited {code}; the file in the workspace holds the new state",
                              "read the hook's output above, fix it and re-run (the record is reused)")
    client.create_deployment_status(result.deployment_id, "success", log_url=ctx.run_url,
                                    description=f"{req.flag} is {req.variant} in {env.name}")
    log(f"{req.flag}: {old} -> {req.variant} in {env.name} (deployment {result.deployment_id}"
        + (", kill switch" if kill else "") + ")")
    return result


def _flipped_in_this_run(client, ctx, environment: str, req: FlagRequest) -> bool:
    """A re-run finds the file already flipped by its first attempt: it goes on to find its record."""
    from .records import read_ledger
    return any(r.of_run(ctx.run_id) and _release_of(r) == (req.flag, req.variant)
               for r in read_ledger(client, ctx, [environment]).of(environment)) if ctx.run_id else False


def _release_of(record) -> tuple[str, str] | None:
    release = (record.payload or {}).get("flag_release")
    return (release["flag"], release["new"]) if release else None


def _check_freeze(config, env, req: FlagRequest) -> None:
    """Like a promotion: a freeze holds flips in production environments; a kill switch passes."""
    if not config.freeze or not env.production:
        return
    from . import freeze
    from .records import now
    window = freeze.active(config.freeze, now())
    if window is not None:
        end = freeze.frozen_until(config.freeze, now())
        raise FreezeError(f"flag {req.flag} cannot be set to {req.variant} in {env.name} now",
                          f"a deploy freeze is on: {window.describe}",
                          f"flip it after {end:%Y-%m-%d %H:%M} UTC; switching a feature off (a kill switch) is never frozen")
