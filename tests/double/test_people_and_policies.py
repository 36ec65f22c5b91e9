"""Users and teams (reviewer ids), single deployment branch policies, the caller's repository
permissions and the environment-put-replaces variant: every exchange checked against GitHub's OpenAPI
description by the `double` fixture."""

from __future__ import annotations

import requests

H = {"Authorization": "token t0ken"}


def test_users_are_found_by_login_case_insensitively_and_unknown_ones_are_404(double):
    uid = double.user_id("alice")
    r = requests.get(f"{double.url}/users/ALICE", headers=H)
    assert r.status_code == 200 and r.json()["id"] == uid and r.json()["login"] == "alice"
    assert requests.get(f"{double.url}/users/nobody-here", headers=H).status_code == 404


def test_teams_are_found_by_org_and_slug_and_need_members_read(double):
    team = double.add_team("acme", "release-managers")
    r = requests.get(f"{double.url}/orgs/acme/teams/release-managers", headers=H)
    assert r.status_code == 200
    assert (r.json()["id"], r.json()["slug"], r.json()["organization"]["login"]) == (team, "release-managers", "acme")
    assert requests.get(f"{double.url}/orgs/acme/teams/nope", headers=H).status_code == 404
    assert requests.get(f"{double.url}/orgs/other/teams/release-managers", headers=H).status_code == 404
    double.register_token("no-members", permissions={"metadata": "read", "administration": "write"})
    r = requests.get(f"{double.url}/orgs/acme/teams/release-managers", headers={"Authorization": "token no-members"})
    assert r.status_code == 403


def test_team_reviewers_are_stored_and_shown_with_their_org_and_unknown_teams_are_422(double):
    team = double.add_team("acme", "release-managers")
    url = f"{double.url}/repos/acme/app/environments/production-approval"
    r = requests.put(url, headers=H, json={"reviewers": [{"type": "Team", "id": team}]})
    assert r.status_code == 200
    reviewer = r.json()["protection_rules"][0]["reviewers"][0]
    assert reviewer["type"] == "Team" and reviewer["reviewer"]["id"] == team
    assert reviewer["reviewer"]["html_url"].endswith("/orgs/acme/teams/release-managers")
    assert requests.put(url, headers=H, json={"reviewers": [{"type": "Team", "id": 987654}]}).status_code == 422


def test_a_branch_policy_is_read_and_deleted_by_id_and_tag_policies_have_type_tag(double):
    env = f"{double.url}/repos/acme/app/environments/production/deployment-branch-policies"
    requests.put(f"{double.url}/repos/acme/app/environments/production", headers=H, json={
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}})
    branch = requests.post(env, headers=H, json={"name": "release/*"}).json()
    tag = requests.post(env, headers=H, json={"name": "v*", "type": "tag"}).json()
    assert (branch["type"], tag["type"]) == ("branch", "tag")
    assert requests.get(f"{env}/{tag['id']}", headers=H).json() == tag
    assert requests.delete(f"{env}/{branch['id']}", headers=H).status_code == 204
    assert requests.get(f"{env}/{branch['id']}", headers=H).status_code == 404
    assert requests.delete(f"{env}/{branch['id']}", headers=H).status_code == 404
    assert [p["name"] for p in requests.get(env, headers=H).json()["branch_policies"]] == ["v*"]


def test_repository_permissions_say_whether_the_token_can_administer(double):
    double.register_token("admin", permissions={"metadata": "read", "administration": "write"})
    double.register_token("writer", permissions={"metadata": "read", "contents": "write"})
    double.register_token("classic")  # no permissions: unrestricted, an admin's classic token
    seen = {token: requests.get(f"{double.url}/repos/acme/app", headers={"Authorization": f"token {token}"}).json()
            ["permissions"] for token in ("admin", "writer", "classic")}
    assert (seen["admin"]["admin"], seen["writer"]["admin"], seen["classic"]["admin"]) == (True, False, True)
    assert seen["writer"]["push"] is True


def test_environment_put_replaces_variant_resets_what_the_body_leaves_out(double):
    double.set_environment("acme/app", "production-approval", reviewers=["alice"], prevent_self_review=True,
                           wait_timer=10, branches=["main"])
    url = f"{double.url}/repos/acme/app/environments/production-approval"
    kept = requests.put(url, headers=H, json={"wait_timer": 5}).json()
    assert {r["type"] for r in kept["protection_rules"]} == {"required_reviewers", "wait_timer", "branch_policy"}
    double.set_variants("environment-put-replaces")
    reset = requests.put(url, headers=H, json={"wait_timer": 5}).json()
    assert [r["type"] for r in reset["protection_rules"]] == ["wait_timer"]
    assert reset["deployment_branch_policy"] is None
