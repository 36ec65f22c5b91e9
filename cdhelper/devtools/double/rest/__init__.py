"""REST endpoints of the GitHub double, one module per resource, all on one router.

Each handler cites the docs page whose behaviour it reproduces. Where GitHub's behaviour is not
documented the choice is noted (see docs/github-double.md for the list). Importing this package
registers every route (no two templates match the same path, so the import order does not matter).
"""

from __future__ import annotations

from . import contents, deployments, environments, git, people, releases, repository, runs, statuses, variables  # noqa: F401
from .common import Ctx, node_id, parse_node_id, repo_json, router
from .deployments import add_status
from .environments import branch_allowed, ensure_environment, environment_json
from .runs import apply_planned_reviews, new_run, request_review, review

__all__ = ["Ctx", "add_status", "apply_planned_reviews", "branch_allowed", "ensure_environment", "environment_json",
           "new_run", "node_id", "parse_node_id", "repo_json", "request_review", "review", "router"]
