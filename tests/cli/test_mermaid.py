"""Every Mermaid block a job summary holds is checked by Mermaid itself (tests/tools/mermaid: the npm
`mermaid` package, run headless in Node with jsdom), not by a regex of ours: what Mermaid rejects
fails here, and hostile values must come out as the same picture with the value as its text.

The diagrams are collected first and parsed in one Node process (starting Node and loading Mermaid
takes a second or two; each parse a few milliseconds; the few renders a tenth of a second each).
Without node and npm the tests skip, unless CDHELPER_REQUIRE_MERMAID=1 (CI) makes that a failure."""

from __future__ import annotations

import fcntl
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cdhelper.cli import report
from cdhelper.cli.delivery_report import dora_markdown, trend_charts
from cdhelper.core.config import Config, Environment
from cdhelper.core.escaping import one_line
from cdhelper.deploy.gate import GateDecision
from cdhelper.deploy.promotion import PromotionResult
from cdhelper.deploy.records import Record
from cdhelper.observe.dora import Metrics
from cdhelper.release.tagging import Candidate

TOOL = Path(__file__).resolve().parents[1] / "tools" / "mermaid"
INSTALL = "npm ci --prefix tests/tools/mermaid"
STATES = list(report.PATH_STATES)
HOSTILE = [
    '" ] ) } --> x[" %%{init: {"theme": "dark"}}%%',
    "%%{init: {'securityLevel': 'loose'}}%%",
    "<img src=x onerror=alert(1)><script>alert(1)</script>",
    "`**bold**` ``x`` [link](https://evil.example)",
    "a; b --> c\nclassDef done fill:#f00\nclick e0 call alert(1)",
    "#quot; #35; &quot; &#35; \\\" ((x)) {{y}} [/z/] >w]",
]


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, flags=re.S | re.M)


# --- Mermaid itself -------------------------------------------------------------------------------

def _install() -> None:
    """`npm ci` into tests/tools/mermaid/node_modules unless it already holds this lock file's packages.
    A file lock beside it makes pytest-xdist workers and parallel test runs install once."""
    lock = (TOOL / "package-lock.json").read_bytes()
    stamp = TOOL / "node_modules" / ".cdhelper-installed"
    with open(TOOL / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == hashlib.sha256(lock).hexdigest():
            return
        done = subprocess.run(["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=TOOL,
                              capture_output=True, text=True, timeout=600)
        if done.returncode:
            pytest.fail(f"{INSTALL} failed:\n{done.stdout}\n{done.stderr}")
        stamp.write_text(hashlib.sha256(lock).hexdigest())


@pytest.fixture(scope="session")
def mermaid(tmp_path_factory):
    """Mermaid's verdict on a list of diagrams, in one Node process: parse(texts, database=..., render=...)
    gives one result per text: {"ok": False, "error"} or {"ok": True, "type", "config"}, plus Mermaid's
    database (nodes, edges, classes; an xychart's title, axes, plots) for the texts in `database` and
    "svg" for those in `render` (tests/tools/mermaid/parse.mjs). pytest-xdist workers share one run."""
    if not (shutil.which("node") and shutil.which("npm")):
        why = f"Mermaid's parser needs node and npm (then: {INSTALL})"
        if os.environ.get("CDHELPER_REQUIRE_MERMAID") == "1":
            pytest.fail(why + "; CDHELPER_REQUIRE_MERMAID=1 requires it")
        pytest.skip(why)
    # pytest-xdist workers each get a directory in the session's: their parent is the session's own.
    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared
    _install()

    def parse(texts: list[str], *, database=frozenset(), render=frozenset()) -> list[dict]:
        requests = json.dumps([{"text": t, "database": t in database or t in render, "render": t in render}
                               for t in texts])
        answer = shared / f"mermaid-{hashlib.sha256(requests.encode()).hexdigest()}.json"
        with open(shared / "mermaid-parse.lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            if not answer.is_file():
                done = subprocess.run(["node", str(TOOL / "parse.mjs")], input=requests, capture_output=True,
                                      text=True, timeout=300)
                assert done.returncode == 0, done.stderr
                answer.write_text(done.stdout)
        return json.loads(answer.read_text())
    return parse


# --- what the product draws -----------------------------------------------------------------------

PATH = Config(environments=(Environment("staging"), Environment("production")))
LONG_PATH = Config(environments=(Environment("dev"), Environment("staging"), Environment("production")),
                   gate_environment="release-gate", gate_protects=("staging", "production"))
WHEN = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def path_cases() -> dict[str, str]:
    """path_diagram with every pair of states when gated, each state once when not, a longer path, and
    the old way (no states: reached alone)."""
    cases = {}
    pairs = [(s, p, True) for s in STATES for p in STATES]
    pairs += [("done", s, False) for s in STATES] + [(s, "pending", False) for s in STATES]
    for staging, production, gated in pairs:
        cases[f"path {staging}/{production} gated={gated}"] = report.path_diagram(
            PATH, "staging", "1.2.3", gated=gated, states={"staging": staging, "production": production})
    for states in (("done", "running", "waiting"), ("done", "failed", "pending"), ("rolled_back", "done", "done")):
        cases[f"long path {'/'.join(states)}"] = report.path_diagram(
            LONG_PATH, "dev", "2.0.0", gated=True, states=dict(zip(("dev", "staging", "production"), states, strict=True)))
    for reached in ("", "staging", "production"):
        cases[f"path reached {reached or 'nothing'}"] = report.path_diagram(PATH, reached, "1.2.3", gated=True)
    return cases


def _candidate(version: str) -> Candidate:
    return Candidate(version=version, tag=f"v{version}", commit="a" * 40, manifest="sha256:" + "b" * 64, files=(),
                     images=())


def promotion(environment: str, state: str, *, required: bool = True, config: Config = PATH, **more) -> str:
    gate = GateDecision(required, config.gate_environment, ({"login": "ana", "comment": "ok"},) if required else ())
    previous = Record(id=6, node_id="D_6", environment=environment, created_at=WHEN, state="success", succeeded_at=WHEN,
                      payload={"version": "1.2.2", "digest": "sha256:" + "c" * 64})
    result = PromotionResult(candidate=_candidate(more.pop("version", "1.2.3")), environment=environment,
                             deployment_id=0 if state == "dry-run" else 42, state=state, gate=gate, previous=previous,
                             **more)
    if state == "dry-run":
        result.would = {"writes": []}
    return report.promotion_summary(result, config, mode="delivery" if required else "deployment")


def promotion_cases() -> dict[str, str]:
    return {
        "promoted to staging": promotion("staging", "success"),
        "promoted to production": promotion("production", "success"),
        "deployed continuously": promotion("production", "success", required=False),
        "paused in production": promotion("production", "paused", paused_at=2),
        "dry run to production": promotion("production", "dry-run"),
        "already live": promotion("staging", "unchanged"),
        "rollback in staging": promotion("staging", "success", rollback_of=41),
    }


def _week(i: int, deployments: int, failed: int) -> Metrics:
    since = WHEN + timedelta(weeks=i)
    return Metrics(environment="production", since=since, until=since + timedelta(weeks=1), deployments=deployments,
                   lead_time_median_s=3600.0 * (i + 1) if deployments else None, lead_time_p90_s=None,
                   finished_changes=deployments + failed, failed_changes=failed,
                   recovery_median_s=1800.0 if failed else None, recovered=failed, unrecovered=0, rollbacks=failed,
                   rework=failed, successful=deployments + failed, noops=0, in_flight=0)


WEEKS = [_week(0, 0, 0), _week(1, 3, 1), _week(2, 12, 0), _week(3, 1, 1)]


def dora_cases() -> dict[str, str]:
    overall = _week(0, 16, 2)
    return {"trend of four weeks": trend_charts(WEEKS), "trend of one empty week": trend_charts(WEEKS[:1]),
            "dora summary with trend": dora_markdown([overall], {"production": WEEKS})}


def hostile_path(value: str) -> str:
    config = Config(environments=(Environment(f"{value}-staging"), Environment(value)),
                    gate_environment=f"{value}-gate", gate_protects=(value,))
    return report.path_diagram(config, f"{value}-staging", value, gated=True, states={value: "waiting"})


BENIGN_PATH = hostile_path("plain")
BROKEN = {
    "a flowchart cut short": "flowchart LR\n  a[\"x\"] -->",
    "an unescaped quote in a label": 'flowchart LR\n  e0["say " hi"] --> e1',
    "a label with a raw bracket and arrow": 'flowchart LR\n  e0[a] --> x[b]] --> c',
    "an xychart with a word for a number": 'xychart-beta\n  x-axis ["a", "b"]\n  line [1, two]',
    "an xychart with an open bracket": 'xychart-beta\n  x-axis ["a", "b"\n  line [1, 2]',
    "a hostile name put in unescaped": (f'flowchart LR\n  e0["{HOSTILE[0]}"]'),
}


# The cases whose Mermaid database the tests read (the rest are only parsed: quicker).
LOOKED_AT = ("long path done/running/waiting", "path failed/rolled_back gated=True", "path done/pending gated=False",
             "path reached", "trend of four weeks")


@pytest.fixture(scope="module")
def verdicts(mermaid) -> dict[str, dict]:
    """Mermaid's result for every case of this file, from one Node process: name -> result (each
    Markdown case gives one result per Mermaid block, as "name #1", "name #2"...)."""
    cases = {name: [text] for name, text in BROKEN.items()}
    for name, markdown in {**path_cases(), **promotion_cases(), **dora_cases()}.items():
        cases[name] = mermaid_blocks(markdown)
    for value in HOSTILE:
        cases[f"hostile {value}"] = mermaid_blocks(hostile_path(value))
    cases["benign"] = mermaid_blocks(BENIGN_PATH)
    names = [f"{name} #{i}" for name, texts in cases.items() for i in range(1, len(texts) + 1)]
    texts = [text for texts in cases.values() for text in texts]
    looked_at = {t for name, t in zip(names, texts, strict=True) if name.startswith(LOOKED_AT)}
    render = {t for name, t in zip(names, texts, strict=True) if name.startswith(("hostile", "benign"))}
    return dict(zip(names, mermaid(texts, database=looked_at, render=render), strict=True))


def _ok(verdict: dict, name: str) -> dict:
    assert verdict["ok"], f"Mermaid rejects {name}:\n{verdict['error']}"
    assert verdict["config"] == {}, name  # no %%{init}%% directive took effect
    return verdict


# --- the verdicts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(BROKEN))
def test_mermaid_rejects_what_is_broken(verdicts, name):
    verdict = verdicts[f"{name} #1"]
    assert not verdict["ok"] and "error" in verdict["error"].lower(), verdict


@pytest.mark.parametrize("name", [*path_cases(), *promotion_cases(), *dora_cases()])
def test_every_block_the_product_writes_parses(verdicts, name):
    blocks = [v for key, v in verdicts.items() if key.rsplit(" #", 1)[0] == name]
    assert blocks, f"{name} wrote no Mermaid block"
    for verdict in blocks:
        _ok(verdict, name)


def test_the_path_shows_each_state_as_mermaid_reads_it(verdicts):
    flow = _ok(verdicts["long path done/running/waiting #1"], "long path")
    assert [(n["id"], html.unescape(n["label"]), n["classes"]) for n in flow["nodes"]] == [
        ("build", "2.0.0", []), ("e0", "dev", ["done"]), ("g1", "release-gate", ["done"]),
        ("e1", "staging<br>deploying", ["running"]), ("g2", "release-gate", ["waiting"]),
        ("e2", "production<br>waiting for approval", ["waiting"])]
    assert [(e["from"], e["to"]) for e in flow["edges"]] == [("build", "e0"), ("e0", "g1"), ("g1", "e1"),
                                                              ("e1", "g2"), ("g2", "e2")]
    fills = {name: next(s for s in styles if s.startswith("fill:")) for name, styles in flow["classes"].items()}
    assert sorted(fills) == sorted(STATES) and len(set(fills.values())) == len(STATES)  # each state its own colour
    failed = _ok(verdicts["path failed/rolled_back gated=True #1"], "path")
    assert [(n["label"], n["classes"]) for n in failed["nodes"][1:]] == [
        ("staging<br>failed", ["failed"]), ("production-approval", ["done"]), ("production<br>rolled back", ["rolled_back"])]
    later = _ok(verdicts["path done/pending gated=False #1"], "path")
    assert [(n["label"], n["classes"]) for n in later["nodes"][1:]] == [
        ("staging", ["done"]), ("production-approval", ["pending"]), ("production", ["pending"])]
    assert [e["stroke"] for e in later["edges"]] == ["normal", "dotted", "normal"]  # Continuous Deployment: auto


def test_reached_alone_draws_what_it_drew_before(verdicts):
    """Callers that pass no states: done up to the environment reached, the rest not reached yet."""
    classes = [n["classes"] for n in _ok(verdicts["path reached staging #1"], "path")["nodes"]]
    assert classes == [[], ["done"], ["pending"], ["pending"]]
    classes = [n["classes"] for n in _ok(verdicts["path reached production #1"], "path")["nodes"]]
    assert classes == [[], ["done"], ["done"], ["done"]]


def test_an_unknown_state_is_a_mistake():
    with pytest.raises(ValueError, match="unknown path state"):
        report.path_diagram(PATH, "staging", "1.0.0", gated=True, states={"staging": "deployed"})


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_names_draw_the_same_picture_with_the_name_as_text(verdicts, value):
    shown = one_line(value)
    hostile, benign = _ok(verdicts[f"hostile {value} #1"], value), _ok(verdicts["benign #1"], "benign")
    assert [(n["id"], n["shape"], n["classes"]) for n in hostile["nodes"]] == \
        [(n["id"], n["shape"], n["classes"]) for n in benign["nodes"]]
    assert hostile["edges"] == benign["edges"] and hostile["classes"] == benign["classes"]
    assert [html.unescape(n["label"]) for n in hostile["nodes"]] == \
        [shown, f"{shown}-staging", f"{shown}-gate", f"{shown}<br>waiting for approval"]
    assert hostile["svg"]["elements"] == benign["svg"]["elements"]  # no element of the name's own
    assert hostile["svg"]["texts"] == [shown, f"{shown}-staging", f"{shown}-gate", shown, "waiting for approval"]


def test_the_trend_charts_hold_the_weeks(verdicts):
    charts = [verdicts[f"trend of four weeks #{i}"] for i in range(1, 6)]
    assert [html.unescape(c["title"]) for c in charts] == ["Deployments per week", "Change lead time (median, hours)",
                                            "Change failure rate (%)", "Recovery time (median, hours)",
                                            "Deployment rework rate (%)"]
    assert all(c["type"] == "xychart" and c["xAxis"]["categories"] == ["05-01", "05-08", "05-15", "05-22"]
               for c in charts)
    assert [v for _, v in charts[0]["plots"][0]["data"]] == [0, 3, 12, 1]
    assert charts[0]["yAxis"]["max"] == pytest.approx(13.2)
    assert [v for _, v in charts[2]["plots"][0]["data"]] == [0, 25, 0, 50]


# --- the summary Markdown -------------------------------------------------------------------------

def test_the_summary_of_a_promotion_to_staging():
    assert promotion("staging", "success") == """\
## Promoted 1\\.2\\.3 to staging

|  |  |
|---|---|
| Environment | staging |
| Version | 1\\.2\\.3 |
| Digest | `sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb` |
| Deployment | 42 |
| Mode | delivery |
| Gate | approved on production\\-approval by ana \\(\\"ok\\"\\) |
| Replaced | 1\\.2\\.2 \\(deployment 6\\) |

```mermaid
flowchart LR
  build(["1.2.3"])
  e0["staging"]
  build --> e0
  g1{"production-approval"}
  e0 --> g1
  e1["production"]
  g1 --> e1
  classDef done fill:#d3f9d8,stroke:#2b8a3e,color:#111
  classDef running fill:#d0ebff,stroke:#1971c2,color:#111
  classDef waiting fill:#fff3bf,stroke:#e67700,color:#111
  classDef failed fill:#ffe3e3,stroke:#c92a2a,color:#111
  classDef rolled_back fill:#f3d9fa,stroke:#862e9c,color:#111
  classDef pending fill:#f1f3f5,stroke:#868e96,color:#111,stroke-dasharray:4 3
  class e0 done
  class g1,e1 pending
```

"""


def test_the_summary_of_a_paused_rollout_shows_production_deploying():
    summary = promotion("production", "paused", paused_at=2)
    assert summary.startswith("## Paused rolling out 1\\.2\\.3 to production\n")
    assert '  e1["production<br>deploying"]\n' in summary
    assert "  class e0,g1 done\n  class e1 running\n```\n" in summary


def test_a_dry_run_reaches_nothing_in_the_picture():
    summary = promotion("production", "dry-run")
    assert summary.startswith("## Dry run: every check passed; would promote 1\\.2\\.3 to production\n")
    assert "  class e0 done\n  class g1,e1 pending\n```\n" in summary


def test_what_the_commands_write_when_failing_waiting_or_rolled_back_parses_and_shows_it(mermaid, pipeline, double):
    """The real commands' summaries: a deploy command failing in production (failed), the approver's
    view before the gate (waiting), each as Mermaid reads it."""
    assert pipeline.release("1.0.0").code == 0 and pipeline.promote("staging", "1.0.0").code == 0
    brief = pipeline.run("brief", "--environment", "production", "--version", "1.0.0", "--mode", "delivery")
    failed = pipeline.promote("production", "1.0.0", "--run", "exit 3")
    assert brief.code == 0 and failed.code == 10, failed.out
    blocks = {"waiting": mermaid_blocks(brief.summary)[-1], "failed": mermaid_blocks(failed.summary)[-1]}
    verdicts = dict(zip(blocks, mermaid(list(blocks.values()), database=set(blocks.values())), strict=True))
    for state, verdict in verdicts.items():
        flow = _ok(verdict, state)
        production = next(n for n in flow["nodes"] if n["id"] == "e1")
        assert production["classes"] == [state], (state, flow["nodes"])
