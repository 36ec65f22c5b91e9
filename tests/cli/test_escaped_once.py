"""Output is escaped once: a workflow command's data read back from a tool's log (act echoes the
command lines it processed) is unescaped before anything shows it, so `50%` never reads `50%25`."""

from __future__ import annotations

from types import SimpleNamespace

from cdhelper.cli.actions_io import ActionsIO
from cdhelper.core.escaping import command_data, escape_data
from cdhelper.devtools.rehearsal.own_workflow import OwnWorkflowRehearsal

REASON = "deploying 0.1.2 to production failed: analysis errors failed at 10%: 0.47 - at sample 1 of 4"


def test_a_commands_data_reads_back_as_it_was_written(capsys):
    ActionsIO(in_actions=True).error(REASON + "\nsecond line", title="Rolled back")
    line = capsys.readouterr().out.strip()
    assert "10%25" in line  # escaped once on the way out, as the runner wants it
    echoed = "  \u2757  " + line  # how act prints the command it processed
    assert command_data(echoed) == REASON + "\nsecond line"
    assert command_data("no command here") is None
    assert command_data("::error::" + escape_data("100%0A literal")) == "100%0A literal"


def test_the_own_workflow_rehearsal_shows_the_first_error_unescaped():
    """Old code: `failed at 10%25`, the runner's escaping shown to the reader (and escaped again,
    `%2525`, when the rehearsal's own error line ran in Actions)."""
    line = "  \u2757  ::error title=Rolled back::" + escape_data(REASON)
    shown = OwnWorkflowRehearsal.first_error(SimpleNamespace(lines=[{"msg": line}]))
    assert shown == REASON and "%25" not in shown
