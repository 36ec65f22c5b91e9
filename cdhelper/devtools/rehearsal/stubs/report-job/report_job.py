"""Tell the GitHub double that a job of the rehearsed run started or ended, as GitHub knows it
itself: each job is a check run (the required-contexts evidence), and on GitHub Enterprise Server
a job bound to an environment creates a deployment record. act does not tell anyone, so the
rehearsal adds this as the first and the last step of every job of its scratch copy.

    python3 report_job.py start NAME ENVIRONMENT KEY   (job id written to $GITHUB_ENV)
    python3 report_job.py end STATUS                   (STATUS: job.status)

The start also gets the job's own GITHUB_TOKEN from the double (GitHub makes one per job, with the
job's permissions; act hands every job the same one). It goes to $GITHUB_ENV as GITHUB_TOKEN, which
the scratch copies read wherever the workflow or cdhelper's actions say `github.token` (and under
the names in JOB_TOKEN_ENV: the job's or the workflow's `env:` entries that are the token), and to
$RUNNER_TEMP/.cdhelper-rehearsal-job-token: on GitHub the runner's worker process holds the token
in memory, where any step that gains root can read it (CVE-2025-30066 dumped it so); that file
stands for that memory, so tests can hand repository code its job's token as a dump would.
"""

import json
import os
import sys
import urllib.error
import urllib.request

TOKEN_FILE = ".cdhelper-rehearsal-job-token"  # in $RUNNER_TEMP: the worker's memory, as a dump reads it


def call(method: str, path: str, body: dict, attempts: int = 3) -> dict:
    request = urllib.request.Request(os.environ["CDHELPER_REHEARSAL_DOUBLE"] + path, method=method,
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as err:  # e.g. a job the rehearsal planned no token for: say so, no traceback
            sys.exit(f"::error::the GitHub double refused {method} {path}: {err.code} {err.read().decode()[:300]}")
        except OSError as err:  # a loaded machine: the double answers late; the job's report must not fail the job
            if attempt == attempts:
                sys.exit(f"::error::the GitHub double did not answer {method} {path} ({attempts} attempts): {err}")
    return {}


def main(argv: list[str]) -> int:
    repo = os.environ["GITHUB_REPOSITORY"]
    if argv[0] == "start":
        body = {"name": argv[1], "attempt": int(os.environ.get("GITHUB_RUN_ATTEMPT") or 1)}
        if argv[2]:
            body["environment"] = argv[2]
        body["token_for"] = argv[3]
        made = call("POST", f"/_double/repos/{repo}/runs/{os.environ['GITHUB_RUN_ID']}/jobs", body)
        token = made["token"]
        print(f"::add-mask::{token}", flush=True)  # GitHub masks the job's token in the log
        with open(os.environ["GITHUB_ENV"], "a", encoding="utf-8") as fh:
            fh.write(f"CDHELPER_REHEARSAL_JOB_ID={made['id']}\n")
            for name in {"GITHUB_TOKEN", *os.environ.get("JOB_TOKEN_ENV", "").split()}:
                fh.write(f"{name}={token}\n")
        dump = os.path.join(os.environ["RUNNER_TEMP"], TOKEN_FILE)
        descriptor = os.open(dump, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
            fh.write(token)
        return 0
    conclusion = {"success": "success", "failure": "failure", "cancelled": "cancelled"}.get(argv[1], "failure")
    call("PATCH", f"/_double/repos/{repo}/jobs/{os.environ['CDHELPER_REHEARSAL_JOB_ID']}",
         {"status": "completed", "conclusion": conclusion})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
