"""`cdhelper environments plan|apply` against the double over real HTTP (every exchange checked against
GitHub's OpenAPI description by the `double` fixture)."""

from __future__ import annotations

import pytest

CONFIG = """
environments:
  - name: qa
    wait-timer: 5
    deployment-branches: [main]
    deployment-tags: ["v*"]
  - name: production
    deployment-branches: [main]
gate:
  reviewers: [alice, team:acme/release-managers]
  prevent-self-review: true
  wait-timer: 30
"""

DRIFT = """\
+ create environment qa
~ qa: wait-timer 0 -> 5
~ qa: deployment-branches all -> custom
+ qa: branch policy main
+ qa: tag policy v*
- production: branch policy release/*
+ production-approval: reviewer alice
+ production-approval: reviewer team:acme/release-managers
- production-approval: reviewer bob
~ production-approval: prevent-self-review false -> true
~ production-approval: wait-timer 0 -> 30
Drift: 11 change(s) in 3 of 3 environment(s) (1 to create)."""


@pytest.fixture
def drifted(envs):
    envs.double.user_id("alice")
    envs.double.add_team("acme", "release-managers")
    envs.double.set_environment("acme/app", "production-approval", reviewers=["bob"])
    envs.double.set_environment("acme/app", "production", branches=["main", "release/*"])
    envs.write_config(CONFIG)
    return envs


def writes(double) -> list[str]:
    return [e.key for e in double.log if e.method in {"POST", "PUT", "PATCH", "DELETE"}]


def test_plan_lists_the_drift_exactly_and_writes_nothing(drifted):
    drifted.double.reset_log()
    result = drifted.run("environments", "plan", actions=False)
    assert result.code == 0, result.err
    assert result.out.strip() == DRIFT
    assert writes(drifted.double) == []


def test_plan_json(drifted):
    data = drifted.run("environments", "plan", "--json", actions=False).data
    assert data["drift"] is True and data["applied"] == 0 and data["warnings"] == []
    assert [(e["name"], e["exists"], len(e["changes"])) for e in data["environments"]] == [
        ("qa", False, 5), ("production", True, 1), ("production-approval", True, 5)]
    assert data["environments"][2]["changes"][4] == {
        "environment": "production-approval", "action": "set", "field": "wait-timer", "from": 0, "to": 30}
    assert data["environments"][1]["changes"] == [{
        "environment": "production", "action": "remove", "field": "branch-policy", "from": "release/*", "to": None}]


@pytest.mark.parametrize("variant", [None, "environment-put-replaces"])
def test_apply_then_plan_shows_no_drift_and_a_second_apply_writes_nothing(drifted, variant):
    if variant:
        drifted.double.set_variants(variant)
    result = drifted.run("environments", "apply", actions=False)
    assert result.code == 0, result.err
    assert result.out.strip().splitlines()[-1] == "Applied 11 change(s) in 3 environment(s)."
    repo = drifted.double.repo("acme/app")
    gate = repo.environments["production-approval"]
    assert (gate["wait_timer"], gate["prevent_self_review"], len(gate["reviewers"])) == (30, True, 2)
    assert sorted((p["type"], p["name"]) for p in repo.environments["qa"]["branch_policies"]) == [
        ("branch", "main"), ("tag", "v*")]
    assert [p["name"] for p in repo.environments["production"]["branch_policies"]] == ["main"]
    again = drifted.run("environments", "plan", actions=False)
    assert again.out.strip() == "No drift: 3 environment(s) match .github/cd.yml."
    drifted.double.reset_log()
    assert drifted.run("environments", "apply", actions=False).code == 0
    assert writes(drifted.double) == []


@pytest.mark.parametrize("variant", [None, "environment-put-replaces"])
def test_fields_the_file_does_not_mention_survive_apply(envs, variant):
    if variant:
        envs.double.set_variants(variant)
    envs.double.set_environment("acme/app", "production", reviewers=["carol"], prevent_self_review=True,
                                wait_timer=15, branches=["main"], tags=["v*"])
    envs.double.set_environment("acme/app", "production-approval", reviewers=["dave"], prevent_self_review=True,
                                branches="protected")
    envs.write_config("environments:\n  - name: staging\n  - name: production\n    wait-timer: 20\n"
                      "    deployment-branches: [main, hotfix/*]\ngate:\n  wait-timer: 10\n")
    result = envs.run("environments", "apply", actions=False)
    assert result.code == 0, result.err
    repo = envs.double.repo("acme/app")
    prod, gate = repo.environments["production"], repo.environments["production-approval"]
    assert [envs.double.world.login_of(r["id"]) for r in prod["reviewers"]] == ["carol"]
    assert (prod["prevent_self_review"], prod["wait_timer"]) == (True, 20)
    # tag policies are not managed when deployment-tags is absent: v* stays
    assert sorted((p["type"], p["name"]) for p in prod["branch_policies"]) == [
        ("branch", "hotfix/*"), ("branch", "main"), ("tag", "v*")]
    assert [envs.double.world.login_of(r["id"]) for r in gate["reviewers"]] == ["dave"]
    assert (gate["prevent_self_review"], gate["wait_timer"]) == (True, 10)
    assert gate["deployment_branch_policy"] == {"protected_branches": True, "custom_branch_policies": False}


def non_admin(double, token):
    double.register_token(token, login="mallory", kind="user",
                          permissions={"metadata": "read", "actions": "read", "contents": "write", "members": "read"})


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_token_that_cannot_administer_is_refused_in_one_line_with_nothing_written(drifted, dry_run):
    non_admin(drifted.double, drifted.token)
    drifted.double.reset_log()
    result = drifted.run("environments", "apply", *(["--dry-run"] if dry_run else []), actions=False)
    assert result.code == 3
    assert result.out == ""
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert errors == ["error: Missing permission: environments apply needs a token that can administer acme/app: "
                      "GitHub says this token cannot (permissions.admin is false). Fix: pass a token of a repository "
                      "admin: a fine-grained token with Administration: write (and Members: read for team reviewers) "
                      "or a classic token with repo scope; GITHUB_TOKEN can never administer environments"]
    assert writes(drifted.double) == []
    assert "qa" not in drifted.double.repo("acme/app").environments


def test_plan_works_with_a_read_only_token(drifted):
    non_admin(drifted.double, drifted.token)
    assert drifted.run("environments", "plan", actions=False).out.strip() == DRIFT


def test_dry_run_reads_only_and_exits_as_apply_does(drifted):
    drifted.double.reset_log()
    result = drifted.run("environments", "apply", "--dry-run", actions=False)
    assert result.code == 0, result.err
    assert result.out.strip().splitlines() == [*DRIFT.splitlines()[:-1],
                                               "Dry run, nothing written: apply would make 11 change(s) in 3 environment(s)."]
    assert writes(drifted.double) == []
    assert drifted.run("environments", "plan", actions=False).out.strip() == DRIFT
    assert drifted.run("environments", "apply", actions=False).code == 0


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_unknown_reviewer_is_refused_before_any_write(drifted, dry_run):
    drifted.write_config(CONFIG.replace("alice", "nobody-here"))
    drifted.double.reset_log()
    result = drifted.run("environments", "apply", *(["--dry-run"] if dry_run else []), actions=False)
    assert result.code == 2
    assert [line for line in result.err.splitlines() if line.startswith("error:")] == [
        "error: Invalid configuration: .github/cd.yml: reviewer 'nobody-here' of production-approval is not a GitHub "
        "user: GitHub answered 404 for /users/nobody-here. Fix: correct the login (as in https://github.com/LOGIN), "
        f"or remove it from reviewers; on the GitHub double at {drifted.double.url}, make the user known first: "
        "start it with `cdhelper github-double --user nobody-here`"]
    assert writes(drifted.double) == []


def test_an_unknown_team_is_refused(drifted):
    drifted.write_config(CONFIG.replace("release-managers", "nope"))
    result = drifted.run("environments", "plan", actions=False)
    assert result.code == 2
    assert "reviewer 'team:acme/nope' of production-approval is not a team of acme" in result.err


@pytest.mark.parametrize("event, ref, code", [("pull_request", "refs/pull/7/merge", 3), ("push", "refs/heads/feature", 3),
                                              ("pull_request_target", "refs/heads/main", 3),
                                              ("push", "refs/heads/main", 0), ("workflow_dispatch", "refs/heads/main", 0)])
def test_apply_in_actions_runs_only_on_the_default_branch_from_trusted_events(drifted, event, ref, code):
    for dry_run in (True, False):  # the same answer with and without --dry-run
        drifted.double.reset_log()
        result = drifted.run("environments", "apply", *(["--dry-run"] if dry_run else []),
                             GITHUB_EVENT_NAME=event, GITHUB_REF=ref)
        assert result.code == code, result.err
        if code:
            assert f"environments apply refused in a {event} run of {ref}" in result.err
            assert writes(drifted.double) == []


def test_plan_warns_when_the_gate_has_no_reviewers(envs):
    envs.write_config("environments:\n  - name: staging\n    wait-timer: 1\n  - name: production\n")
    result = envs.run("environments", "plan", actions=False)
    assert result.code == 0
    assert ("! gate environment production-approval has no required reviewers: in delivery mode nothing holds "
            "production for an approval; name them under gate.reviewers") in result.out


@pytest.mark.parametrize("text, message", [
    ("gate:\n  reviewers: []\n", "key `gate/reviewers` is empty"),
    ("gate:\n  reviewers: [alice]\n  prevent-self-review: false\n", "key `gate/prevent-self-review` is false"),
    ("environments:\n  - name: production\n    wait-timer: -1\n",
     "key `environments/0/wait-timer` is invalid: -1 should be at least 0"),
    ("environments:\n  - name: production\n    wait-timer: 43201\n", "should be at most 43200"),
    ("environments:\n  - name: production\n    deployment-branches: ['release/ x']\n",
     "key `environments/0/deployment-branches` has 'release/ x': it is not a branch name pattern"),
    ("environments:\n  - name: production\n    deployment-branches: [main]\n    deployment-tags: ['refs/tags/v*']\n",
     "GitHub matches tag names, without the refs/ prefix. Fix: write 'v*'"),
    ("environments:\n  - name: production\n    reviewers: ['not a login']\n", "key `environments/0/reviewers/0` is invalid"),
    ("environments:\n  - name: production\n    reviewers: [a, b, c, d, e, f, g]\n", "key `environments/0/reviewers`"),
])
def test_bad_values_are_one_line_config_errors_before_any_request(envs, text, message):
    envs.write_config(text)
    envs.double.reset_log()
    for action in ("plan", "apply"):
        result = envs.run("environments", action, actions=False)
        assert result.code == 2
        errors = [line for line in result.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], result.err
        assert "Traceback" not in result.err
    assert envs.double.log == []


def test_a_team_the_token_cannot_look_up_is_refused_before_any_write(drifted):
    drifted.double.register_token(drifted.token, login="admin", kind="user",
                                  permissions={"metadata": "read", "actions": "read", "administration": "write"})
    drifted.double.reset_log()
    result = drifted.run("environments", "apply", actions=False)
    assert result.code == 3
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "looking up team acme/release-managers was refused" in errors[0]
    assert "members: read (organization)" in errors[0]
    assert writes(drifted.double) == []


def test_apply_json_reports_what_was_applied(drifted):
    data = drifted.run("environments", "apply", "--json", actions=False).data
    assert (data["applied"], data["dry_run"], data["drift"]) == (11, False, True)
    assert data["outcome"] == "Applied 11 change(s) in 3 environment(s)."
    dry = drifted.run("environments", "apply", "--dry-run", "--json", actions=False).data
    assert (dry["applied"], dry["dry_run"], dry["drift"]) == (0, True, False)


def test_a_team_already_listed_needs_no_lookup_and_no_drift_costs_no_write(envs):
    envs.double.set_environment("acme/app", "production-approval", reviewers=["team:acme/release-managers"],
                                prevent_self_review=True)
    envs.write_config("gate:\n  reviewers: [team:acme/release-managers]\n  prevent-self-review: true\n")
    envs.double.reset_log()
    result = envs.run("environments", "apply", actions=False)
    assert result.out.strip() == "No drift: 1 environment(s) match .github/cd.yml."
    assert [e.route for e in envs.double.log if "/teams/" in e.route or "/users/" in e.route] == []
    assert writes(envs.double) == []


def test_the_gate_is_the_workflows_when_named(envs):
    envs.double.user_id("alice")
    envs.write_config("gate:\n  reviewers: [alice]\n")
    result = envs.run("environments", "plan", "--gate-environment", "release-approval", actions=False)
    assert result.out.strip().splitlines()[:2] == ["+ create environment release-approval",
                                                   "+ release-approval: reviewer alice"]
    envs.write_config("gate:\n  environment: other-approval\n  reviewers: [alice]\n")
    refused = envs.run("environments", "apply", "--gate-environment", "release-approval", actions=False)
    assert refused.code == 2 and "the gate is the workflow's to say" in refused.err


def test_a_change_github_refuses_is_one_line_and_names_what_was_made(drifted):
    def account_deleted(req, resp):  # alice's account goes away between the lookup and the write
        if req.path == "/users/alice":
            drifted.double.world.users.pop("alice", None)
    drifted.double.observe(account_deleted)
    result = drifted.run("environments", "apply", actions=False)
    assert result.code == 9
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: GitHub API error: GitHub refused a change to environment production-approval: "
                                "422 Invalid request.")
    assert "User with id" in errors[0] and "; 6 change(s) were made before it" in errors[0]


def test_where_github_does_not_report_admin_the_first_refused_write_says_it_and_nothing_is_written(drifted):
    drifted.double.set_variants("repo-permissions-absent")
    non_admin(drifted.double, drifted.token)
    drifted.double.reset_log()
    result = drifted.run("environments", "apply", actions=False)
    assert result.code == 3
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "environments apply needs a token that can administer acme/app" in errors[0]
    assert "; 0 change(s) were made before it" in errors[0]
    assert [(e.key, e.status) for e in drifted.double.log if e.method != "GET"] == [
        ("PUT /repos/{owner}/{repo}/environments/{environment_name}", 403)]
    assert "qa" not in drifted.double.repo("acme/app").environments


SOAK_CONFIG = """
environments:
  - name: staging
  - name: production
    hooks: {deploy: ./deploy.sh, shift-traffic: ./shift-traffic.sh}
    strategy: {canary: {steps: [{weight: 20}, {pause: hold}, {weight: 100}]}}
    soak-environment: {name: prod-bake, wait-timer: 60}
"""


def test_the_soak_environment_is_declared_with_its_wait_timer_and_no_reviewers(envs):
    """Issue 22: environments as code could not declare the soak environment a `pause: hold` needs."""
    envs.double.user_id("alice")
    envs.double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    envs.write_config(SOAK_CONFIG)
    result = envs.run("environments", "plan", actions=False)
    assert result.code == 0, result.err
    assert result.out.strip().splitlines()[:2] == ["+ create environment prod-bake", "~ prod-bake: wait-timer 0 -> 60"]
    result = envs.run("environments", "apply", actions=False)
    assert result.code == 0, result.err
    soak = envs.double.repo("acme/app").environments["prod-bake"]
    assert (soak["wait_timer"], soak["reviewers"]) == (60, [])
    assert "Drift" not in envs.run("environments", "plan", actions=False).out


def test_a_soak_environment_with_reviewers_loses_them(envs):
    """Reviewers would hold the resume for a person: the soak environment has none."""
    envs.double.user_id("alice")
    envs.double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True)
    envs.double.set_environment("acme/app", "prod-bake", reviewers=["alice"], wait_timer=60)
    envs.write_config(SOAK_CONFIG)
    result = envs.run("environments", "plan", actions=False)
    assert result.code == 0, result.err
    assert "- prod-bake: reviewer alice" in result.out.splitlines()
