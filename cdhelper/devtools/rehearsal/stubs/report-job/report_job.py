"""Tell the GitHub double that a job of the rehearsed run started or ended, as GitHub knows it
itself: each job is a check run (the required-contexts evidence), and on GitHub Enterprise Server
a job bound to an environment creates a deployment record. act does not tell anyone, so the
rehearsal adds this as the first and the last step of every job of its scratch copy.

    python3 report_job.py start NAME ENVIRONMENT   (job id written to $GITHUB_ENV)
    python3 report_job.py end STATUS               (STATUS: job.status)
"""

import json
import os
import sys
import urllib.request


def call(method: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(os.environ["CDHELPER_REHEARSAL_DOUBLE"] + path, method=method,
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"{}")


def main(argv: list[str]) -> int:
    repo = os.environ["GITHUB_REPOSITORY"]
    if argv[0] == "start":
        body = {"name": argv[1], "attempt": int(os.environ.get("GITHUB_RUN_ATTEMPT") or 1)}
        if argv[2]:
            body["environment"] = argv[2]
        made = call("POST", f"/_double/repos/{repo}/runs/{os.environ['GITHUB_RUN_ID']}/jobs", body)
        with open(os.environ["GITHUB_ENV"], "a", encoding="utf-8") as fh:
            fh.write(f"CDHELPER_REHEARSAL_JOB_ID={made['id']}\n")
        return 0
    conclusion = {"success": "success", "failure": "failure", "cancelled": "cancelled"}.get(argv[1], "failure")
    call("PATCH", f"/_double/repos/{repo}/jobs/{os.environ['CDHELPER_REHEARSAL_JOB_ID']}",
         {"status": "completed", "conclusion": conclusion})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
