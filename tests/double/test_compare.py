"""Compare two commits (https://docs.github.com/rest/commits/commits#compare-two-commits) as GitHub
answers it: `status`, `ahead_by`, `behind_by` and `total_commits` say how the two histories relate,
and without paging the list holds at most 250 commits in chronological order, the last one being
the most recent of the whole comparison (GitHub's description of the operation says so)."""

from __future__ import annotations

import requests

H = {"Authorization": "token t0ken"}


def _compare(double, basehead: str, **params) -> requests.Response:
    return requests.get(f"{double.url}/repos/acme/app/compare/{basehead}", headers=H, params=params, timeout=10)


def _subjects(body: dict) -> list[str]:
    return [c["commit"]["message"] for c in body["commits"]]


def test_diverged_histories_are_told_apart_from_a_head_that_is_only_ahead(double):
    model = double.repo("acme/app")
    base = model.resolve("main")
    hotfix = double.world.add_commit(model, "Hotfix on production", parent=base, branch="hotfix")
    double.world.add_commit(model, "Feature one", branch="main")
    head = double.world.add_commit(model, "Feature two", branch="main")
    ahead = _compare(double, f"{base}...{head}").json()
    assert (ahead["status"], ahead["ahead_by"], ahead["behind_by"], ahead["total_commits"]) == ("ahead", 2, 0, 2)
    diverged = _compare(double, f"{hotfix}...{head}").json()
    assert (diverged["status"], diverged["ahead_by"], diverged["behind_by"]) == ("diverged", 2, 1)
    assert diverged["total_commits"] == 2 and _subjects(diverged) == ["Feature one", "Feature two"]
    back = _compare(double, f"{head}...{hotfix}").json()  # the other way round lists what the head lacks
    assert (back["status"], back["ahead_by"], back["behind_by"]) == ("diverged", 1, 2)
    assert _subjects(back) == ["Hotfix on production"]
    same = _compare(double, f"{head}...{head}").json()
    assert (same["status"], same["ahead_by"], same["behind_by"], same["commits"]) == ("identical", 0, 0, [])
    behind = _compare(double, f"{head}...{base}").json()
    assert (behind["status"], behind["ahead_by"], behind["behind_by"], behind["total_commits"]) == ("behind", 0, 2, 0)


def test_over_250_commits_the_list_ends_with_the_most_recent_and_paging_starts_from_the_oldest(double):
    model = double.repo("acme/app")
    base = model.resolve("main")
    for i in range(312):
        head = double.world.add_commit(model, f"Change {i}", branch="main")
    whole = _compare(double, f"{base}...{head}").json()
    assert whole["total_commits"] == whole["ahead_by"] == 312
    assert len(whole["commits"]) == 250
    assert _subjects(whole)[-1] == "Change 311" and _subjects(whole)[0] == "Change 62"  # the newest 250, oldest first
    first = _compare(double, f"{base}...{head}", per_page=100, page=1)
    assert _subjects(first.json()) == [f"Change {i}" for i in range(100)]
    assert 'rel="next"' in first.headers["Link"] and 'rel="last"' in first.headers["Link"]
    last = _compare(double, f"{base}...{head}", per_page=100, page=4).json()
    assert _subjects(last) == [f"Change {i}" for i in range(300, 312)] and last["total_commits"] == 312


def test_a_merge_commit_lists_both_parents(double):
    model = double.repo("acme/app")
    base = model.resolve("main")
    topic = double.world.add_commit(model, "Fix the login redirect", parent=base, branch="fix-login")
    merge = double.world.add_commit(model, "Merge pull request #13 from acme/fix-login", branch="main", merge=topic)
    body = _compare(double, f"{base}...{merge}").json()
    assert _subjects(body) == ["Fix the login redirect", "Merge pull request #13 from acme/fix-login"]
    assert [p["sha"] for p in body["commits"][-1]["parents"]] == [base, topic]
