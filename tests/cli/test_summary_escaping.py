"""Job summaries with hostile values: a version, tag, file name, environment, reviewer's comment or
error text must show as itself and change nothing else in the summary (no link, image, HTML, table
cell, heading, broken code span or Mermaid label).

The rendering checks use cmarkgfm (GitHub's own cmark-gfm) when it is installed; the checks on tables,
code spans and Mermaid need nothing."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from cdhelper.cli import report
from cdhelper.core.config import Config, Environment
from cdhelper.core.errors import GateError
from cdhelper.deploy.gate import GateDecision
from cdhelper.deploy.promotion import PromotionResult
from cdhelper.deploy.records import Record
from cdhelper.observe.history import EnvironmentStatus
from cdhelper.release.tagging import Candidate, TagResult

HOSTILE = [
    "1.0.0](javascript:alert(1))",
    "[click](javascript:alert(1)) ![x](https://evil.example/p.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script><!--",
    "a | b || c",
    "x`y``z`",
    "*emph* __strong__ ~~gone~~ <b>b</b>",
    "# heading\n- item\n> quote\n```\ncode",
    "&lt;b&gt; &#x3C;script&#x3E;",
    '" ] ) } --> x[" %%{init: {"theme": "dark"}}%%',
    "\\| \\\\| pipes after backslashes\\",
    "[ref]: https://evil.example\n\n[ref]",
    "line1\r\nline2\u2028line3",
    "https://evil.example/login www.evil.example",
]
BENIGN = "plain"
RUN_URL = "https://github.example/acme/app/actions/runs/1"


def _record(version: str, environment: str, state: str = "success") -> Record:
    return Record(id=7, node_id="D_1", environment=environment, created_at=datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
                  state=state, succeeded_at=None, payload={"version": version, "digest": f"sha256:{version}"})


def _candidate(v: str) -> Candidate:
    return Candidate(version=v, tag=f"v{v}", commit=v, manifest=f"sha256:{v}", files=((v, v),), images=(v,))


def _gate(v: str) -> GateDecision:
    return GateDecision(True, f"{v}-gate", ({"login": v, "comment": v},))


def summary(kind: str, v: str) -> str:
    """The summary of one kind with `v` in every slot that comes from outside."""
    if kind == "release":
        return report.release_summary(TagResult(_candidate(v), created=False), run_url=RUN_URL)
    if kind == "promotion":
        config = Config(environments=(Environment(f"{v}-staging"), Environment(v)), gate_environment=f"{v}-gate",
                        gate_protects=(v,))
        result = PromotionResult(candidate=_candidate(v), environment=v, deployment_id=42, state="success",
                                 gate=_gate(v), previous=_record(v, v), warnings=[v])
        return report.promotion_summary(result, config, mode="delivery")
    if kind == "status":
        return report.status_summary([EnvironmentStatus(v, _record(v, v), _record(v, v), _record(v, v, "failure"))])
    if kind == "gate":
        return report.gate_summary(_gate(v))
    return GateError(v, v, v, details=v).markdown()


KINDS = ["release", "promotion", "status", "gate", "error"]


class _Shape(HTMLParser):
    """The tags of rendered HTML (with attributes), and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(attrs)))

    def handle_endtag(self, tag):
        self.tags.append(("/" + tag,))

    def handle_comment(self, data):
        self.tags.append(("<!--",))

    def handle_data(self, data):
        self.text.append(data)


def _render(markdown: str) -> _Shape:
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from cmarkgfm.cmark import Options
    shape = _Shape()  # UNSAFE keeps raw HTML, so any that got through shows up as tags
    shape.feed(cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE))
    return shape


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_value_renders_as_itself_and_changes_no_structure(kind, hostile):
    shown, expected = _render(summary(kind, hostile)), _render(summary(kind, BENIGN))
    assert shown.tags == expected.tags
    assert _words(hostile) in _words("".join(shown.text))


@pytest.mark.parametrize("hostile", HOSTILE)
def test_table_rows_keep_their_cells(hostile):
    """GFM splits a row at every `|` not preceded by a backslash, even inside code spans."""
    for kind, columns in (("status", 6), ("gate", 2), ("release", 2), ("promotion", 2)):
        rows = [line for line in summary(kind, hostile).splitlines() if line.startswith("|")]
        assert rows and all(len(re.findall(r"(?<!\\)\|", row)) == columns + 1 for row in rows), (kind, rows)


def _code_span(markdown: str) -> str:
    """The content of a Markdown text that must be exactly one CommonMark code span."""
    fence = re.match(r"`+", markdown).group()
    assert markdown.endswith(fence) and not markdown.endswith("`" + fence), markdown
    inner = markdown[len(fence):-len(fence)]
    assert fence not in re.findall(r"`+", inner), markdown  # a run of the same length would close it early
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip(" "):
        inner = inner[1:-1]
    return inner


@pytest.mark.parametrize("value", ["`", "``", "a`b", "`a", "a`", " a ", " a", "```", "x``y`", "a\nb", "| \\|"])
def test_inline_code_holds_any_value(value):
    from cdhelper.core.escaping import md_code
    assert _code_span(md_code(value)) == value.replace("\n", " ")


def _labels(markdown: str) -> list[str]:
    block = markdown.split("```mermaid\n", 1)[1].split("\n```\n", 1)[0]
    assert "%%" not in block and "`" not in block
    labels = []
    for line in block.splitlines()[1:]:
        node = re.fullmatch(r'  \w+(?:\(\[|\[|\{)"([^"]*)"(?:\]\)|\]|\})', line)
        if node:  # plain characters and Mermaid entity codes only: nothing Mermaid could read as markup
            assert re.fullmatch(r"(?:[A-Za-z0-9 ._/+-]|#\w+;)*", node.group(1)), line
            entities = re.sub(r"#(\d+);", r"&#\1;", re.sub(r"#([a-z]+);", r"&\1;", node.group(1)))
            labels.append(html.unescape(entities))
        else:
            assert re.fullmatch(r"  (\w+ -->|\w+ -\.->\|auto\|) \w+|  classDef .*|  class [\w,]+ done", line), line
    return labels


@pytest.mark.parametrize("hostile", HOSTILE)
def test_mermaid_labels_hold_any_value(hostile):
    v = " ".join(re.split(r"\r\n|[\r\n\u2028]", hostile))
    assert _labels(summary("promotion", hostile)) == [v, f"{v}-staging", f"{v}-gate", v]


def test_the_run_link_is_only_ever_http():
    shown = report.release_summary(TagResult(_candidate("1.0.0"), created=True), run_url="javascript:alert(1)//")
    assert "javascript" not in shown and "Run" in shown
    ok = report.release_summary(TagResult(_candidate("1.0.0"), created=True), run_url=RUN_URL)
    assert f"[Run](<{RUN_URL}>)" in ok


def test_error_details_keep_their_lines_in_a_code_block():
    details = "```\n<img src=x>\n````"
    shown = GateError("w", "y", "f", details=details).markdown()
    assert "\n`````\n" + details + "\n`````\n" in shown
