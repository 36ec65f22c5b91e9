"""`cdhelper doctor`: static checks of the workflows against cdhelper's contract and, with a token,
read-only checks of the repository's settings (cdhelper/doctor/, docs/doctor.md)."""

from __future__ import annotations

import os

from cdhelper.cli import edge

JSON_VERSION = 1
ENABLE_SETTINGS = ("settings checks skipped: no token. To run them, set GITHUB_TOKEN (a token that may read the "
                   "repository's environments: `actions: read`) and GITHUB_REPOSITORY=OWNER/NAME, or pass "
                   "--repository; GITHUB_API_URL for GitHub Enterprise Server")


def register(sub) -> dict:
    p = sub.add_parser("doctor", help="check workflows (and, with a token, repository settings) against cdhelper's "
                       "contract")
    p.add_argument("--workflows", action="append", default=None, metavar="PATH",
                   help="a workflow file or a directory of them (repeatable; default .github/workflows)")
    # Defaults from the action inputs, so the root action can run it (`command: doctor`).
    p.add_argument("--config", default=edge.input_value("config") or None,
                   help="path of cd.yml (default .github/cd.yml, or the defaults)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON (docs/doctor.md)")
    p.add_argument("--repository", default=edge.input_value("repository"), help="OWNER/NAME for the settings checks (default $GITHUB_REPOSITORY)")
    edge.gate_options(p, job=False, unset=None)  # unset: cd.yml's
    edge.mode_option(p, unset=None,  # unset: read from the repository's variables
                     help="CD_MODE as the workflow sees it (pass ${{ vars.CD_MODE }}), checked when the token cannot "
                          "read variables (GITHUB_TOKEN cannot)")
    return {"doctor": run}


def run(args, io) -> int:
    from cdhelper import doctor
    from cdhelper.doctor import settings
    workspace = os.environ.get("GITHUB_WORKSPACE") or "."
    # GitHub Enterprise Server has no `deployment: false`, and act (a rehearsal: ACT=true) rejects it
    no_deployment_key = (os.environ.get("GITHUB_API_URL", "").rstrip("/").endswith("/api/v3")
                         or os.environ.get("ACT") == "true")
    files = doctor.workflow_files(args.workflows, workspace)
    rules = doctor.contract(args.config, workspace=workspace, gate_environment=args.gate_environment, no_deployment_key=no_deployment_key)
    findings, gates, layouts, soaks = doctor.check_workflows(files, rules, workspace)
    notes: list[str] = []
    repository = args.repository or os.environ.get("GITHUB_REPOSITORY", "")
    checked = ""
    if not edge.read_secrets(io).github_token:
        notes.append(ENABLE_SETTINGS)
    elif not repository:
        notes.append("settings checks skipped: a token is set but no repository. Fix: pass --repository OWNER/NAME "
                     "or set GITHUB_REPOSITORY")
    else:
        ctx = edge.run_context(args, io)
        found, more = settings.check(edge.github_client(ctx), path=rules.path, gates=gates, mode=args.mode,
                                     soaks=soaks)
        findings += found
        notes += more
        checked = ctx.repository
    if args.json:
        io.out_json(as_json(findings, files, rules, gates, soaks, workspace, checked, notes, layouts), indent=2)
    else:
        io.out(text(findings, len(files), checked, notes, layouts))
    if io.in_actions:
        for finding in findings:
            io.annotate(finding.severity, f"{finding.message}. Why: {finding.why}. Fix ({pasted_where(finding)}):\n"
                        f"{finding.fix}",
                        title=f"cdhelper doctor: {finding.rule}", file=finding.file or "", line=finding.line)
        io.append_summary(summary(findings, len(files), notes, layouts))
    error = doctor.failure(findings)
    if error:
        raise error
    return 0


LAYOUTS = {"split": "every job that runs repository code writes nothing",
           "single-job": "a job runs repository code with a token that can write"}


def as_json(findings, files, rules, gates, soaks, workspace, checked, notes, layouts) -> dict:
    from cdhelper.doctor import shown_path
    return {
        "version": JSON_VERSION,
        "workflows": [shown_path(f, workspace) for f in files],
        "layouts": layouts,
        "contract": {"path": list(rules.path), "gate_environments": gates, "soak_environments": soaks},
        "settings": {"checked": bool(checked), "repository": checked or None, "notes": notes},
        "findings": [f.as_json() for f in findings],
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity == "warning" for f in findings),
    }


def pasted_where(finding) -> str:
    """Where the fix goes, in words (Finding.fix_at)."""
    return {"jobs": "under `jobs:`", "job": f"in job `{finding.job}`", "with": f"in the `with:` of the step at line {finding.line}",
            "cd.yml": "in .github/cd.yml", "expression": "in place of the comparison",
            "settings": "in the repository's settings"}.get(finding.fix_at, "at that line")


def text(findings, workflows: int, checked: str, notes: list[str], layouts: dict[str, str]) -> str:
    lines = [f"{path}: info [layout] {name} ({LAYOUTS[name]})" for path, name in layouts.items()]
    for f in findings:
        lines.append(f"{f.where}: {f.severity} [{f.rule}] {f.message}")
        lines.append(f"    why: {f.why}")
        lines.append(f"    fix ({pasted_where(f)}):")
        lines += [f"      {row}" for row in f.fix.splitlines()]
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    scope = f"{workflows} workflow file(s)" + (f" and the settings of {checked}" if checked else "")
    lines.append(f"doctor: {errors} error(s), {warnings} warning(s) in {scope}")
    lines += notes
    return "\n".join(lines)


def summary(findings, workflows: int, notes: list[str], layouts: dict[str, str]) -> str:
    from cdhelper.core.escaping import md_code, md_text, table  # imported when run: keeps --help fast
    head = f"### cdhelper doctor: {len(findings)} finding(s) in {workflows} workflow file(s)\n\n"
    rows = [[f.severity, md_code(f.rule), md_code(f.where), f.message] for f in findings]
    body = table(["Severity", "Rule", "Where", "What"], rows) if rows else "No finding.\n"
    shapes = "".join(f"\n{md_code(path)}: {name} layout ({LAYOUTS[name]})\n" for path, name in layouts.items())
    return head + body + shapes + "".join(f"\n{md_text(n)}\n" for n in notes)
