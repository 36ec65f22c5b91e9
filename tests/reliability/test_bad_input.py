"""A corpus of malformed inputs: each ends in one line naming the value, the cause and the fix,
a non-zero exit, no traceback, and no change at all in the double."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.progressive.test_rollouts import HOLD, rollouts  # noqa: F401 - the fixture, for a paused rollout

PROMOTE = ["promote", "--environment", "staging", "--version", "1.0.0", "--mode", "deployment"]
STRATEGY = ("environments: [{{name: staging}}, {{name: production, strategy: {}, "
            "hooks: {{shift-traffic: ./s.sh, switch: ./w.sh}}}}]\nanalysis: {{a: {{command: {{run: 'true'}}}}}}\n")


STEP = {"INPUT_ENVIRONMENT": "staging", "INPUT_VERSION": "1.0.0", "INPUT_MODE": "deployment"}  # a promote step's inputs
FLAG_FILE = ("file", ".github/flags/staging.flagd.json",
             '{"flags": {"new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, '
             '"defaultVariant": "off"}}}')


MOVED_GATE = ("config", "gate: {environment: other-approval}")


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
    ("promote-no-version", ["promote", "--environment", "staging", "--mode", "deployment"], [], 2, "--version is missing"),
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
    ("env-empty", ["promote", "--environment", "", "--version", "1.0.0", "--mode", "deployment"], [], 2, "--environment is missing"),
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
    # ... and the refusal says what the helper knows: the value passed, or that none was (finding 13)
    ("gate-moved-input-default", PROMOTE, [MOVED_GATE, ("env", {"INPUT_GATE_ENVIRONMENT": "production-approval"})], 2,
     "the workflow passes gate-environment 'production-approval' (the default, also when it passes none)"),
    ("gate-moved-input-empty", PROMOTE, [MOVED_GATE, ("env", {"INPUT_GATE_ENVIRONMENT": ""})], 2,
     "the workflow passes no gate-environment (default 'production-approval')"),
    ("gate-moved-input-other", PROMOTE, [MOVED_GATE, ("env", {"INPUT_GATE_ENVIRONMENT": "release-gate"})], 2,
     "the workflow passes gate-environment 'release-gate'"),
    # by hand with no --gate-environment, cd.yml's gate is the default (issue 22): tests/cli/test_gate_and_soak_defaults.py
    ("gate-moved-flag", [*PROMOTE, "--gate-environment", "release-gate"], [MOVED_GATE, "by-hand"], 2,
     "--gate-environment is 'release-gate'"),
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
    # --- every required value arriving empty, argparse's own errors, hostile text, numbers -----------
    # A required action input that arrives empty or blank names the input and the step's `with:`
    ("input-context-empty", ["report-check"], [("env", {"INPUT_CONTEXT": ""})], 2, "the `context` input is empty"),
    ("input-context-blank", ["report-check"], [("env", {"INPUT_CONTEXT": " \n\t"})], 2, "set `context:` in the step"),
    ("input-environment-empty", ["promote"], [("env", {**STEP, "INPUT_ENVIRONMENT": ""})], 2,
     "the `environment` input is empty"),
    ("input-version-blank", ["promote"], [("env", {**STEP, "INPUT_VERSION": "  "})], 2, "the `version` input is empty"),
    ("action-context-empty", ["action"], [("env", {"INPUT_COMMAND": "report-check", "INPUT_CONTEXT": ""})], 2,
     "the `context` input is empty"),
    ("action-environment-empty", ["action"], [("env", {**STEP, "INPUT_COMMAND": "promote", "INPUT_ENVIRONMENT": " "})],
     2, "the `environment` input is empty"),
    ("action-brief-version-empty", ["action"], [("env", {"INPUT_COMMAND": "brief", "INPUT_VERSION": ""})], 2,
     "the `version` input is empty"),
    # ... and a required flag left out or empty names the flag
    ("flag-context-missing", ["report-check"], [], 2, "--context"),
    ("flag-context-blank", ["report-check", "--context", "  "], [], 2, "--context"),
    ("flag-context-by-hand", ["report-check", "--context", ""], ["by-hand"], 2, "--context"),
    ("flag-version-blank", ["promote", "--environment", "staging", "--version", " ", "--mode", "deployment"], [], 2,
     "--version"),
    ("flags-set-no-environment", ["flags", "set", "new-checkout", "on"], [], 2, "--environment"),
    ("flags-set-environment-empty", ["flags", "set", "new-checkout", "on", "--environment", ""], [], 2, "--environment"),
    ("brief-no-version", ["brief", "--environment", "production"], [], 2, "--version"),
    # argparse's own errors: one line in Actions and by hand, never the usage text
    ("argparse-unknown-flag", ["promote", "--enviroment", "staging"], [], 2, "--enviroment"),
    ("argparse-unknown-command", ["promot"], [], 2, "'promot'"),
    ("argparse-no-command", [], [], 2, "COMMAND"),
    ("argparse-value-missing", ["report-check", "--context"], [], 2, "--context"),
    ("argparse-bad-choice", ["rehearse", "--scenario", "everything"], [], 2, "'everything'"),
    ("argparse-flags-no-action", ["flags"], [], 2, "ACTION"),
    ("argparse-unknown-flag-by-hand", ["status", "--jsn"], ["by-hand"], 2, "--jsn"),
    ("argparse-unknown-command-by-hand", ["stauts"], ["by-hand"], 2, "'stauts'"),
    ("argparse-flag-newline", ["status", "--x\n::warning::forged"], [], 2, "--x\\n::warning::forged"),
    # text that ends up in the message: escaped, cut, on one line
    ("context-nul", ["report-check", "--context", "acc\x00ept"], [], 2, "'acc\\x00ept'"),
    ("context-10kb", ["report-check", "--context", "a" * 10_000], [], 2, "context 'aaaa"),
    ("context-bidi", ["report-check", "--context", "accept\u202eecnatpecca"], [], 2, "\\u202e"),
    ("environment-bidi", ["promote", "--environment", "stag\u202eing", "--version", "1.0.0", "--mode", "deployment"],
     [], 2, "\\u202e"),
    ("environment-10kb", ["promote", "--environment", "s" * 10_000, "--version", "1.0.0", "--mode", "deployment"],
     [], 2, "'sss"),
    ("version-newline-command", ["promote", "--environment", "staging", "--version", "1.0.0\n::warning::forged",
                                 "--mode", "deployment"], [], 2, "\\n::warning::forged"),
    ("version-bidi", ["release", "--version", "1.0.0\u2066", "--artifact", "{artifact}"], [], 2, "\\u2066"),
    ("unknown-flag-10kb", ["status", "--" + "x" * 10_000], [], 2, "--xxx"),
    # report-check
    ("check-state-capitalised", ["report-check", "--context", "acceptance", "--state", "SUCCESS"], [], 2, "'SUCCESS'"),
    ("check-description-141", ["report-check", "--context", "acceptance", "--description", "d" * 141], [], 2,
     "140"),
    ("check-description-input-long", ["report-check"], [("env", {"INPUT_CONTEXT": "acceptance",
                                                                 "INPUT_DESCRIPTION": "é" * 200})], 2, "140"),
    # gate
    ("gate-mode-input", ["gate"], [("env", {"INPUT_MODE": "production"})], 2, "'production'"),
    ("gate-verify-not-bool", ["gate", "--mode", "delivery"], [("env", {"INPUT_VERIFY": "please"})], 2, "'please'"),
    # notifications: numbers refused before anything is deployed
    ("notify-timeout-zero", PROMOTE, ["release", ("env", {"INPUT_NOTIFY_TIMEOUT": "0"})], 2, "notify-timeout='0'"),
    ("notify-timeout-negative", PROMOTE, ["release", ("env", {"INPUT_NOTIFY_TIMEOUT": "-1"})], 2, "'-1'"),
    ("notify-timeout-text", PROMOTE, ["release", ("env", {"INPUT_NOTIFY_TIMEOUT": "abc"})], 2, "'abc'"),
    ("notify-attempts-zero", PROMOTE, ["release", ("env", {"INPUT_NOTIFY_ATTEMPTS": "0"})], 2, "notify-attempts"),
    ("notify-attempts-fraction", PROMOTE, ["release", ("env", {"INPUT_NOTIFY_ATTEMPTS": "2.5"})], 2, "'2.5'"),
    ("notify-deadline-text", PROMOTE, ["release", ("env", {"INPUT_NOTIFY_DEADLINE": "soon"})], 2, "'soon'"),
    ("notify-deadline-zero", PROMOTE, ["release", ("env", {"INPUT_NOTIFY_DEADLINE": "0"})], 2, "notify-deadline='0'"),
    # sweep
    ("sweep-negative-hours", ["sweep", "--older-than-hours", "-1"], [], 2, "'-1'"),
    ("sweep-hours-with-unit", ["sweep", "--older-than-hours", "6h"], [], 2, "'6h'"),
    # resume-step
    ("resume-step-zero", [*PROMOTE, "--resume-step", "0"], ["release"], 2, "'0'"),
    ("resume-step-negative", [*PROMOTE, "--resume-step", "-1"], ["release"], 2, "'-1'"),
    ("resume-step-input-text", ["promote"], ["release", ("env", {**STEP, "INPUT_RESUME_STEP": "two"})], 2, "'two'"),
    ("resume-step-nothing-paused", [*PROMOTE, "--resume-step", "7"], ["release"], 2, "nothing to resume"),
    # flags
    ("flags-set-unknown-environment", ["flags", "set", "new-checkout", "on", "--environment", "qa"],
     [FLAG_FILE], 2, "'qa'"),
    ("flags-set-unknown-flag", ["flags", "set", "old-checkout", "on", "--environment", "staging", "--mode",
                                "deployment"], [FLAG_FILE], 2, "'old-checkout'"),
    ("flags-set-unknown-variant", ["flags", "set", "new-checkout", "maybe", "--environment", "staging", "--mode",
                                   "deployment"], [FLAG_FILE], 2, "'maybe'"),
    ("flags-set-empty-flag", ["flags", "set", "", "on", "--environment", "staging", "--mode", "deployment"],
     [FLAG_FILE], 2, "flag"),
    ("flags-diff-unknown-from", ["flags", "diff", "--from", "qa"], [], 2, "'qa'"),
    ("flags-diff-unknown-to", ["flags", "diff", "--to", "prod\u202e"], [], 2, "\\u202e"),
    # history and dora
    ("history-limit-zero", ["history", "--limit", "0"], [], 2, "--limit 0"),
    ("history-limit-1001", ["history", "--limit", "1001"], [], 2, "1001"),
    ("history-limit-text", ["history", "--limit", "x"], [], 2, "'x'"),
    ("history-limit-input-text", ["history"], [("env", {"INPUT_LIMIT": "all"})], 2, "'all'"),
    ("history-unknown-environment", ["history", "--environment", "qa"], [], 2, "'qa'"),
    ("dora-window-forever", ["dora", "--window", "forever"], [], 2, "'forever'"),
    ("dora-window-zero", ["dora", "--window", "0d"], [], 2, "'0d'"),
    ("dora-window-too-long", ["dora", "--window", "60w"], [], 2, "'60w'"),
    ("dora-trend-weeks-input-text", ["dora"], [("env", {"INPUT_TREND_WEEKS": "many"})], 2, "'many'"),
    ("dora-trend-weeks-53", ["dora", "--trend-weeks", "53"], [], 2, "53"),
    # writers
    ("trusted-writer-empty", [*PROMOTE, "--trusted-writer", ""], ["release"], 2, "trusted writer ''"),
    ("trusted-writer-newline", [*PROMOTE, "--trusted-writer", "bot[bot]\nevil"], ["release"], 2, "\\n"),
]


def _world(double) -> str:
    repo = double.repo("acme/app")
    return json.dumps([repo.refs, sorted(repo.tag_objects), repo.deployments, repo.statuses, repo.commit_statuses],
                      sort_keys=True, default=str)


def test_a_gate_moved_by_cd_yml_is_refused_without_claiming_where_the_gate_job_is_bound(pipeline, tmp_path):
    """cdhelper cannot see which environment the gate job is bound to: it says what the workflow passed."""
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "cd.yml").write_text("gate: {environment: other-approval}\n")
    refused = pipeline.run(*PROMOTE, INPUT_GATE_ENVIRONMENT="production-approval")
    assert refused.code == 2 and "gate job is bound to 'production-approval'" not in refused.out
    assert "pass `gate-environment: other-approval` to the cdhelper steps" in refused.out
    for left_by_the_step in ("GITHUB_ACTIONS", "INPUT_GATE_ENVIRONMENT"):
        pipeline.mp.delenv(left_by_the_step)
    by_hand = pipeline.run(*PROMOTE, "--gate-environment", "production-approval", actions=False)
    assert by_hand.code == 2 and "--gate-environment is 'production-approval'" in by_hand.err
    assert "Fix: pass --gate-environment other-approval and bind the gate job to it" in by_hand.err


@pytest.mark.parametrize("step", ["1", "3", "9"])
def test_a_paused_rollout_resumes_only_at_its_hold(pipeline, rollouts, step):  # noqa: F811 - the fixture
    """Resuming at another step would skip what is left of the plan (the shift to 100%) and record success."""
    configure, release, calls = rollouts
    configure(strategy=HOLD)
    pipeline.double.set_environment("acme/app", "production-soak", wait_timer=30)
    release("1.0.0")
    paused = pipeline.promote("production", "1.0.0")
    assert paused.code == 0 and paused.outputs["step"] == "2", paused.out
    [record] = pipeline.deployments("production")
    calls()
    refused = pipeline.promote("production", "1.0.0", "--resume-step", step)
    assert refused.code == 2 and f"resume-step {step} is not where the rollout of production paused" in refused.out
    assert calls() == [] and pipeline.states(record["id"])[-1] == "in_progress"
    later = datetime.now(timezone.utc) + timedelta(minutes=31)  # past the wait timer: every resume checks it
    pipeline.mp.setattr("cdhelper.deploy.resume.clock", lambda: later)
    assert pipeline.promote("production", "1.0.0", "--resume-step", "2").code == 0
    assert pipeline.states(record["id"])[-1] == "success"


def test_the_corpus_has_at_least_100_cases():
    assert len(CASES) >= 100 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name, argv, setup, code, text", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_fails_in_one_clear_line_and_writes_nothing(name, argv, setup, code, text, pipeline, double,
                                                                   tmp_path, monkeypatch):
    empty, other = tmp_path / "empty", tmp_path / "other"
    empty.mkdir()
    other.mkdir()
    (other / "app.txt").write_text("something else\n")
    extra_env, in_actions = {}, True
    for item in setup:
        if item == "release":
            assert pipeline.release().code == 0
        elif item == "no-token":
            monkeypatch.setenv("GITHUB_TOKEN", "")
            extra_env["GITHUB_TOKEN"] = ""
        elif item == "by-hand":  # a person at a terminal: no GITHUB_ACTIONS, no workflow commands
            in_actions = False
        elif item[0] == "config":
            (tmp_path / ".github").mkdir(exist_ok=True)
            (tmp_path / ".github" / "cd.yml").write_text(item[1])
        elif item[0] == "config-bytes":
            (tmp_path / ".github").mkdir(exist_ok=True)
            (tmp_path / ".github" / "cd.yml").write_bytes(item[1])
        elif item[0] == "file":
            (tmp_path / item[1]).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / item[1]).write_text(item[2])
        elif item[0] == "tokens":
            for token, perms in item[1].items():
                double.register_token(pipeline.token if token == "TOKEN" else token, permissions=perms)
        elif item[0] == "env":
            extra_env.update({k: v.format(tmp=tmp_path) for k, v in item[1].items()})
    argv = [a.format(artifact=pipeline.artifact, empty=empty, other=other, tmp=tmp_path) for a in argv]
    before = _world(double)
    result = pipeline.run(*argv, actions=in_actions, **extra_env)
    assert result.code == code, result.out + result.err
    shown = result.out + result.err
    # the error: one annotation in Actions, one `error:` line by hand; either way a single line
    errors = [line for line in shown.splitlines() if line.startswith("::error" if in_actions else "error:")]
    assert len(errors) == 1, shown
    error = errors[0]
    assert " Fix: " in error and text in error, error
    assert len(error) < 1000, "a long value is cut, not repeated in full"
    assert not any(c in error for c in "\x00\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), \
        "invisible and bidi characters are shown escaped"
    message = error.split("::", 2)[-1].replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%") if in_actions \
        else error
    copies = [line for line in shown.splitlines() if " Fix: " in line and line != error]
    assert len(copies) <= 1 and all(line.endswith(message) for line in copies), "the log's copy is that same one line"
    assert not any(line.lstrip().startswith("usage:") for line in shown.splitlines()), "no usage text"
    assert "Traceback" not in shown
    assert _world(double) == before, "a refused input must change nothing"
