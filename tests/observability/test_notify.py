"""Webhook notifications against a real HTTP receiver on loopback: bodies, signatures, retries,
the deadline, and that neither the URL's secret path nor the HMAC key shows anywhere."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import ssl
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import cmarkgfm
import jsonschema
import pytest

from cdhelper import __version__, notify
from cdhelper.core.errors import InputError

SECRET = "hmac-secret-0123456789abcdef-SENTINEL"
PATH_SECRET = "/services/T000/B000/XXXXsecretXXXX"
DIGEST = "sha256:" + "ab" * 32


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers from a script: each entry is a status, or
    ("hang", seconds), or ("drip",), or (status, {headers}[, body]); the last entry repeats. It records every request."""

    def __init__(self, *script):
        self.script = list(script) or [200]
        self.requests: list[dict] = []
        self.release = threading.Event()  # ends every hanging answer at teardown
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "at": time.monotonic()})
                step = receiver.script[min(len(receiver.requests), len(receiver.script)) - 1]
                if isinstance(step, tuple) and step[0] == "hang":
                    receiver.release.wait(step[1])
                    return
                if isinstance(step, tuple) and step[0] == "drip":  # a byte at a time: no read ever times out
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                    while not receiver.release.wait(0.2):
                        try:
                            self.wfile.write(b"a")
                        except OSError:
                            return
                    return
                status, headers, answer = (*step, b"")[:3] if isinstance(step, tuple) else (step, {}, b"")
                answer = answer or (b"ok" if status < 300 else b"invalid_payload")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{PATH_SECRET}"

    @property
    def redacted(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/…"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def target(receiver: Receiver, kind: str = "json", **kw) -> notify.Target:
    return notify.Target(url=receiver.url, kind=kind, secret=kw.pop("secret", SECRET), **kw)


EVENT = notify.Event(kind="promoted", repository="acme/app", environment="production", version="1.2.3",
                     digest=DIGEST, deployment_id=42, run_url="https://github.example/acme/app/actions/runs/7",
                     mode="delivery", approved_by=("alice",), message="", at="2026-11-28T14:00:00Z")


def schema() -> dict:
    return json.loads(resources.files("cdhelper.core").joinpath("schemas/notification.schema.json").read_text())


def assert_secret_free(text: str) -> None:
    assert SECRET not in text and "XXXXsecretXXXX" not in text and "services" not in text, text


# --- delivery, body and signature -----------------------------------------------------------------

def test_json_delivery_is_schema_valid_signed_and_identified():
    with Receiver(200) as rx:
        [delivery] = notify.send(EVENT, [target(rx)], deadline_s=5)
    assert delivery.ok and delivery.status == 200 and delivery.attempts == 1 and delivery.error == ""
    assert delivery.target == rx.redacted
    [request] = rx.requests
    assert request["path"] == PATH_SECRET
    body = json.loads(request["body"])
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    validator.validate(body)
    assert body["schema"] == "cdhelper.notification/1"
    assert body == {"schema": "cdhelper.notification/1", "kind": "promoted", "repository": "acme/app",
                    "environment": "production", "version": "1.2.3", "digest": DIGEST, "deployment_id": 42,
                    "run_url": "https://github.example/acme/app/actions/runs/7", "mode": "delivery",
                    "approved_by": ["alice"], "message": "", "at": "2026-11-28T14:00:00Z"}
    headers = request["headers"]
    # The receiver's check, as docs/notifications.md shows it: HMAC of the raw bytes, compared in constant time.
    expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Cdhelper-Signature-256"], expected)
    assert headers["X-Cdhelper-Event"] == "promoted"
    assert uuid.UUID(headers["X-Cdhelper-Delivery"]).version == 4
    assert headers["User-Agent"] == f"cdhelper/{__version__}"
    assert headers["Content-Type"] == "application/json"


def test_a_wrong_secret_does_not_verify():
    with Receiver(200) as rx:
        notify.send(EVENT, [target(rx, secret="another-secret-of-enough-length")], deadline_s=5)
    [request] = rx.requests
    forged = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Cdhelper-Signature-256"] != forged


@pytest.mark.parametrize("kind", ["promoted", "failed", "waiting", "rolled_back"])
def test_every_event_kind_is_schema_valid(kind):
    event = notify.Event(kind=kind, repository="acme/app", environment="staging", version="2.0.0")
    body = notify.json_body(event)
    jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker()).validate(body)
    assert body["deployment_id"] is None and body["at"].endswith("Z")


def test_the_schema_is_valid_draft_2020_12_and_refuses_an_unknown_kind():
    jsonschema.Draft202012Validator.check_schema(schema())
    body = notify.json_body(EVENT) | {"kind": "exploded"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema()).validate(body)


def test_slack_body_is_text_with_mrkdwn_escaped_and_signed():
    event = notify.Event(kind="failed", repository="acme/app", environment="production", version="1.2.3",
                         message="health check <!channel> failed & <https://evil.example|click>",
                         run_url="https://github.example/runs/7?a=1|x>y")
    with Receiver(200) as rx:
        [delivery] = notify.send(event, [target(rx, kind="slack")], deadline_s=5)
    assert delivery.ok
    [request] = rx.requests
    body = json.loads(request["body"])
    assert list(body) == ["text"]
    text = body["text"]
    assert text.startswith(":x: acme/app: 1.2.3 failed to deploy to production")
    assert "health check &lt;!channel&gt; failed &amp; &lt;https://evil.example|click&gt;" in text
    assert "<!channel>" not in text
    assert text.endswith("<https://github.example/runs/7?a=1%7Cx%3Ey|View the workflow run>")
    expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Cdhelper-Signature-256"] == expected


@pytest.mark.parametrize(("kind", "headline"), [
    ("promoted", ":white_check_mark: acme/app: 2.0.0 promoted to production"),
    ("failed", ":x: acme/app: 2.0.0 failed to deploy to production"),
    ("waiting", ":hourglass_flowing_sand: acme/app: 2.0.0 is waiting for approval to reach production"),
    ("rolled_back", ":leftwards_arrow_with_hook: acme/app: production rolled back to 2.0.0"),
])
def test_slack_headline_per_event_kind(kind, headline):
    event = notify.Event(kind=kind, repository="acme/app", environment="production", version="2.0.0",
                         deployment_id=9, mode="deployment", approved_by=["bob", "carol"])
    text = notify.slack_body(event)["text"]
    assert text.splitlines() == [headline, "mode deployment · deployment 9 · approved by bob, carol"]


def test_no_signature_header_without_a_secret():
    with Receiver(200) as rx:
        notify.send(EVENT, [target(rx, kind="slack", secret="")], deadline_s=5)
    assert "X-Cdhelper-Signature-256" not in rx.requests[0]["headers"]


# --- retries ----------------------------------------------------------------------------------------

def test_500_is_retried_with_the_same_delivery_id_then_delivered():
    with Receiver(500, 503, 200) as rx:
        [delivery] = notify.send(EVENT, [target(rx, attempts=3)], deadline_s=10, backoff_s=0.2)
    assert delivery.ok and delivery.attempts == 3 and delivery.status == 200
    assert len(rx.requests) == 3
    assert len({r["headers"]["X-Cdhelper-Delivery"] for r in rx.requests}) == 1  # receivers can de-duplicate
    gaps = [rx.requests[i + 1]["at"] - rx.requests[i]["at"] for i in range(2)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps  # exponential backoff


def test_5xx_until_attempts_run_out_fails_with_the_last_status():
    with Receiver(502) as rx:
        [delivery] = notify.send(EVENT, [target(rx, attempts=2)], deadline_s=10, backoff_s=0.05)
    assert not delivery.ok and delivery.attempts == 2 and delivery.status == 502 and len(rx.requests) == 2
    assert "HTTP 502" in delivery.error


def test_400_is_not_retried():
    with Receiver(400, 200) as rx:
        [delivery] = notify.send(EVENT, [target(rx, attempts=5)], deadline_s=10, backoff_s=0.05)
    assert not delivery.ok and delivery.status == 400 and delivery.attempts == 1 and len(rx.requests) == 1
    assert delivery.error == "HTTP 400, not retried"


def test_a_redirect_is_not_followed():
    """The signed body goes to the configured URL or nowhere."""
    with Receiver(200) as elsewhere, Receiver(307) as rx:
        rx.script = [(307, {"Location": elsewhere.url})]
        [delivery] = notify.send(EVENT, [target(rx)], deadline_s=5)
    assert not delivery.ok and delivery.status == 307 and len(rx.requests) == 1 and elsewhere.requests == []
    assert "redirects are not followed" in delivery.error


def test_429_is_retried_honouring_retry_after():
    with Receiver((429, {"Retry-After": "1"}), 200) as rx:
        [delivery] = notify.send(EVENT, [target(rx)], deadline_s=10, backoff_s=0.01)
    assert delivery.ok and delivery.attempts == 2
    assert rx.requests[1]["at"] - rx.requests[0]["at"] >= 0.9


def test_a_retry_after_beyond_the_deadline_gives_up_at_once():
    with Receiver((429, {"Retry-After": "120"}), 200) as rx:
        started = time.monotonic()
        [delivery] = notify.send(EVENT, [target(rx)], deadline_s=5)
    assert time.monotonic() - started < 2
    assert not delivery.ok and delivery.status == 429 and len(rx.requests) == 1
    assert "no time left to retry within the deadline" in delivery.error


def test_a_refused_connection_is_retried_and_said_plainly():
    with Receiver(200) as rx:
        url = rx.url
    dead = notify.Target(url=url, kind="json", secret=SECRET, attempts=3)  # the port is closed now
    [delivery] = notify.send(EVENT, [dead], deadline_s=10, backoff_s=0.05)
    assert not delivery.ok and delivery.attempts == 3 and delivery.status is None
    assert delivery.error == "the connection was refused"


# --- the deadline ----------------------------------------------------------------------------------

def test_a_hanging_receiver_cannot_hold_the_job_past_the_deadline():
    with Receiver(("hang", 30)) as rx:
        started = time.monotonic()
        [delivery] = notify.send(EVENT, [target(rx, timeout_s=60, attempts=5)], deadline_s=2)
        took = time.monotonic() - started
    assert took < 3, took
    assert not delivery.ok and delivery.status is None and delivery.attempts == 1
    assert "no answer within 2.0 s" in delivery.error or "deadline" in delivery.error


def test_a_receiver_dripping_its_answer_cannot_hold_the_job_past_the_deadline():
    """Each read gets a byte before the per-attempt timeout: only send's own deadline stops this one."""
    with Receiver(("drip",)) as rx:
        started = time.monotonic()
        [delivery] = notify.send(EVENT, [target(rx, timeout_s=1)], deadline_s=2)
        took = time.monotonic() - started
    assert took < 3, took
    assert not delivery.ok and delivery.attempts == 1
    assert delivery.error == "no answer within the 2 s deadline"


def test_per_attempt_timeout_retries_within_the_deadline():
    with Receiver(("hang", 30), ("hang", 30), 200) as rx:
        started = time.monotonic()
        [delivery] = notify.send(EVENT, [target(rx, timeout_s=0.5, attempts=3)], deadline_s=10, backoff_s=0.05)
    assert delivery.ok and delivery.attempts == 3
    assert time.monotonic() - started < 5


def test_targets_run_in_parallel_and_one_slow_one_does_not_delay_the_others():
    with Receiver(("hang", 30)) as slow, Receiver(200) as fast_a, Receiver(500, 200) as fast_b:
        started = time.monotonic()
        deliveries = notify.send(EVENT, [target(slow, timeout_s=60), target(fast_a, kind="slack"), target(fast_b)],
                                 deadline_s=2, backoff_s=0.05)
        took = time.monotonic() - started
    assert took < 3, took
    assert [d.ok for d in deliveries] == [False, True, True]
    assert [d.target for d in deliveries] == [slow.redacted, fast_a.redacted, fast_b.redacted]
    assert deliveries[1].elapsed < 1.5 and deliveries[2].attempts == 2


def test_several_hanging_targets_still_share_one_deadline():
    receivers = [Receiver(("hang", 30)) for _ in range(4)]
    for rx in receivers:
        rx.__enter__()
    try:
        started = time.monotonic()
        deliveries = notify.send(EVENT, [target(rx, timeout_s=60) for rx in receivers], deadline_s=2)
        assert time.monotonic() - started < 3
        assert not any(d.ok for d in deliveries)
    finally:
        for rx in receivers:
            rx.__exit__(None, None, None)


def test_send_never_raises_even_on_a_bad_event():
    with Receiver(200) as rx:
        [delivery] = notify.send(notify.Event(kind="failed", repository="a/b", environment="e", version="1",
                                              message=b"not text"), [target(rx)], deadline_s=5)
    assert not delivery.ok and delivery.error == "cdhelper could not send it (TypeError)" and rx.requests == []


def test_no_targets_sends_nothing():
    assert notify.send(EVENT, [], deadline_s=1) == []
    assert notify.summary_lines([]) == ""


def test_send_works_after_the_import_seal():
    """Promote notifies after the deploy command ran: by then cdhelper may import nothing new."""
    from cdhelper._boot import import_seal
    with Receiver(500, 200) as rx, import_seal.armed():
        import_seal.seal()
        assert import_seal.sealed()
        deliveries = notify.send(EVENT, [target(rx), target(rx, kind="slack")], deadline_s=10, backoff_s=0.05)
        print(notify.summary_lines(deliveries))
    assert all(d.ok for d in deliveries)


# --- the job summary --------------------------------------------------------------------------------

def test_summary_states_failures_plainly_without_the_secret():
    with Receiver(400) as bad, Receiver(200) as good:
        deliveries = notify.send(EVENT, [target(good), target(bad, kind="slack")], deadline_s=5)
    text = notify.summary_lines(deliveries)
    assert_secret_free(text)
    html = cmarkgfm.github_flavored_markdown_to_html(text)
    assert "Notifications: 1 of 2 delivered" in html
    lines = text.splitlines()
    assert lines[2].startswith("- :warning: `slack` webhook `" + bad.redacted + "`: NOT delivered after 1 attempt")
    assert "HTTP 400" in html and "not retried" in html and "The deployment itself is not affected" in html
    assert lines[3].startswith("- :white_check_mark: `json` webhook `" + good.redacted + "`: delivered")
    for d in deliveries:
        assert_secret_free(d.describe())
        assert_secret_free(repr(d))


def test_summary_escapes_what_the_receiver_says():
    delivery = notify.Delivery(target="https://x.example/…", kind="json", ok=False, status=400, attempts=1,
                               error="HTTP 400 (<img src=x> *boom* [a](javascript:x))", elapsed=0.1)
    html = cmarkgfm.github_flavored_markdown_to_html(notify.summary_lines([delivery]))
    assert "<img" not in html and "<em>" not in html and "<a " not in html


@pytest.mark.parametrize("echo", [
    "XXXXsecretXXXX",                                  # the last path segment alone
    PATH_SECRET.replace("/", "\\/"),                  # the path JSON-escaped: \\/services\\/...
    PATH_SECRET.replace("/", "%2F"),                   # percent-encoded
    f"{PATH_SECRET} signed with {SECRET}",
])
def test_a_receivers_answer_never_reaches_the_log(echo):
    """Only the status and the host of an answer are printed: a receiver that echoes any part of the
    URL, in any encoding, cannot get it into the warning annotation or the job summary."""
    with Receiver((400, {}, f"no such hook: {echo}".encode())) as rx:
        [delivery] = notify.send(EVENT, [target(rx)], deadline_s=5)
    assert not delivery.ok and delivery.error == "HTTP 400, not retried"
    for text in (delivery.describe(), notify.summary_lines([delivery])):
        assert_secret_free(text)
        assert "XXXXsecretXXXX" not in text and "no such hook" not in text


# --- configuration ------------------------------------------------------------------------------------

def environ(webhooks: str, secret: str = SECRET, **extra: str) -> dict[str, str]:
    return {"INPUT_NOTIFY_WEBHOOKS": webhooks, "INPUT_NOTIFY_SECRET": secret, **extra}


def test_targets_from_inputs():
    found = notify.targets_from(environ(
        "# team channel\nhttps://hooks.slack.com/services/T0/B0/abc\n\njson https://ops.example/hook?token=x\n"
        "slack https://chat.example/hooks/1\n  http://127.0.0.1:8080/local\nhttps://hooks.slack-gov.com/s/1\n"
        "json http://[::1]:9/x\n",
        INPUT_NOTIFY_TIMEOUT="2.5", INPUT_NOTIFY_ATTEMPTS="4"))
    assert [(t.kind, t.redacted) for t in found] == [
        ("slack", "https://hooks.slack.com/…"), ("json", "https://ops.example/…"), ("slack", "https://chat.example/…"),
        ("json", "http://127.0.0.1:8080/…"), ("slack", "https://hooks.slack-gov.com/…"), ("json", "http://[::1]:9/…")]
    assert all(t.secret == SECRET and t.timeout_s == 2.5 and t.attempts == 4 for t in found)
    assert notify.secret_values(found)[:2] == ["https://hooks.slack.com/services/T0/B0/abc", SECRET]
    assert_secret_free(repr(found))
    assert "abc" not in repr(found) and "token" not in repr(found)


def test_defaults_and_the_hyphen_spelling():
    assert notify.targets_from({}) == ()
    [t] = notify.targets_from({"INPUT_NOTIFY-WEBHOOKS": "https://hooks.slack.com/services/x", "INPUT_NOTIFY-SECRET": ""})
    assert (t.kind, t.secret, t.timeout_s, t.attempts) == ("slack", "", 10.0, 3)
    assert notify.deadline_from({}) == 30.0
    assert notify.deadline_from({"INPUT_NOTIFY_DEADLINE": "12"}) == 12.0


@pytest.mark.parametrize(("webhooks", "secret", "extra", "says"), [
    ("http://ops.example/hook/SECRETPATH", SECRET, {}, "is not https"),
    ("http://10.0.0.1/hook/SECRETPATH", SECRET, {}, "is not https"),
    ("ftp://ops.example/SECRETPATH", SECRET, {}, "is not https"),
    ("https://user:SECRETPATH@ops.example/hook", SECRET, {}, "carries a user name or password"),
    ("https:///SECRETPATH", SECRET, {}, "has no host"),
    ("https://ops.example:99999/SECRETPATH", SECRET, {}, "is not a URL"),
    ("teams https://ops.example/SECRETPATH", SECRET, {}, "unknown kind 'teams'"),
    ("https://ops.example/SECRETPATH https://ops.example/SECRETPATH", SECRET, {}, "unknown kind"),
    ("slack https://ops.example/SECRETPATH extra", SECRET, {}, "has 3 words"),
    ("json https://ops.example/SECRETPATH", "", {}, "notify-secret is empty"),
    ("json https://ops.example/SECRETPATH", "short", {}, "notify-secret is 5 characters long"),
    ("https://hooks.slack.com/SECRETPATH", "short", {}, "notify-secret is 5 characters long"),
    ("https://ops.example/SECRETPATH", SECRET, {"INPUT_NOTIFY_TIMEOUT": "nan"}, "notify-timeout='nan'"),
    ("https://ops.example/SECRETPATH", SECRET, {"INPUT_NOTIFY_ATTEMPTS": "0"}, "notify-attempts='0'"),
    ("https://ops.example/SECRETPATH", SECRET, {"INPUT_NOTIFY_ATTEMPTS": "2.5"}, "notify-attempts='2.5'"),
    ("\n".join(["https://ops.example/SECRETPATH"] * 11), SECRET, {}, "lists 11 webhooks"),
])
def test_bad_inputs_are_one_line_errors_that_quote_no_secret(webhooks, secret, extra, says):
    with pytest.raises(InputError) as caught:
        notify.targets_from(environ(webhooks, secret, **extra))
    message = caught.value.one_line()
    assert says in message
    assert "\n" not in message
    for text in (message, str(caught.value), caught.value.markdown()):
        assert "SECRETPATH" not in text and SECRET not in text and (secret != "short" or "short" not in text)


def test_a_bad_deadline_is_an_input_error():
    with pytest.raises(InputError, match="notify-deadline"):
        notify.deadline_from({"INPUT_NOTIFY_DEADLINE": "-1"})


def test_an_unknown_event_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="exploded"):
        notify.Event(kind="exploded", repository="a/b", environment="e", version="1")


# --- where webhooks may not go --------------------------------------------------------------------

@pytest.mark.parametrize("url, says", [
    ("https://169.254.169.254/latest/meta-data/SECRETPATH", "169.254.169.254 is a link-local or cloud metadata address"),
    ("https://169.254.10.1/SECRETPATH", "169.254.10.1 is a link-local"),
    ("https://[fe80::1]/SECRETPATH", "fe80::1 is a link-local"),
    ("https://[fd00:ec2::254]/SECRETPATH", "fd00:ec2::254 is a link-local or cloud metadata address"),
    ("https://[::ffff:169.254.169.254]/SECRETPATH", "is a link-local or cloud metadata address"),
    ("https://100.100.100.200/SECRETPATH", "100.100.100.200 is a link-local or cloud metadata address"),
    ("https://168.63.129.16/SECRETPATH", "168.63.129.16 is a link-local or cloud metadata address"),
    ("https://Metadata.Google.Internal./SECRETPATH", "metadata.google.internal is a cloud metadata service"),
])
def test_a_metadata_or_link_local_webhook_is_refused_at_configuration(url, says):
    with pytest.raises(InputError) as caught:
        notify.targets_from(environ(f"json {url}"))
    message = caught.value.one_line()
    assert "notify-webhooks: https://" in message and says in message and "\n" not in message
    assert "SECRETPATH" not in message and SECRET not in message


def fake_dns(monkeypatch, *answers: str) -> list[str]:
    """notify's resolver answers from `answers` in turn (the last repeats); returns the names asked."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [answers[min(len(asked), len(answers)) - 1]]
    monkeypatch.setattr(notify, "_resolve", resolve)
    return asked


def test_a_name_resolving_to_the_metadata_service_is_refused_at_configuration(monkeypatch):
    asked = fake_dns(monkeypatch, "169.254.169.254")
    with pytest.raises(InputError) as caught:
        notify.targets_from(environ("json https://hooks.attacker.example/SECRETPATH"))
    assert asked == ["hooks.attacker.example"]
    assert caught.value.one_line().startswith("notify-webhooks: https://hooks.attacker.example/… is refused: the host "
                                              "resolved to 169.254.169.254, a link-local or cloud metadata address")


def test_dns_rebinding_to_the_metadata_service_at_send_time_is_refused_and_nothing_is_sent(monkeypatch):
    """The name passed at configuration, then DNS answers the metadata address: the address checked
    is the one connected to, so nothing leaves, and the warning says why."""
    with Receiver(200) as rx:
        asked = fake_dns(monkeypatch, "93.184.216.34", "169.254.169.254")
        [t] = notify.targets_from(environ("json https://hooks.rebind.example/SECRETPATH"))
        [delivery] = notify.send(EVENT, [t], deadline_s=5)
    assert asked == ["hooks.rebind.example", "hooks.rebind.example"]
    assert not delivery.ok and delivery.attempts == 1 and delivery.status is None and rx.requests == []
    assert delivery.error == "the host resolved to 169.254.169.254, a link-local or cloud metadata address: not sent"
    assert "SECRETPATH" not in delivery.describe()


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    """A name only our resolver knows reaches the loopback receiver: the request went to the checked
    address, with the name in the Host header (and, over TLS, in SNI and the certificate check)."""
    with Receiver(200) as rx:
        port = rx.server.server_address[1]
        asked = fake_dns(monkeypatch, "127.0.0.1")
        hook = notify.Target(url=f"http://hooks.only-here.invalid:{port}{PATH_SECRET}", kind="json", secret=SECRET)
        [delivery] = notify.send(EVENT, [hook], deadline_s=5)
    assert delivery.ok and asked == ["hooks.only-here.invalid"]
    assert rx.requests[0]["headers"]["Host"] == f"hooks.only-here.invalid:{port}"
    assert rx.requests[0]["path"] == PATH_SECRET


def test_loopback_and_private_addresses_stay_allowed(monkeypatch):
    """Tests and local relays post to loopback; a self-hosted runner may post to an internal proxy."""
    fake_dns(monkeypatch, "10.1.2.3")
    found = notify.targets_from(environ("json http://127.0.0.1:8080/x\njson https://[::1]/x\n"
                                        "json https://192.168.1.10/x\njson https://slack-proxy.corp.example/x"))
    assert len(found) == 4


def test_over_tls_the_pinned_connection_still_checks_the_certificate_of_the_name(monkeypatch, tmp_path):
    """Connecting to the checked address must not loosen TLS: SNI and the certificate check use the
    host name, so a certificate for another name is refused."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    for name in ("hooks.tls.invalid", "other.invalid"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                        "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(tmp_path / f"{name}.key"),
                        "-out", str(tmp_path / f"{name}.pem")], check=True, capture_output=True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "hooks.tls.invalid.pem"))
    fake_dns(monkeypatch, "127.0.0.1")
    verdicts = []
    for name in ("hooks.tls.invalid", "other.invalid"):
        with Receiver(200) as rx:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tmp_path / f"{name}.pem", tmp_path / f"{name}.key")
            rx.server.socket = context.wrap_socket(rx.server.socket, server_side=True)
            port = rx.server.server_address[1]
            hook = notify.Target(url=f"https://hooks.tls.invalid:{port}{PATH_SECRET}", kind="json", secret=SECRET,
                                 attempts=1)
            [delivery] = notify.send(EVENT, [hook], deadline_s=5)
            verdicts.append((delivery.ok, delivery.error, len(rx.requests)))
    assert verdicts == [(True, "", 1), (False, "the TLS handshake failed (certificate?)", 0)]
