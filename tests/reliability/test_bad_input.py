"""A corpus of malformed inputs: each ends in one line naming the value, the cause and the fix,
a non-zero exit, no traceback, and no change at all in the double."""

from __future__ import annotations

import json

import pytest

PROMOTE = ["promote", "--environment", "staging", "--version", "1.0.0", "--mode", "deployment"]
STRATEGY = ("environments: [{{name: staging}}, {{name: production, strategy: {}, "
            "hooks: {{shift-traffic: ./s.sh, switch: ./w.sh}}}}]\nanalysis: {{a: {{command: {{run: 'true'}}}}}}\n")


def _config(text):
    return ("config", text)


# (id, argv, setup items, expected exit code, text the one-line error must contain)
CASES = [
    # .github/cd.yml: YAML and schema
    ("yaml-unclosed", PROMOTE, [_config("environments: [")], 2, "not valid YAML"),
    ("yaml-tab", PROMOTE, [_config("environments:\n\t- name: a\n")], 2, "not valid YAML"),
    ("yaml-bad-indent", PROMOTE, [_config("environments:\n  - name: a\n   - name: b\n")], 2, "line 3"),
    ("envs-not-list", PROMOTE, [_config("environments: staging")], 2, "`environments`"),
    ("envs-empty", PROMOTE, [_config("environments: []")], 2, "should not be empty"),
    ("env-unknown-key", PROMOTE, [_config("environments: [{name: prod, colour: red}]")], 2, "colour"),
    ("env-no-name", PROMOTE, [_config("environments: [{url: 'https://x'}]")], 2, "'name' is a required property"),
    ("env-bad-name", PROMOTE, [_config("environments: [{name: 'bad name!'}]")], 2, "bad name!"),
    ("soak-negative", PROMOTE, [_config("environments: [{name: a, soak-minutes: -1}]")], 2, "soak-minutes"),
    ("soak-text", PROMOTE, [_config("environments: [{name: a, soak-minutes: lots}]")], 2, "'lots'"),
    ("url-scheme", PROMOTE, [_config("environments: [{name: a, url: 'ftp://x'}]")], 2, "ftp://x"),
    ("contexts-dup", PROMOTE, [_config("environments: [{name: a, required-contexts: [ci, ci]}]")], 2, "required-contexts"),
    ("gate-not-string", PROMOTE, [_config("gate: {environment: 5}")], 2, "gate/environment"),
    ("gate-protects-unknown", PROMOTE, [_config("gate: {protects: [qa]}")], 2, "'qa'"),
    ("gate-in-path", PROMOTE, [_config("gate: {environment: production}")], 2, "'production'"),
    ("env-twice", PROMOTE, [_config("environments: [{name: a}, {name: A}]")], 2, "appears twice"),
    ("tag-prefix", PROMOTE, [_config("tag: {prefix: 'v x'}")], 2, "'v x'"),
    ("version-base", PROMOTE, [_config("versioning: {base: '1.02'}")], 2, "'1.02'"),
    ("schema-version", PROMOTE, [_config("version: 2")], 2, "`version`"),
    ("unknown-top-key", PROMOTE, [_config("stages: []")], 2, "stages"),
    ("top-level-list", PROMOTE, [_config("- just a list")], 2, "(top level)"),
    ("config-missing", [*PROMOTE, "--config", "nowhere.yml"], [], 2, "nowhere.yml"),
    # versions
    ("version-two-parts", ["release", "--version", "1.2", "--artifact", "{artifact}"], [], 2, "'1.2'"),
    ("version-leading-zero", ["release", "--version", "01.2.3", "--artifact", "{artifact}"], [], 2, "'01.2.3'"),
    ("version-word", ["release", "--version", "latest", "--artifact", "{artifact}"], [], 2, "'latest'"),
    ("version-dangling-dash", ["release", "--version", "1.0.0-", "--artifact", "{artifact}"], [], 2, "'1.0.0-'"),
    ("promote-version-v1", ["promote", "--environment", "staging", "--version", "v1", "--mode", "deployment"], [], 2, "'v1'"),
    ("promote-version-four", ["promote", "--environment", "staging", "--version", "1.0.0.0", "--mode", "deployment"], [], 2, "'1.0.0.0'"),
    ("promote-no-version", ["promote", "--environment", "staging", "--mode", "deployment"], [], 2, "no version given"),
    # digests, images, artifacts, commits
    ("digest-short", [*PROMOTE, "--digest", "sha256:abc"], ["release"], 2, "'sha256:abc'"),
    ("digest-md5", [*PROMOTE, "--digest", "md5:" + "a" * 32], ["release"], 2, "md5:"),
    ("digest-other", [*PROMOTE, "--digest", "sha256:" + "b" * 64], ["release"], 7, "sha256:" + "b" * 64),
    ("image-by-tag", ["release", "--version", "1.0.0", "--image", "ghcr.io/acme/app:latest"], [], 2, "ghcr.io/acme/app:latest"),
    ("image-short-digest", ["release", "--version", "1.0.0", "--image", "acme/app@sha256:12ab"], [], 2, "acme/app@sha256:12ab"),
    ("artifact-missing", ["release", "--version", "1.0.0", "--artifact", "/nonexistent/dist"], [], 2, "/nonexistent/dist"),
    ("artifact-empty", ["release", "--version", "1.0.0", "--artifact", "{empty}"], [], 2, "hold no files"),
    ("commit-short", ["release", "--version", "1.0.0", "--artifact", "{artifact}", "--commit", "abc123"], [], 2, "'abc123'"),
    ("commit-unknown", ["release", "--version", "1.0.0", "--artifact", "{artifact}", "--commit", "c" * 40], [], 2, "c" * 40),
    ("artifact-changed", [*PROMOTE, "--artifact", "{other}"], ["release"], 7, "is not release 1.0.0"),
    # environments
    ("env-typo", ["promote", "--environment", "prodution", "--version", "1.0.0", "--mode", "deployment"], ["release"], 2, "'prodution'"),
    ("env-empty", ["promote", "--environment", "", "--version", "1.0.0", "--mode", "deployment"], [], 2, "no environment"),
    ("env-injection", ["promote", "--environment", "staging; rm -rf /", "--version", "1.0.0", "--mode", "deployment"], [], 2, "'staging; rm -rf /'"),
    ("env-gate-itself", ["promote", "--environment", "production-approval", "--version", "1.0.0", "--mode", "deployment"], [], 2, "'production-approval'"),
    # modes
    ("mode-continuous", ["promote", "--environment", "staging", "--version", "1.0.0", "--mode", "continuous"], ["release"], 2, "'continuous'"),
    ("mode-deploy", ["promote", "--environment", "staging", "--version", "1.0.0", "--mode", "deploy"], ["release"], 2, "'deploy'"),
    ("mode-true", ["promote", "--environment", "staging", "--version", "1.0.0", "--mode", "true"], ["release"], 2, "'true'"),
    ("mode-release", ["release", "--version", "1.0.0", "--artifact", "{artifact}", "--mode", "yes"], [], 2, "'yes'"),
    ("mode-gate", ["gate", "--mode", "Delivery!"], [], 2, "'Delivery!'"),
    # tokens and permissions
    ("token-missing", PROMOTE, ["release", "no-token"], 3, "no GitHub token"),
    ("token-unknown", PROMOTE, ["release", ("tokens", {"someone-else": {}})], 3, "401"),
    ("perm-contents", ["release", "--version", "1.0.0", "--artifact", "{artifact}"], [("tokens", {"TOKEN": {"metadata": "read"}})], 3, "contents: write"),
    ("perm-deployments", PROMOTE, ["release", ("tokens", {"TOKEN": {"contents": "read", "metadata": "read"}})], 3, "deployments: write"),
    ("perm-actions", ["gate", "--mode", "delivery", "--verify"], [("tokens", {"TOKEN": {"contents": "read"}})], 3, "actions: read"),
    # GitHub 404 / 422 and evidence
    ("repo-unknown-graphql", [*PROMOTE, "--repository", "acme/nope"], ["release"], 4, "acme/nope"),
    ("repo-unknown-rest", ["release", "--version", "1.0.0", "--artifact", "{artifact}", "--repository", "acme/nope"], [], 4, "acme/nope"),
    ("version-never-released", ["promote", "--environment", "staging", "--version", "9.9.9", "--mode", "deployment"], [], 4, "'v9.9.9'"),
    ("production-before-staging", ["promote", "--environment", "production", "--version", "1.0.0", "--mode", "deployment"], ["release"], 7, "never succeeded in staging"),
    ("rollback-never-live", [*PROMOTE, "--rollback"], ["release"], 2, "runs nothing yet"),
    # the run context and settings
    ("run-id-text", PROMOTE, ["release", ("env", {"GITHUB_RUN_ID": "abc"})], 2, "'abc'"),
    ("backoff-text", PROMOTE, ["release", ("env", {"CDHELPER_BACKOFF": "fast"})], 2, "'fast'"),
    ("repository-malformed", [*PROMOTE, "--repository", "not a repo"], [], 2, "'not a repo'"),
    ("rollback-not-bool", ["promote"], ["release", ("env", {"INPUT_ENVIRONMENT": "staging", "INPUT_VERSION": "1.0.0", "INPUT_MODE": "deployment", "INPUT_ROLLBACK": "maybe"})], 2, "'maybe'"),
    ("action-command", ["action"], [("env", {"INPUT_COMMAND": "deploy"})], 2, "'deploy'"),
    ("sweep-zero-hours", ["sweep", "--older-than-hours", "0"], [], 2, "'0'"),
    ("sweep-text-hours", ["action"], [("env", {"INPUT_COMMAND": "sweep", "INPUT_OLDER_THAN_HOURS": "soon"})], 2, "'soon'"),
    # --- the hardening review's classes, and more of the same kind ---------------------------------
    # cd.yml: bounded work, no aliases, only a regular file, numbers of any size
    ("yaml-alias-bomb", PROMOTE, [_config("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n")],
     2, "aliases"),
    ("yaml-merge-key", PROMOTE, [_config("base: &b {url: 'https://x'}\nenvironments: [{<<: *b, name: a}]\n")], 2, "aliases"),
    ("yaml-deep-nesting", PROMOTE, [_config("[" * 3000 + "]" * 3000)], 2, "nests too deeply"),
    ("yaml-huge-integer", PROMOTE, [_config("environments: [{name: a, soak-minutes: " + "9" * 5000 + "}]")], 2, "too long"),
    ("yaml-two-documents", PROMOTE, [_config("version: 1\n---\nversion: 1\n")], 2, "not valid YAML"),
    ("yaml-not-utf8", PROMOTE, [("config-bytes", b"environments: [{name: \xff\xfe}]\n")], 2, "not valid YAML"),
    ("soak-over-limit", PROMOTE, [_config("environments: [{name: a, soak-minutes: 100000000000000000000000}]")], 2,
     "at most 43200"),
    ("soak-infinite", PROMOTE, [_config("environments: [{name: a, soak-minutes: .inf}]")], 2, "inf"),
    ("soak-nan", PROMOTE, [_config("environments: [{name: a, soak-minutes: .nan}]")], 2, "nan"),
    ("soak-fraction", PROMOTE, [_config("environments: [{name: a, soak-minutes: 1.5}]")], 2, "1.5"),
    ("config-directory", [*PROMOTE, "--config", "{tmp}"], [], 2, "is a directory"),
    ("config-device", [*PROMOTE, "--config", "/dev/zero"], [], 2, "not a regular file"),
    ("config-too-large", PROMOTE, [_config("# padding\n" * 40000)], 2, "bytes"),
    ("config-nul-in-path", [*PROMOTE, "--config", "cd\x00.yml"], [], 2, "cannot be read"),
    # cd.yml cannot take the production gate away, nor move it
    ("gate-protects-drops-production", PROMOTE, [_config("gate: {protects: [staging]}")], 2, "ungated"),
    ("production-false-on-last", PROMOTE, [_config("environments: [{name: staging}, {name: prod, production: false}]")],
     2, "production: false"),
    ("production-false-on-production", PROMOTE,
     [_config("environments: [{name: production, production: false}, {name: after}]")], 2, "production: false"),
    ("gate-moved-by-config", PROMOTE, [_config("gate: {environment: other-approval}")], 2, "gate-environment"),
    ("gate-input-bad-name", [*PROMOTE, "--gate-environment", "bad name!"], [], 2, "'bad name!'"),
    ("gated-not-bool", ["promote"], ["release", ("env", {"INPUT_ENVIRONMENT": "staging", "INPUT_VERSION": "1.0.0",
                                                          "INPUT_MODE": "deployment", "INPUT_GATED": "sure"})], 2, "'sure'"),
    ("trusted-writer-bad", [*PROMOTE, "--trusted-writer", "evil user!"], ["release"], 2, "'evil user!'"),
    ("trusted-writers-input-bad", PROMOTE, ["release", ("env", {"INPUT_TRUSTED_WRITERS": "ok-bot[bot]\n$(id)"})], 2,
     "'$(id)'"),
    # CD_MODE: exactly delivery, deployment or empty
    ("mode-leading-space", ["promote", "--environment", "staging", "--version", "1.0.0", "--mode", " deployment"],
     ["release"], 2, "' deployment'"),
    ("mode-capitalised", ["promote", "--environment", "staging", "--version", "1.0.0", "--mode", "Deployment"],
     ["release"], 2, "'Deployment'"),
    ("mode-newline", ["gate", "--mode", "delivery\n"], [], 2, "'delivery\\n'"),
    # the run context: URLs, numbers
    ("api-url-not-url", PROMOTE, [("env", {"GITHUB_API_URL": "not a url"})], 2, "GITHUB_API_URL='not a url'"),
    ("api-url-ftp", PROMOTE, [("env", {"GITHUB_API_URL": "ftp://github.example"})], 2, "ftp://github.example"),
    ("api-url-unreachable", PROMOTE, [("env", {"GITHUB_API_URL": "http://127.0.0.1:9"})], 9, "http://127.0.0.1:9"),
    ("graphql-url-script", PROMOTE, [("env", {"GITHUB_GRAPHQL_URL": "javascript:alert(1)"})], 2, "GITHUB_GRAPHQL_URL"),
    ("server-url-spaces", PROMOTE, [("env", {"GITHUB_SERVER_URL": "https://git hub.example"})], 2, "GITHUB_SERVER_URL"),
    ("run-attempt-unicode-digit", PROMOTE, [("env", {"GITHUB_RUN_ATTEMPT": "\u0663"})], 2, "GITHUB_RUN_ATTEMPT"),
    ("run-id-huge", PROMOTE, [("env", {"GITHUB_RUN_ID": "9" * 40})], 2, "GITHUB_RUN_ID"),
    ("repository-id-text", PROMOTE, [("env", {"GITHUB_REPOSITORY_ID": "acme"})], 2, "'acme'"),
    ("runner-temp-is-a-file", PROMOTE, ["release", ("file", "runner-file", "x"), ("env", {"RUNNER_TEMP": "{tmp}/runner-file"})],
     2, "RUNNER_TEMP"),
    # report-check, sweep, finish
    ("check-commit-path", ["report-check", "--context", "acceptance", "--commit", "../../deployments"], [], 2,
     "'../../deployments'"),
    ("check-state-unknown", ["report-check", "--context", "acceptance"], [("env", {"INPUT_STATE": "inactive"})], 2,
     "'inactive'"),
    ("check-context-newline", ["report-check", "--context", "accept\nance"], [], 2, "'accept\\nance'"),
    ("sweep-infinite-hours", ["sweep", "--older-than-hours", "inf"], [], 2, "'inf'"),
    ("sweep-nan-hours", ["sweep", "--older-than-hours", "nan"], [], 2, "'nan'"),
    ("sweep-huge-hours", ["sweep", "--older-than-hours", "1e308"], [], 2, "'1e308'"),
    ("finish-unknown-environment", ["finish", "--environment", "prod", "--job-status", "failure"], [], 2, "'prod'"),
    # strategies, analyses and freezes: refused before anything is written
    ("canary-weights-down", PROMOTE, [_config(STRATEGY.format("{canary: {steps: [{weight: 50}, {weight: 10}, {weight: 100}]}}"))],
     2, "weights must grow"),
    ("canary-over-100", PROMOTE, [_config(STRATEGY.format("{canary: {steps: [{weight: 150}]}}"))], 2, "strategy"),
    ("canary-not-to-100", PROMOTE, [_config(STRATEGY.format("{canary: {steps: [{weight: 10}, {weight: 50}]}}"))],
     2, "end at 50%"),
    ("canary-unknown-analysis", PROMOTE,
     [_config(STRATEGY.format("{canary: {steps: [{weight: 10, analysis: [nope]}, {weight: 100}]}}"))], 2, "'nope'"),
    ("canary-no-shift-hook", PROMOTE, [_config("environments: [{name: staging}, {name: production, "
                                               "strategy: {canary: {steps: [{weight: 100}]}}}]")], 2, "shift-traffic"),
    ("blue-green-no-switch", PROMOTE, [_config("environments: [{name: staging}, {name: production, strategy: blue-green}]")],
     2, "switch hook"),
    ("canary-pause-forever", PROMOTE,
     [_config(STRATEGY.format("{canary: {steps: [{weight: 10}, {pause: forever}, {weight: 100}]}}"))], 2, "forever"),
    ("analysis-unknown-provider", PROMOTE, [_config("analysis: {a: {datadog: {query: x}}}")], 2, "datadog"),
    ("analysis-bad-interval", PROMOTE, [_config("analysis: {a: {command: {run: 'true'}, interval: 10 parsecs, count: 2}}")],
     2, "10 parsecs"),
    ("analysis-two-providers", PROMOTE, [_config("analysis: {a: {command: {run: 'true'}, http: {url: 'https://x'}}}")],
     2, "analysis"),
    ("analysis-ftp-url", PROMOTE, [_config("analysis: {a: {http: {url: 'ftp://x'}}}")], 2, "ftp://x"),
    ("freeze-no-timezone", PROMOTE, [_config("freeze: [{cron: '0 18 * * FRI', duration: 62h}]")], 2, "freeze"),
    ("freeze-minute-60", PROMOTE, [_config("freeze: [{cron: '60 18 * * FRI', duration: 1h, timezone: UTC}]")], 2, "60"),
    ("freeze-unknown-zone", PROMOTE, [_config("freeze: [{from: '2026-12-20T00:00', to: '2026-12-21T00:00', "
                                              "timezone: Mars/Olympus}]")], 2, "Mars/Olympus"),
    ("strategy-input-not-yaml", [*PROMOTE, "--strategy", "[oops"], ["release"], 2, "not YAML"),
    ("strategy-input-unknown", [*PROMOTE, "--strategy", "big-bang"], ["release"], 2, "'big-bang'"),
    ("resume-step-text", [*PROMOTE, "--resume-step", "two"], ["release"], 2, "'two'"),
]


def _world(double) -> str:
    repo = double.repo("acme/app")
    return json.dumps([repo.refs, sorted(repo.tag_objects), repo.deployments, repo.statuses, repo.commit_statuses],
                      sort_keys=True, default=str)


def test_the_corpus_has_at_least_100_cases():
    assert len(CASES) >= 100 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name, argv, setup, code, text", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_fails_in_one_clear_line_and_writes_nothing(name, argv, setup, code, text, pipeline, double,
                                                                   tmp_path, monkeypatch):
    empty, other = tmp_path / "empty", tmp_path / "other"
    empty.mkdir()
    other.mkdir()
    (other / "app.txt").write_text("something else\n")
    extra_env = {}
    for item in setup:
        if item == "release":
            assert pipeline.release().code == 0
        elif item == "no-token":
            monkeypatch.setenv("GITHUB_TOKEN", "")
            extra_env["GITHUB_TOKEN"] = ""
        elif item[0] == "config":
            (tmp_path / ".github").mkdir(exist_ok=True)
            (tmp_path / ".github" / "cd.yml").write_text(item[1])
        elif item[0] == "config-bytes":
            (tmp_path / ".github").mkdir(exist_ok=True)
            (tmp_path / ".github" / "cd.yml").write_bytes(item[1])
        elif item[0] == "file":
            (tmp_path / item[1]).write_text(item[2])
        elif item[0] == "tokens":
            for token, perms in item[1].items():
                double.register_token(pipeline.token if token == "TOKEN" else token, permissions=perms)
        elif item[0] == "env":
            extra_env.update({k: v.format(tmp=tmp_path) for k, v in item[1].items()})
    argv = [a.format(artifact=pipeline.artifact, empty=empty, other=other, tmp=tmp_path) for a in argv]
    before = _world(double)
    result = pipeline.run(*argv, **extra_env)
    assert result.code == code, result.out
    errors = [line for line in result.out.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, result.out
    assert " Fix: " in errors[0] and text in errors[0].replace("%0A", "\n"), errors[0]
    assert "Traceback" not in result.out + result.err
    assert _world(double) == before, "a refused input must change nothing"
