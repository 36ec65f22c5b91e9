"""Workflow-command injection and the runner's files (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY).

Each attack goes through the public API with hostile values and checks the produced stdout/stderr
with `runner_commands`, a small copy of how the runner finds commands in a step's output."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import pytest

from cdhelper.cli import actions_io
from cdhelper.cli.actions_io import ActionsIO
from cdhelper.core.digests import digest_paths
from cdhelper.core.errors import InputError
from cdhelper.core.escaping import neutralise

# What the runner registers (src/Runner.Worker/ActionCommandManager.cs); names are case-insensitive.
REGISTERED = {"warning", "error", "notice", "debug", "group", "endgroup", "add-mask", "stop-commands", "set-output",
              "save-state", "add-path", "set-env", "echo", "add-matcher", "remove-matcher"}


def _unescape(data: str) -> str:
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def runner_commands(text: str) -> list[tuple[str, str]]:
    """(name, data) of every line the runner would process as a command: ActionCommand.TryParseV2
    (`::name props::data` after leading whitespace), then the legacy TryParse (`##[name props]data`
    anywhere in the line). The runner reads lines split at \\r and \\n. Slightly stricter than the
    runner: invisible format characters before `::` are skipped like whitespace."""
    found = []
    for line in re.split(r"\r\n|\r|\n", text):
        start = 0
        while start < len(line) and (line[start].isspace() or unicodedata.category(line[start]) == "Cf"):
            start += 1
        trimmed = line[start:]
        end = trimmed.find("::", 2)
        if trimmed.startswith("::") and end >= 0:
            name = trimmed[2:end].split(" ", 1)[0].lower()
            if name in REGISTERED:
                found.append((name, _unescape(trimmed[end + 2:])))
                continue
        legacy = line.find("##[")
        close = line.find("]", legacy)
        if legacy >= 0 and close >= 0:
            name = line[legacy + 3:close].split(" ", 1)[0].lower()
            if name in REGISTERED:
                found.append((name, line[close + 1:]))
    return found


def emitted(capsys) -> list[tuple[str, str]]:
    captured = capsys.readouterr()
    return runner_commands(captured.out) + runner_commands(captured.err)


def assert_only(found: list[tuple[str, str]], *names: str) -> None:
    """Exactly the commands we meant, in order; and what the runner shows of their data (annotation
    text, group titles) carries no command or log marker either. Mask data is never shown."""
    assert [name for name, _ in found] == list(names), found
    for name, data in found:
        if name != "add-mask":
            assert not runner_commands(data) and "##[" not in data, (name, data)


HOSTILE = [
    "::warning::x",
    "  ::error file=app.py,line=1::x",
    "x\n::set-output name=approved-by::mallory",
    "x\r::stop-commands::tok",
    "::Stop-Commands::tok",
    "\u00a0\t::add-mask::",
    "\u200b::warning::zero width",
    "v1.0.0 ##[error]mid-line",
    "##[set-output name=a]b",
    "%0A::warning::already escaped",
    "title%0D%0A##[error]x",
]


@pytest.mark.parametrize("in_actions", [True, False], ids=["actions", "local"])
@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_text_becomes_no_command_on_any_channel(payload, in_actions, capsys):
    io = ActionsIO(in_actions=in_actions)
    io.info(payload)
    io.out(payload)
    io.warning(payload, title=payload)
    with io.group(payload):
        io.error(payload)
    assert_only(emitted(capsys), *(["warning", "group", "error", "endgroup"] if in_actions else []))


def test_neutralised_text_stays_visible_and_reversible():
    text = "::warning::a\n  \\::b\n##[error]c and ###[d]\nplain: ok #[e] ##f"
    shown = neutralise(text)
    assert shown == "\\::warning::a\n  \\\\::b\n#\\#[error]c and ##\\#[d]\nplain: ok #[e] ##f"
    undo = re.sub(r"#\\(\\*)#\[", r"#\1#[", shown)
    undo = "\n".join(re.sub(r"^(\s*)\\(\\*::)", r"\1\2", line) for line in undo.split("\n"))
    assert undo == text


def test_a_group_title_is_one_line_of_escaped_data(capsys):
    io = ActionsIO(in_actions=True)
    with io.group("Promote 1.0.0\n::warning::x 100%"):
        pass
    assert capsys.readouterr().out == "::group::Promote 1.0.0 ::warning::x 100%25\n::endgroup::\n"


@pytest.mark.parametrize("secret", ["line1\n::set-output name=a::b", "abc%0Adef", "ab\r\n##[error]cd", "p4ss%25word",
                                    "-----BEGIN KEY-----\nMIIB\n-----END KEY-----\n"])
def test_masks_cover_the_exact_secret_and_each_of_its_lines(secret, capsys):
    io = ActionsIO(in_actions=True)
    io.mask(secret)
    found = emitted(capsys)
    assert {name for name, _ in found} == {"add-mask"}, found
    masked = {data for _, data in found}
    lines = [line for line in re.split(r"\r\n|\r|\n", secret) if line.strip()]
    assert secret in masked and set(lines) <= masked, masked
    assert io.redact(f"a {secret} b {lines[-1]}") == "a *** b ***"


def test_a_sha256sum_list_of_hostile_file_names_is_inert(tmp_path, capsys):
    names = ["::warning::x", "b ##[error]c", "  ::stop-commands::t"]
    for i, name in enumerate(names):
        (tmp_path / name).write_text(str(i))
    artifact = digest_paths([str(tmp_path)])  # names with line breaks are refused by digest_paths itself
    text = artifact.sha256sum() + "0" * 64 + "  a\n::set-output name=digest::sha256:0\n"  # and if one got through
    ActionsIO(in_actions=True).out(text)
    out = capsys.readouterr().out
    assert runner_commands(out) == []
    assert len(out.rstrip("\n").split("\n")) == len(names) + 2


def test_json_on_stdout_is_inert_and_parses_to_the_same_value(capsys):
    import json
    data = {"tag": "v1 ##[error]x", "note": "a\n::warning::b", "path": "#1 ##[set-output name=a]b"}
    io = ActionsIO(in_actions=True)
    io.out_json(data)
    io.out_json(data, indent=2)
    out = capsys.readouterr().out
    assert runner_commands(out) == []
    first, _, second = out.partition("\n")
    assert json.loads(first) == data == json.loads(second)


def test_an_error_one_line_is_one_line():
    err = InputError("version '1.0.0\n::set-output name=a::b' is not SemVer", "because\r\nreasons", "fix\nit")
    assert "\n" not in err.one_line() and "\r" not in err.one_line()
    assert runner_commands(err.one_line()) == []


# --- GITHUB_OUTPUT --------------------------------------------------------------------------------

def parse_output_file(text: str) -> dict[str, str]:
    """Like the runner's file command: NAME=VALUE, or NAME<<DELIMITER, lines, DELIMITER."""
    lines, out, i = text.split("\n"), {}, 0
    while i < len(lines):
        line, i = lines[i], i + 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            out[line[:eq]] = line[eq + 1:]
            continue
        name, delimiter = line.split("<<", 1)
        body = []
        while lines[i].rstrip("\r") != delimiter:
            body.append(lines[i])
            i += 1
        out[name], i = "\n".join(body), i + 1
    return out


@pytest.mark.parametrize("name", ["a=b", "a\nb", "x<<EOF", "", "a b", "a::b", "é"])
def test_output_names_are_validated(name, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="A-Za-z0-9_-"):
        ActionsIO(in_actions=True, output_file=str(out)).set_output(name, "v")
    assert not out.exists() or out.read_text() == ""


def test_a_multiline_value_never_contains_its_delimiter(tmp_path, monkeypatch):
    colliding, fresh = "a" * 32, "b" * 32
    tokens = iter([colliding, fresh])
    monkeypatch.setattr(actions_io.secrets, "token_hex", lambda n: next(tokens))
    out = tmp_path / "out"
    io = ActionsIO(in_actions=True, output_file=str(out))
    value = f"x\nghadelimiter_{colliding}\nsecond=injected"
    assert io.set_output("notes", value) is True
    assert parse_output_file(out.read_bytes().decode()) == {"notes": value}


def test_outputs_round_trip_through_the_runner_format(tmp_path):
    out = tmp_path / "out"
    io = ActionsIO(in_actions=True, output_file=str(out))
    values = {"plain": "v1.0.0", "multi": "a\nb=c\nd<<e", "crlf": "a\r\nb", "percent": "%0A::x", "A_b-1": "ok"}
    for name, value in values.items():
        assert io.set_output(name, value) is True
    assert parse_output_file(out.read_bytes().decode()) == values


# --- files that cannot be written -----------------------------------------------------------------

UNWRITABLE = ["directory", "missing-directory", "under-a-file", "read-only"]


def _unwritable(kind: str, tmp_path: Path) -> Path:
    if kind == "directory":
        return tmp_path
    if kind == "missing-directory":
        return tmp_path / "gone" / "file"
    if kind == "under-a-file":
        (tmp_path / "plain").write_text("")
        return tmp_path / "plain" / "file"
    if os.geteuid() == 0:
        pytest.skip("root can write read-only files")
    path = tmp_path / "read-only"
    path.write_text("")
    path.chmod(0o444)
    return path


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_an_unwritable_summary_warns_once_and_carries_on(kind, tmp_path, capsys):
    path = _unwritable(kind, tmp_path)
    io = ActionsIO(in_actions=True, summary_file=str(path))
    io.check_writable()  # a summary never stops a command
    assert io.append_summary("## Promoted\n") is False
    assert io.append_summary("more\n") is False
    captured = capsys.readouterr()
    warnings = runner_commands(captured.err)
    assert [name for name, _ in warnings] == ["warning"], captured
    assert str(path) in warnings[0][1] and "Traceback" not in captured.err
    assert captured.out == ""  # stdout may be parsed by the caller: warnings go to stderr


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_an_unwritable_output_is_refused_up_front_in_one_line(kind, tmp_path):
    path = _unwritable(kind, tmp_path)
    with pytest.raises(InputError) as refused:
        ActionsIO(in_actions=True, output_file=str(path)).check_writable()
    line = refused.value.one_line()
    assert refused.value.exit_code == 2 and "\n" not in line
    assert line.startswith(f"GITHUB_OUTPUT {str(path)!r} is not writable: ") and " Fix: " in line
    cause = line.split("is not writable: ", 1)[1].split(". Fix:")[0]
    assert cause in {"Is a directory", "No such file or directory", "Not a directory", "Permission denied"}, line


def test_writable_files_pass_the_check_and_are_not_touched(tmp_path, capsys):
    out, summary = tmp_path / "out", tmp_path / "summary"
    out.write_text("earlier=1\n")
    ActionsIO(in_actions=True, output_file=str(out), summary_file=str(summary)).check_writable()
    assert out.read_text() == "earlier=1\n" and summary.read_text() == ""
    assert capsys.readouterr().err == ""


def test_a_late_output_failure_is_a_warning_naming_the_output(tmp_path, capsys):
    folder = tmp_path / "runner"
    folder.mkdir()
    io = ActionsIO(in_actions=True, output_file=str(folder / "out"))
    io.check_writable()
    (folder / "out").unlink()
    folder.rmdir()  # e.g. the runner's file went away while the deployment ran
    assert io.set_output("deployment-id", "42") is False
    assert io.set_output("digest", "sha256:" + "0" * 64) is False
    warnings = runner_commands(capsys.readouterr().err)
    assert [name for name, _ in warnings] == ["warning", "warning"]
    assert "'deployment-id'" in warnings[0][1] and "'digest'" in warnings[1][1]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_write_that_fails_after_opening_is_a_warning_too(capsys):
    io = ActionsIO(in_actions=True, output_file="/dev/full", summary_file="/dev/full")
    io.check_writable()  # opening works; the write itself fails (no space left)
    assert io.set_output("version", "1.0.0") is False
    assert io.append_summary("x" * 100_000) is False
    warnings = runner_commands(capsys.readouterr().err)
    assert [name for name, _ in warnings] == ["warning", "warning"] and "'version'" in warnings[0][1]


# --- what a user command prints (hooks.py relays it through neutralise_user_output) --------------------

USER_COMMAND = r"""
echo '::set-output name=approved-by::mallory'
echo '::stop-commands::x'
echo '::add-path::/tmp/evil'
echo '   ::set-output name=approved-by::mallory'
echo 'deployed ##[set-output name=x]y'
echo '::SET-OUTPUT name=approved-by::mallory'
echo '::warning::##[set-output name=x]y'
echo '::set-output name=e::from stderr' >&2
echo '##[add-path]/tmp/evil' >&2
echo '::group::deploying'
echo '  ::warning file=app.py,line=1::careful'
echo '::add-mask::hide-me'
echo '::error::broken' >&2
echo '::endgroup::'
printf '::notice::no newline at the end'
"""


def test_a_user_command_can_print_display_commands_but_no_other_command_reaches_the_runner(capfd):
    from cdhelper import hooks
    assert hooks.run(USER_COMMAND, {"PATH": os.environ["PATH"]}) == 0
    out, err = capfd.readouterr()
    assert [name for name, _ in runner_commands(out)] == ["group", "warning", "add-mask", "endgroup", "notice"], out
    assert [name for name, _ in runner_commands(err)] == ["error"], err
    # neutralised lines stay readable
    assert "\\::set-output name=approved-by::mallory" in out and "\\::stop-commands::x" in out
    assert "deployed #\\#[set-output name=x]y" in out and "#\\#[add-path]/tmp/evil" in err
    assert out.endswith("::notice::no newline at the end\n"), "a partial last line is kept"


def test_user_output_streams_line_by_line_keeps_bytes_and_bounds_line_length(tmp_path):
    """Run through the helper in a child: the first line arrives while the command still waits for us;
    undecodable bytes pass as they are; a line without end is cut at MAX_LINE."""
    import select
    import subprocess
    import sys

    from cdhelper import hooks
    go = tmp_path / "go"
    command = (f"echo first; while [ ! -e {go} ]; do sleep 0.01; done; printf '\\xff\\xfe::set-output name=x::y\\n'; "
               f"head -c {3 * hooks.MAX_LINE} /dev/zero | tr '\\0' a")
    relay = subprocess.Popen([sys.executable, "-c", "import sys; from cdhelper import hooks; "
                              "sys.exit(hooks.run(sys.argv[1], {'PATH': '/usr/bin:/bin'}))", command],
                             stdout=subprocess.PIPE)
    try:
        ready, _, _ = select.select([relay.stdout], [], [], 60)  # a deadlock guard, not a timing
        assert ready and relay.stdout.readline() == b"first\n", "the first line waited for the command to end"
    finally:
        go.touch()
    rest, _ = relay.communicate(timeout=120)
    assert relay.returncode == 0
    lines = rest.split(b"\n")
    assert lines[0] == b"\xff\xfe::set-output name=x::y", "bytes kept; not at line start, so no command"
    assert [len(line) for line in lines[1:]] == [hooks.MAX_LINE] * 3 + [0]
