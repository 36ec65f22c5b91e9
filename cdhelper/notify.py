"""Webhook notifications: a deployment was promoted, failed, waits for approval, or was rolled back.

    targets_from(environ) -> tuple[Target, ...]    the webhooks configured by the action's inputs
    deadline_from(environ) -> float                 how long notifying may take in all (seconds)
    Event(kind, repository, environment, ...)      what happened (frozen)
    send(event, targets, *, deadline_s) -> list[Delivery]   never raises, never outlasts the deadline
    summary_lines(deliveries) -> str                Markdown for the job summary
    secret_values(targets) -> list[str]             every value to mask (URLs, the HMAC secret)

Two body kinds: `json`, the documented schema (cdhelper/core/schemas/notification.schema.json), and
`slack`, Slack's incoming-webhook `{"text": ...}`. Every request carries `X-Cdhelper-Event`,
`X-Cdhelper-Delivery` (one uuid4 per event and target, the same on retries so a receiver can
de-duplicate) and, when a secret is set, `X-Cdhelper-Signature-256: sha256=<HMAC-SHA256 of the
body bytes>`, the scheme of GitHub's X-Hub-Signature-256 (docs/notifications.md).

A notification is a courtesy, never a step of the deployment: `send` returns its verdicts instead
of raising, and runs each target on a daemon thread so that a receiver that never answers cannot
hold the job past `deadline_s` (deadline.py). The webhook URL (a Slack URL is itself a credential) and the secret
never appear in a message: targets are shown as `scheme://host[:port]/…`, and the texts of
exceptions (requests puts the URL's path in them) are never shown, only what kind of failure it was.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
import ipaddress
import json
import re
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import requests
import requests.adapters

from cdhelper.core.errors import InputError
from cdhelper.core.escaping import md_code, md_text

from . import __version__
from .core import deadline

SCHEMA_ID = "cdhelper.notification/1"
KINDS = ("slack", "json")
EVENTS = ("promoted", "failed", "waiting", "rolled_back", "report")

WEBHOOKS_INPUT = "INPUT_NOTIFY_WEBHOOKS"      # secret: one webhook a line, `[slack|json] URL`
SECRET_INPUT = "INPUT_NOTIFY_SECRET"          # secret: the HMAC key
TIMEOUT_INPUT = "INPUT_NOTIFY_TIMEOUT"        # seconds per attempt
ATTEMPTS_INPUT = "INPUT_NOTIFY_ATTEMPTS"      # attempts per target, the first included
DEADLINE_INPUT = "INPUT_NOTIFY_DEADLINE"      # seconds for all targets and retries together

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_ATTEMPTS = 3
DEFAULT_DEADLINE_S = 30.0
MAX_TARGETS = 10
MIN_SECRET_LENGTH = 16
BACKOFF_S = 0.5  # first retry delay; doubles on each retry, never past the deadline
SLACK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
_KIND_WORD = re.compile(r"[A-Za-z0-9_-]{1,16}")  # safe to quote in an error (a URL or token is not)


# --- configuration -------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class Target:
    url: str
    kind: str  # 'slack' | 'json'
    secret: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    attempts: int = DEFAULT_ATTEMPTS

    @property
    def redacted(self) -> str:
        return redact_url(self.url)

    def __repr__(self) -> str:  # never the URL or the secret: a repr ends up in tracebacks
        return (f"Target({self.redacted!r}, kind={self.kind!r}, secret={'<set>' if self.secret else '<empty>'}, "
                f"timeout_s={self.timeout_s}, attempts={self.attempts})")


def redact_url(url: str) -> str:
    """`https://hooks.slack.com/…`: scheme, host and port only; the path and query may be the secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if not host or not re.fullmatch(r"[A-Za-z0-9.:_-]+", host):
        return "<unparsable URL>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host}{port}/…"


def _get(environ: Mapping[str, str], name: str) -> str:
    """An input in either spelling (act and the runner for JavaScript actions keep the hyphens)."""
    return environ.get(name) or environ.get(name.replace("NOTIFY_", "NOTIFY-")) or ""


def _number(environ: Mapping[str, str], name: str, default: float, low: float, high: float, *,
            integer: bool = False) -> float:
    raw = _get(environ, name).strip()
    input_name = name.removeprefix("INPUT_").lower().replace("_", "-")
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:  # NaN fails the comparison too
        kind = "a whole number" if integer else "a number of seconds"
        raise InputError(f"input {input_name}={raw[:40]!r} is not usable", f"it must be {kind} from {low:g} to {high:g}",
                         f"set {input_name} to e.g. {default:g}, or leave it empty for the default")
    return value


def _check_url(url: str, line: int) -> None:
    where = f"notify-webhooks line {line} ({redact_url(url)})"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InputError(f"{where} is not a URL", "it could not be parsed",
                         "write one webhook a line: `[slack|json] https://host/path`") from None
    if parts.username is not None or parts.password is not None:
        raise InputError(f"{where} carries a user name or password", "credentials in a webhook URL are not supported",
                         "put the receiver's token in the URL's path or query, or verify the HMAC signature")
    if not host:
        raise InputError(f"{where} has no host", "a webhook URL needs one", "write it as https://host/path")
    scheme = parts.scheme.lower()
    if scheme == "https":
        return
    if scheme == "http" and _loopback(host):
        return
    raise InputError(f"{where} is not https", "notifications carry deployment details and the signature, so they "
                     "only travel over TLS (plain http only to this machine, for tests)", "use an https:// URL")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Where a webhook may not go: the cloud metadata services (they answer any process on the machine
# with its credentials) and link-local addresses, where they and the like live.
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog"})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure IMDS, OpenStack, DigitalOcean...
    "fd00:ec2::254",    # AWS IMDS over IPv6
    "100.100.100.200",  # Alibaba Cloud
    "168.63.129.16",    # Azure wireserver
))
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
RESOLVE_S = 3.0  # at configuration: how long resolving every webhook host may take together


class _Refused(Exception):
    """The webhook's host is, or resolves to, an address notifications never go to."""


def forbidden_address(address: str) -> bool:
    """A link-local or cloud metadata address (IPv4-mapped IPv6 included)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip in METADATA_ADDRESSES or any(ip in net for net in LINK_LOCAL)


def _host_refusal(host: str) -> str:
    """Why a host (as written) is refused without asking DNS ("" when it is not)."""
    name = host.lower().rstrip(".")
    if name in METADATA_NAMES:
        return f"{name} is a cloud metadata service"
    if forbidden_address(name):
        return f"{name} is a link-local or cloud metadata address"
    return ""


def _resolve(host: str, port: int) -> list[str]:
    """The addresses a connection to `host` would try, in order (raises OSError when none)."""
    try:
        return [str(ipaddress.ip_address(host.split("%", 1)[0]))]
    except ValueError:
        pass
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def _checked_addresses(host: str, port: int) -> list[str]:
    """`host`'s addresses, every one allowed, or _Refused naming the first that is not."""
    why = _host_refusal(host)
    if why:
        raise _Refused(f"{why}: notifications are never sent there, not sent")
    addresses = _resolve(host, port)
    bad = next((a for a in addresses if forbidden_address(a)), None)
    if bad is not None:
        raise _Refused(f"the host resolved to {bad}, a link-local or cloud metadata address: not sent")
    return addresses


class _PinnedTLS(requests.adapters.HTTPAdapter):
    """TLS to an address checked beforehand, with the certificate and SNI still those of the host name."""

    def __init__(self, hostname: str):
        self.hostname = hostname
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs.update(server_hostname=self.hostname, assert_hostname=self.hostname)
        super().init_poolmanager(*args, **kwargs)


def _pin(url: str, session: requests.Session) -> tuple[str, dict[str, str]]:
    """The URL to post to and the headers to add: the host's address is resolved and checked once,
    and the connection goes to that address (DNS cannot answer differently for the connection).
    Through a proxy the proxy resolves the name: the name alone is checked then."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme.lower() == "https" else 80)
    if requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url)):
        if why := _host_refusal(host):
            raise _Refused(f"{why}: notifications are never sent there, not sent")
        return url, {}
    try:
        address = _checked_addresses(host, port)[0]
    except OSError:
        raise requests.ConnectionError("Name or service not known") from None
    shown = f"[{address}]" if ":" in address else address
    netloc = shown + (f":{parts.port}" if parts.port else "")
    if parts.scheme.lower() == "https":
        session.mount(f"https://{netloc}", _PinnedTLS(host))
    host_header = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl(), {"Host": host_header}


def _refuse_metadata(targets: Sequence[Target]) -> None:
    """At configuration: refuse webhooks whose host is, or now resolves to, a link-local or metadata
    address (one line naming the webhook). Hosts that do not resolve in time are checked at send."""
    def check(target: Target) -> str:
        parts = urlsplit(target.url)
        try:
            _checked_addresses(parts.hostname or "", parts.port or 443)
        except _Refused as refused:
            return str(refused).removesuffix(": not sent").removesuffix(", not sent")
        except OSError:
            pass
        return ""
    found = deadline.finish_by(time.monotonic() + RESOLVE_S, [functools.partial(check, t) for t in targets],
                               name="cdhelper-resolve")
    for index, target in enumerate(targets):
        why = found.get(index)
        if isinstance(why, str) and why:
            raise InputError(f"notify-webhooks: {target.redacted} is refused", why,
                             "point the webhook at the receiver's own address (notifications never go to "
                             "link-local or cloud metadata addresses)")


def targets_from(environ: Mapping[str, str]) -> tuple[Target, ...]:
    """The webhooks of INPUT_NOTIFY_WEBHOOKS (empty: no notifications). One a line, `URL` or `KIND URL`,
    KIND `slack` or `json`; a bare URL is `slack` on Slack's hosts, else `json`. Blank lines and lines
    starting with `#` are skipped. Raises a one-line InputError that never quotes a URL or the secret."""
    secret = _get(environ, SECRET_INPUT).strip()
    timeout_s = _number(environ, TIMEOUT_INPUT, DEFAULT_TIMEOUT_S, 0.1, 300)
    attempts = int(_number(environ, ATTEMPTS_INPUT, DEFAULT_ATTEMPTS, 1, 10, integer=True))
    deadline_from(environ)  # read here too, so a bad deadline fails before anything is deployed, not after
    targets = []
    for line, text in enumerate(_get(environ, WEBHOOKS_INPUT).splitlines(), start=1):
        words = text.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) > 2:
            raise InputError(f"notify-webhooks line {line} has {len(words)} words", "a line is `URL` or `KIND URL`",
                             "write one webhook a line, e.g. `slack https://hooks.slack.com/services/...`")
        url = words[-1]
        _check_url(url, line)
        if len(words) == 2:
            kind = words[0].lower()
            if kind not in KINDS:
                shown = f" {kind!r}" if _KIND_WORD.fullmatch(kind) else ""
                raise InputError(f"notify-webhooks line {line}: unknown kind{shown}", "the kind is `slack` or `json`",
                                 "write `slack URL` or `json URL` (or the URL alone)")
        else:
            kind = "slack" if (urlsplit(url).hostname or "").lower() in SLACK_HOSTS else "json"
        targets.append(Target(url=url, kind=kind, secret=secret, timeout_s=timeout_s, attempts=attempts))
    if len(targets) > MAX_TARGETS:
        raise InputError(f"notify-webhooks lists {len(targets)} webhooks", f"at most {MAX_TARGETS} are notified",
                         "fan out in one receiver instead")
    if secret and len(secret) < MIN_SECRET_LENGTH:
        raise InputError(f"notify-secret is {len(secret)} characters long",
                         f"an HMAC key must have at least {MIN_SECRET_LENGTH}",
                         "generate one with `openssl rand -hex 32` and store it as a secret")
    if not secret and any(t.kind == "json" for t in targets):
        raise InputError("notify-secret is empty", "JSON webhooks are always signed, so receivers can tell a "
                         "forged notification from ours", "set notify-secret (e.g. from `openssl rand -hex 32`)")
    _refuse_metadata(targets)
    return tuple(targets)


def deadline_from(environ: Mapping[str, str]) -> float:
    """INPUT_NOTIFY_DEADLINE: how long one `send` may take in all, retries included (default 30 s)."""
    return _number(environ, DEADLINE_INPUT, DEFAULT_DEADLINE_S, 1, 600)


def secret_values(targets: Sequence[Target]) -> list[str]:
    """What to mask (ActionsIO.mask) the moment the targets are read."""
    return list(dict.fromkeys(v for t in targets for v in (t.url, t.secret) if v))


# --- events and bodies ---------------------------------------------------------------------------

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    kind: str  # 'promoted' | 'failed' | 'waiting' | 'rolled_back' | 'report' (the DORA report)
    repository: str
    environment: str
    version: str
    digest: str = ""
    deployment_id: int | None = None
    run_url: str = ""
    mode: str = ""  # 'delivery' | 'deployment'
    approved_by: tuple[str, ...] = ()
    message: str = ""
    at: str = field(default_factory=_now)  # ISO 8601, UTC

    def __post_init__(self) -> None:
        if self.kind not in EVENTS:
            raise ValueError(f"event kind {self.kind!r} is not one of {', '.join(EVENTS)}")
        object.__setattr__(self, "approved_by", tuple(self.approved_by))


def json_body(event: Event) -> dict:
    """The generic body: notification.schema.json."""
    return {"schema": SCHEMA_ID, **asdict(event), "approved_by": list(event.approved_by)}


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn gives & < > meaning (links, <!channel> mentions); nothing else can be escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_HEADLINES = {
    "promoted": ":white_check_mark: {repo}: {version} promoted to {env}",
    "failed": ":x: {repo}: {version} failed to deploy to {env}",
    "waiting": ":hourglass_flowing_sand: {repo}: {version} is waiting for approval to reach {env}",
    "rolled_back": ":leftwards_arrow_with_hook: {repo}: {env} rolled back to {version}",
    "report": ":bar_chart: {repo}: how {env} delivers (DORA metrics)",
}


def slack_body(event: Event) -> dict:
    """Slack's incoming webhook: one `text` in mrkdwn, every value escaped."""
    e = _slack_escape
    lines = [_HEADLINES[event.kind].format(repo=e(event.repository), version=e(event.version), env=e(event.environment))]
    facts = [f"mode {e(event.mode)}" if event.mode else "", f"digest {e(event.digest)}" if event.digest else "",
             f"deployment {event.deployment_id}" if event.deployment_id is not None else "",
             f"approved by {e(', '.join(event.approved_by))}" if event.approved_by else ""]
    if any(facts):
        lines.append(" · ".join(f for f in facts if f))
    if event.message:
        lines.append(e(event.message))
    if re.match(r"https?://", event.run_url, re.I):
        # Inside <url|label> a | or > would end the URL: percent-encode them (and < and spaces).
        url = re.sub(r"[\x00-\x20<>|\x7f]", lambda m: f"%{ord(m.group()):02X}", event.run_url)
        lines.append(f"<{url}|View the workflow run>")
    return {"text": "\n".join(lines)}


def body_bytes(event: Event, kind: str) -> bytes:
    return json.dumps(slack_body(event) if kind == "slack" else json_body(event)).encode()


def signature(body: bytes, secret: str) -> str:
    """The X-Cdhelper-Signature-256 value: `sha256=` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- delivery ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    target: str  # redacted URL
    kind: str
    ok: bool
    status: int | None  # the last HTTP status, None when no answer came
    attempts: int
    error: str  # "" when delivered; never holds the URL or the secret
    elapsed: float  # seconds

    def outcome(self) -> str:
        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.ok:
            return f"delivered (HTTP {self.status}, {tries}, {self.elapsed:.1f} s)"
        return (f"NOT delivered after {tries} in {self.elapsed:.1f} s: {self.error}. "
                "The deployment itself is not affected.")

    def describe(self) -> str:
        """One plain line, e.g. for a warning annotation."""
        return f"{self.kind} webhook {self.target}: {self.outcome()}"


class _Progress:
    """What a worker thread has done so far: read by `send` when the deadline cuts it short."""

    def __init__(self) -> None:
        self.attempts = 0
        self.status: int | None = None
        self.error = ""


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _exception_text(exc: Exception, timeout: float) -> str:
    """What went wrong, without str(exc): requests puts the URL's path (the secret) in its messages."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"could not connect within {timeout:.1f} s"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:.1f} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed (certificate?)"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "Name or service not known" in text or "getaddrinfo failed" in text or "NameResolutionError" in text:
            return "the host name did not resolve"
        if "Connection refused" in text:
            return "the connection was refused"
        if "RemoteDisconnected" in text or "Connection aborted" in text or "reset by peer" in text:
            return "the connection closed without an answer"
        return "the connection failed"
    return f"the request failed ({type(exc).__name__})"


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    return float(raw) if raw.isdigit() else None


def _deliver(target: Target, body: bytes, headers: dict[str, str], end: float, backoff_s: float,
             progress: _Progress) -> tuple[bool, int | None, str]:
    """Attempts until delivered, a final answer, attempts used up, or `end` (time.monotonic) reached."""
    delay = backoff_s
    with requests.Session() as session:
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0.05:
                return False, progress.status, progress.error or "the deadline passed before the first attempt"
            timeout = min(target.timeout_s, remaining)
            progress.attempts += 1
            try:
                url, host_header = _pin(target.url, session)
                # No redirects: the signed body goes to the configured host or nowhere.
                with session.post(url, data=body, headers={**headers, **host_header}, timeout=timeout, stream=True,
                                  allow_redirects=False) as response:
                    progress.status = response.status_code
                    if 200 <= response.status_code < 300:
                        return True, response.status_code, ""
                    # Only the status: a receiver's answer may echo the URL's secret path in any encoding.
                    progress.error = f"HTTP {response.status_code}"
                    if 300 <= response.status_code < 400:
                        return False, response.status_code, progress.error + ": redirects are not followed, not retried"
                    if not _retryable(response.status_code):
                        return False, response.status_code, progress.error + ", not retried"
                    wait = _retry_after(response) if response.status_code == 429 else None
            except _Refused as refused:  # not retried: the name would resolve there again
                return False, None, str(refused)
            except requests.RequestException as exc:
                progress.status = None
                progress.error = _exception_text(exc, timeout)
                wait = None
            if progress.attempts >= target.attempts:
                return False, progress.status, progress.error
            wait = delay if wait is None else wait
            if time.monotonic() + wait >= end - 0.05:
                return False, progress.status, f"{progress.error}; no time left to retry within the deadline"
            time.sleep(wait)
            delay *= 2


def send(event: Event, targets: Sequence[Target], *, deadline_s: float = DEFAULT_DEADLINE_S,
         backoff_s: float = BACKOFF_S) -> list[Delivery]:
    """Notify every target in parallel; one Delivery per target, in order. Never raises, and returns
    within `deadline_s` (plus a few milliseconds) whatever the receivers do: a worker still waiting
    then is abandoned (a daemon thread whose own timeout is within the deadline). Retries connection
    errors, timeouts, 429 (honouring Retry-After) and 5xx with exponential backoff; never other 4xx."""
    start = time.monotonic()
    end = start + max(deadline_s, 0.0)
    progress = [_Progress() for _ in targets]

    def work(index: int, target: Target) -> tuple[bool, int | None, str, float]:
        try:
            body = body_bytes(event, target.kind)
            headers = {"Content-Type": "application/json", "User-Agent": f"cdhelper/{__version__}",
                       "X-Cdhelper-Event": event.kind, "X-Cdhelper-Delivery": str(uuid.uuid4())}
            if target.secret:
                headers["X-Cdhelper-Signature-256"] = signature(body, target.secret)
            ok, status, error = _deliver(target, body, headers, end, backoff_s, progress[index])
        except Exception as exc:  # noqa: BLE001 - a notification must never fail the deployment
            ok, status, error = False, None, f"cdhelper could not send it ({type(exc).__name__})"
        return ok, status, error, time.monotonic() - start

    done = deadline.finish_by(end, [functools.partial(work, i, t) for i, t in enumerate(targets)],
                              name="cdhelper-notify")
    deliveries = []
    for index, target in enumerate(targets):
        if index in done:
            ok, status, error, elapsed = done[index]
        else:  # still waiting on the receiver at the deadline: left behind, reported as failed
            seen = progress[index]
            ok, status, elapsed = False, seen.status, time.monotonic() - start
            error = f"no answer within the {deadline_s:g} s deadline" + (f" (last: {seen.error})" if seen.error else "")
        deliveries.append(Delivery(target=target.redacted, kind=target.kind, ok=ok, status=status,
                                   attempts=progress[index].attempts,
                                   error=error, elapsed=round(elapsed, 3)))
    return deliveries


def summary_lines(deliveries: Sequence[Delivery]) -> str:
    """Markdown for the job summary: one line per webhook, failures first and said plainly; "" when none."""
    if not deliveries:
        return ""
    failed = [d for d in deliveries if not d.ok]
    head = (f"#### Notifications: {len(deliveries) - len(failed)} of {len(deliveries)} delivered"
            + (" :warning:" if failed else ""))
    lines = [head, ""]
    for d in sorted(deliveries, key=lambda d: d.ok):
        icon = ":white_check_mark:" if d.ok else ":warning:"
        lines.append(f"- {icon} {md_code(d.kind)} webhook {md_code(d.target)}: {md_text(d.outcome())}")
    return "\n".join(lines) + "\n"
