"""Render workflows-templates/cd-pipeline.yml from the reusable workflow .github/workflows/cd.yml.

The template is what a repository copies to own the pipeline; the reusable workflow is what it
calls to adopt it in one `uses:`. Same jobs, so one is made from the other; a test fails when the
committed template is stale. Run: python tests/tools/render_template.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / ".github" / "workflows" / "cd.yml"
TARGET = ROOT / "workflows-templates" / "cd-pipeline.yml"

HEADER = """\
# cdhelper pipeline: build -> release candidate -> staging -> acceptance -> gate -> production.
# Generated from cdhelper's reusable workflow (.github/workflows/cd.yml); edit the commands below.
#
# Continuous Delivery (default): production waits for a reviewer of the `production-approval`
# environment (Settings > Environments: add required reviewers, prevent self-review, no secrets).
# Continuous Deployment: set the repository variable CD_MODE=deployment; production follows
# acceptance automatically. Any other CD_MODE value fails before anything is written.
#
# Repository code (build, deploy command, hooks, analyses, acceptance tests) runs only in jobs whose
# token can write nothing; the jobs that write run nothing from the repository, and keep them so
# (cdhelper's docs/rehearse.md, "Where repository code runs").
name: Continuous delivery

# Deploying jobs serialise per environment (job-level concurrency). No run-level concurrency: it
# would silently cancel a pending newer candidate while a run waits for approval.
on: # zizmor: ignore[concurrency-limits]
  push:
    branches: [$default-branch]
  workflow_dispatch:

env:
  BUILD_COMMAND: make dist # builds the artifact into ARTIFACT_PATH
  ARTIFACT_PATH: dist
  DEPLOY_COMMAND: ./deploy.sh # gets CD_ENVIRONMENT, CD_VERSION, CD_DIGEST, CD_ARTIFACT, ...
  ACCEPTANCE_COMMAND: ./acceptance-tests.sh # gets CD_ENVIRONMENT_URL, CD_VERSION
  VERSION: "" # empty: 0.1.RUN_NUMBER (versioning.base in .github/cd.yml)
  TRUSTED_WRITERS: "" # besides the Actions bot, logins whose deployment records count (an App's name[bot])

permissions: {}

jobs:
"""


def render(source: str) -> str:
    jobs = source.split("\njobs:\n", 1)[1]
    jobs = jobs.replace("${{ inputs.mode }}", "${{ vars.CD_MODE }}")
    jobs = jobs.replace("inputs.mode != 'deployment'", "vars.CD_MODE != 'deployment'")
    # An environment's name cannot come from `env`: the template names the gate environment itself.
    jobs = jobs.replace("${{ inputs.gate-environment }}", "production-approval")
    jobs = jobs.replace("${{ inputs.soak-environment }}", "production-soak")
    jobs = re.sub(r"\$\{\{ inputs\.([a-z-]+) \}\}",
                  lambda m: "${{ env." + m.group(1).upper().replace("-", "_") + " }}", jobs)
    if "inputs." in jobs:
        raise SystemExit("render_template: an `inputs.` reference has no template equivalent")
    return HEADER + jobs


def main() -> int:
    TARGET.write_text(render(SOURCE.read_text()))
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
