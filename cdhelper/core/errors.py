"""One error hierarchy. Each error says what failed, why, and the fix; `cli.main` maps it to an
exit code, a one-line `::error::` annotation and a long form in the job summary, in one place."""

from __future__ import annotations


def show(value: object, limit: int = 80) -> str:
    """A bad value as an error message quotes it: its repr, cut to `limit` characters."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        return "<a number too large to show>"
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class CDHelperError(Exception):
    """Base class. `exit_code` lets scripts tell failures apart."""

    exit_code = 1
    title = "cdhelper failed"

    def __init__(self, what: str, why: str, fix: str, *, details: str = ""):
        super().__init__(f"{what}: {why}")
        self.what, self.why, self.fix, self.details = what, why, fix, details

    def one_line(self) -> str:
        """Always one line: what/why/fix often quote user input, which may hold line breaks."""
        text = f"{self.what}: {self.why}. Fix: {self.fix}"
        return " ".join(text.splitlines())

    def markdown(self) -> str:
        """For the job summary. The texts quote user input, so they are escaped as plain text;
        details keep their lines in a code block."""
        from .escaping import md_block, md_text  # only when an error is shown: keeps --help fast
        parts = [f"### :x: {md_text(self.title)}", "", f"**What failed:** {md_text(self.what)}", "",
                 f"**Why:** {md_text(self.why)}", "", f"**Fix:** {md_text(self.fix)}"]
        if self.details:
            parts += ["", md_block(self.details).rstrip("\n")]
        return "\n".join(parts) + "\n"


class InputError(CDHelperError):
    """A command-line argument or action input is malformed (version, digest, environment, mode...)."""

    exit_code = 2
    title = "Invalid input"


class ConfigError(CDHelperError):
    """`.github/cd.yml` is unreadable or does not match the schema."""

    exit_code = 2
    title = "Invalid configuration"


class PermissionDeniedError(CDHelperError):
    """The token lacks a permission (403), or is missing/invalid (401)."""

    exit_code = 3
    title = "Missing permission"


class NotFoundError(CDHelperError):
    exit_code = 4
    title = "Not found"


class ConflictError(CDHelperError):
    """Something already exists with other content (a tag, a release asset, a registry tag)."""

    exit_code = 5
    title = "Conflict with existing content"


class GateError(CDHelperError):
    """Delivery mode and this run holds no approval for the gate environment."""

    exit_code = 6
    title = "Production gate not passed"


class EvidenceError(CDHelperError):
    """The candidate was not verified upstream (previous environment, acceptance contexts, soak time)."""

    exit_code = 7
    title = "Promotion evidence missing"


class OrderingError(CDHelperError):
    """The candidate is older than what the environment already runs."""

    exit_code = 8
    title = "Older candidate refused"


class GitHubAPIError(CDHelperError):
    """GitHub answered with an error the helper cannot turn into something more specific."""

    exit_code = 9
    title = "GitHub API error"


class DeployError(CDHelperError):
    """The user's deploy command or post-deploy verification failed."""

    exit_code = 10
    title = "Deployment failed"


class RolledBack(CDHelperError):
    """An analysis failed during a rollout: the environment was returned to the previous good
    version, the failed record marked failure and the rollback recorded."""

    exit_code = 11
    title = "Rolled back"


class FreezeError(CDHelperError):
    """A deploy freeze window is active: promotions wait; rollbacks never do."""

    exit_code = 12
    title = "Deploy freeze"
