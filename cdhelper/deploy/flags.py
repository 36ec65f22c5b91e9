"""Feature flags: deploying is not releasing.

Each environment's flag state lives in the repository as one OpenFeature flagd file,
`.github/flags/<environment>.flagd.json` (one file per environment: flipping a flag is a one-line
diff in one file, and a review shows exactly which environment changes). Files are checked with
flagd's published JSON schema (vendored in schemas/flagd/, targeting included) and then for what a
schema cannot say: the default variant and every variant a targeting rule returns must exist.

Flag files are regular files inside `.github/flags/`: `.github`, `.github/flags` and the file are
opened without following any link, a link or a special file is refused before anything is read or
written (a staging file linked to production's would let an ungated staging flip change
production), and a flip replaces the file atomically (a temporary file beside it, fsync, rename).

`release` flips one flag in one environment as its own recorded release step: a deployment record
(payload `flag_release`, task `release:flags`) written by the one record writer, behind the same
gate and the same freeze check as a promotion, then the new file in the workspace, then the
environment's deploy hook with CD_FLAGS pointing at it. A kill switch is declared, never guessed:
the flag's metadata `cdhelper.kill-switch` names its safe variant, and a flip to that variant is
treated like a rollback: no freeze holds it. It still needs the gate.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cdhelper import hooks
from cdhelper.core.errors import ConfigError, DeployError, EvidenceError, InputError, show

from . import freeze
from . import gate as gates
from .record_writer import RecordWriter, build_payload, previous_of
from .records import live_record, read_ledger

FLAGS_DIR = Path(".github") / "flags"
TASK = "release:flags"
SCHEMA_ID = "https://flagd.dev/schema/v0/flags.json"
TARGETING_ID = "https://flagd.dev/schema/v0/targeting.json"
KILL_SWITCH = "cdhelper.kill-switch"  # flag metadata: the variant that switches the feature off safely
DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
# Reading never follows a final link and never blocks on a FIFO.
READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
NOT_PLAIN_FIX = ("keep each environment's flag file as a regular file in .github/flags/ (replace a link by a copy: "
                 "`cp --remove-destination \"$(readlink -f F)\" F`)")


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
    folder = _folder(workspace)
    if folder is None:
        return None
    try:
        try:
            fd = os.open(path.name, READ, dir_fd=folder)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
                raise _not_plain(path, FLAGS_DIR / path.name, "regular file") from None
            raise
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise _not_plain(path, FLAGS_DIR / path.name, "regular file")
            raw = fh.read()
    finally:
        os.close(folder)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{FLAGS_DIR / path.name} is not UTF-8", str(err)[:200],
                          "save the file as UTF-8 (JSON's encoding)") from None
    return parse(text, path=path, environment=environment)


def write(flag_file: FlagFile, text: str) -> None:
    """Replace the file with `text` atomically and without following a link: a temporary file in
    the same folder, fsynced, renamed over it (the rename replaces a link, never its target, and
    breaks a hard link instead of writing through it)."""
    workspace = flag_file.path.parent.parent.parent
    folder = _folder(workspace)
    if folder is None:
        raise ConfigError(f"{FLAGS_DIR} is gone", "it was there when the flag file was read",
                          "re-run: nothing else may change the workspace while a flip runs")
    temporary = f".{flag_file.path.name}.{secrets.token_hex(6)}.tmp"
    try:
        try:
            info = os.stat(flag_file.path.name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            info = None
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise _not_plain(flag_file.path, FLAGS_DIR / flag_file.path.name, "regular file")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600,
                     dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), stat.S_IMODE(info.st_mode) if info else 0o644)
                fh.write(text.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, flag_file.path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=folder)
            raise
        os.fsync(folder)  # the rename itself
    finally:
        os.close(folder)


def _folder(workspace: str | Path) -> int | None:
    """A descriptor of .github/flags, each part opened without following a link; None when absent."""
    fd = os.open(workspace, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    shown = Path()
    for part in FLAGS_DIR.parts:
        shown = shown / part
        try:
            inner = os.open(part, DIRECTORY, dir_fd=fd)
        except FileNotFoundError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _not_plain(Path(workspace) / shown, shown, "folder") from None
            raise
        os.close(fd)
        fd = inner
    return fd


def _not_plain(path: Path, shown: Path, kind: str) -> ConfigError:
    if path.is_symlink():
        why = (f"it is a symbolic link (to {os.readlink(path)!r}): a flip would write through it, into another "
               "environment's file or outside the workspace")
    else:
        why = f"it is not a {kind} ({stat.filemode(os.lstat(path).st_mode)})"
    return ConfigError(f"{shown} cannot hold flag state", why, NOT_PLAIN_FIX)


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
                          "follow https://flagd.dev/reference/flag-definitions/ (schema: cdhelper/core/schemas/flagd/flags.json)")
    if not isinstance(doc.get("flags"), dict):  # the published schema does not require the key; flagd does
        raise ConfigError(f"{source} defines no flags", "a flagd file is an object with a `flags` object",
                          'start from {"flags": {}} (docs/flags.md)')
    flags = doc["flags"]
    for key, flag in flags.items():
        variants = flag["variants"]
        declared = (flag.get("metadata") or {}).get(KILL_SWITCH)
        if declared is not None and declared not in variants:
            raise ConfigError(f"{source}: flag {key!r} declares kill switch {show(declared)} (metadata {KILL_SWITCH})",
                              f"it is not one of its variants ({', '.join(sorted(variants))})",
                              "name the variant that switches the feature off safely, or remove the declaration")
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
    import jsonschema  # heavy: imported when used, so --help and the launcher start without it
    from referencing import Registry, Resource
    folder = resources.files("cdhelper.core").joinpath("schemas/flagd")
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


def kill_switch(flag_file: FlagFile, key: str) -> tuple[str, str] | None:
    """The flag's declared kill switch: (its safe variant, where that is declared), or None. Declared
    in the flag's metadata (`"metadata": {"cdhelper.kill-switch": "off"}`), never guessed from a
    variant's name or value: `off` may mean "bypass the check", `false` may switch a new path on."""
    variant = ((flag_file.flags.get(key) or {}).get("metadata") or {}).get(KILL_SWITCH)
    if variant is None:
        return None
    pointer = key.replace("~", "~0").replace("/", "~1")
    return variant, f"{FLAGS_DIR / flag_file.path.name}#/flags/{pointer}/metadata/{KILL_SWITCH}"


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
    phase: str = "all"  # "open": the record only, no file written and no hook (the split layout's open job)


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
    handoff: dict | None = None  # the open phase: what the deploy and record jobs continue from


def release(client, ctx, config, req: FlagRequest, *, log: Callable[[str], None] = print) -> FlagResult:
    """Everything is checked before anything is written: the file, the freeze (not for a declared
    kill switch), what runs in the environment, the gate. Then the record, the file, the hook."""
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
    declared = kill_switch(current, req.flag)
    kill_source = declared[1] if declared and declared[0] == req.variant else ""
    old = definition["defaultVariant"]
    if old == req.variant and not _flipped_in_this_run(client, ctx, env.name, req):
        log(f"{req.flag} is already {req.variant} in {env.name}'s flag file; nothing to release")
        return FlagResult(env.name, req.flag, old, old, 0, "unchanged", bool(kill_source), "", current.digest,
                          current.path)
    text = render(current, req.flag, req.variant)
    new_file = parse(text, path=current.path, environment=env.name)  # a flip never writes an invalid file
    freeze.check(config.freeze, production=env.production, exempt=bool(kill_source),
                 refused=f"flag {req.flag} cannot be set to {req.variant} in {env.name} now", again="flip it",
                 exemption=f"switching to a declared kill switch (flag metadata {KILL_SWITCH}) is never frozen")
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
    live = live_record(records)
    if live is None:
        raise EvidenceError(f"flag {req.flag} cannot be released in {env.name}",
                            f"nothing cdhelper deployed is live in {env.name}, so no release would carry it",
                            f"promote a version to {env.name} first; its deploy hook reads the flags too")
    decision = (gates.verify(client, ctx, ledger, gate_environment=config.gate_environment, target=env.name,
                             **({"gate_job": req.gate_job} if req.gate_job else {})) if gated else
                gates.not_required(config.gate_environment, ungated=env.name if req.mode == "delivery" else ""))
    approver = decision.approvers[0]["login"] if decision.approvers else ""
    result = FlagResult(env.name, req.flag, old, req.variant, mine.id if mine else 0, "success", bool(kill_source),
                        approver, new_file.digest, current.path)
    if mine is not None and mine.state == "success":
        if current.text != text:
            write(current, text)
        log(f"{req.flag} is already {req.variant} in {env.name} from this run (deployment {mine.id}); nothing to do")
        result.state = "unchanged"
        result.old = str(mine.payload["flag_release"]["old"])
        if req.phase == "open":
            result.handoff = _handoff(result, req, env, live, kill_source)
        return result
    writer = RecordWriter(client, ctx)
    # What runs does not change: the live release's fields and rollout (a blue-green slot), plus the flip.
    payload = build_payload(
        ctx, release=live.payload, environment=env.name, mode=req.mode, gate=decision.payload(), previous=previous_of(live),
        strategy=live.payload.get("strategy", "all-at-once"), flags=record_fields(new_file, live.payload),
        flag_release={"task": TASK, "flag": req.flag, "old": old, "new": req.variant, "kill_switch": bool(kill_source),
                      "kill_switch_source": kill_source, "digest": new_file.digest, "approver": approver})
    if mine is None:
        result.deployment_id, _ = writer.create(
            environment=env.name, payload=payload, description=f"Flags: {req.flag} {old} -> {req.variant}",
            production=env.production, before=records, what=f"the record of flag {req.flag} in {env.name}", task=TASK,
            refused=lambda failure: InputError(f"GitHub refused the record of flag {req.flag} in {env.name}",
                                               str(failure), "check the environment name; GitHub said what it did not accept"))
    with writer.open(result.deployment_id, env.name, marker={"flag": req.flag}) as ending:
        writer.status(result.deployment_id, "in_progress", f"{req.flag}: {old} -> {req.variant}")
        if req.phase == "open":  # the deploy job writes the file and runs the hook; the record job ends it
            ending.state = None
            result.state, result.handoff = "open", _handoff(result, req, env, live, kill_source)
            return result
        failed = _hand_over(ctx, env, req, current, text, new_file.digest, (live.version, live.digest),
                            result.deployment_id, log)
        if failed:
            ending.state, ending.description = "failure", failed
            raise DeployError(f"releasing {req.flag}={req.variant} in {env.name} failed",
                              f"{failed}; the file in the workspace holds the new state",
                              "read the hook's output above, fix it and re-run (the record is reused)")
        ending.state, ending.description = "success", f"{req.flag} is {req.variant} in {env.name}"
    log(f"{req.flag}: {old} -> {req.variant} in {env.name} (deployment {result.deployment_id}"
        + (f", kill switch declared in {kill_source}" if kill_source else "") + ")")
    return result


def _hand_over(ctx, env, req: FlagRequest, current: FlagFile, text: str, digest: str, running: tuple[str, str],
               deployment_id: int, log: Callable[[str], None]) -> str:
    """The new file into the workspace (the workflow commits it), then to the platform through the
    deploy hook. Returns why it failed, '' when it did not."""
    write(current, text)
    command = env.hooks.get("deploy") or req.command
    if not command:
        return ""
    cd_vars = {"CD_ENVIRONMENT": env.name, "CD_FLAGS": str(current.path.resolve()), "CD_FLAGS_DIGEST": digest,
               "CD_FLAG": req.flag, "CD_FLAG_VARIANT": req.variant, "CD_RELEASE": TASK, "CD_MODE": req.mode,
               "CD_VERSION": running[0], "CD_DIGEST": running[1], "CD_DEPLOYMENT_ID": str(deployment_id)}
    log(f"hook deploy: CD_FLAGS={cd_vars['CD_FLAGS']} CD_FLAG={req.flag} CD_FLAG_VARIANT={req.variant}")
    code = hooks.run(command, hooks.environment(os.environ, cd_vars, secrets=(ctx.token,)))
    return f"the deploy hook exited {code}" if code != 0 else ""


def _handoff(result: FlagResult, req: FlagRequest, env, live, kill_source: str) -> dict:
    """The flip's handoff, in the promotion's form: the release fields are the live release's."""
    p = live.payload
    return {"v": 1, "environment": env.name, "production": env.production, "deployment_id": result.deployment_id,
            "version": live.version, "digest": live.digest, "tag": str(p.get("tag", "")), "commit": str(p["commit"]),
            "images": list(p.get("images") or []), "mode": req.mode, "steps": 1, "strategy": "all-at-once",
            "url": env.url, "previous": None, "unchanged": result.state == "unchanged",
            "flag": {"flag": req.flag, "old": result.old, "new": req.variant, "digest": result.digest,
                     "kill_switch": bool(kill_source)}}


def deploy_flip(ctx, config, h: dict, req: FlagRequest, *, log: Callable[[str], None] = print) -> str:
    """The split layout's deploy job: the flipped file into the workspace and to the platform, nothing
    written to GitHub. The file is flipped again from this job's checkout and must be the one the
    record names. Returns why it failed ('' when it did not)."""
    env = config.environment(h["environment"])
    flip = h["flag"]
    current = load(ctx.workspace, env.name)
    definition = current.flags.get(flip["flag"]) if current else None
    if definition is None or flip["new"] not in definition["variants"]:
        raise InputError(f"flag {show(flip['flag'])} cannot be flipped to {show(flip['new'])} from this checkout",
                         f"{env.name}'s flag file here does not define it, but deployment {h['deployment_id']} flips it",
                         "check out the same commit as the open job (the workflow's default)")
    text = render(current, flip["flag"], flip["new"])
    new_file = parse(text, path=current.path, environment=env.name)
    if new_file.digest != flip["digest"]:
        raise EvidenceError(f"the flipped flag file is not the one deployment {h['deployment_id']} records",
                            f"its digest is {new_file.digest} but the record names {flip['digest']}",
                            "check out the same commit as the open job (the workflow's default)")
    req = FlagRequest(environment=env.name, flag=flip["flag"], variant=flip["new"], mode=h["mode"], command=req.command)
    return _hand_over(ctx, env, req, current, text, new_file.digest, (h["version"], h["digest"]), h["deployment_id"], log)


def flipped_file(ctx, h: dict) -> FlagFile:
    """The split layout's record job: the file the deploy job handed over, flipped again from this
    job's checkout (for the commit), checked against the record's digest."""
    flip = h["flag"]
    current = load(ctx.workspace, h["environment"])
    if current is None or flip["flag"] not in current.flags:
        raise InputError(f"{h['environment']} has no flag {show(flip['flag'])} in this checkout",
                         f"deployment {h['deployment_id']} flips it", "check out the same commit as the open job")
    text = render(current, flip["flag"], flip["new"])
    if digest(text) != flip["digest"]:
        raise EvidenceError(f"the flipped flag file is not the one deployment {h['deployment_id']} records",
                            f"its digest is {digest(text)} but the record names {flip['digest']}",
                            "check out the same commit as the open job (the workflow's default)")
    write(current, text)
    return load(ctx.workspace, h["environment"])


def _flipped_in_this_run(client, ctx, environment: str, req: FlagRequest) -> bool:
    """A re-run finds the file already flipped by its first attempt: it goes on to find its record."""
    return any(r.of_run(ctx.run_id) and _release_of(r) == (req.flag, req.variant)
               for r in read_ledger(client, ctx, [environment]).of(environment)) if ctx.run_id else False


def _release_of(record) -> tuple[str, str] | None:
    release = (record.payload or {}).get("flag_release")
    return (release["flag"], release["new"]) if release else None
