"""Deliveries to installers' webhooks are signed by the intake webhook's scheme: what
``signed_headers`` sends verifies with the intake's own check and with the snippet that
docs/webhooks.md gives receivers, and with nothing else. The address rules of the setting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from mailflow.domain.intake.webhook import SignatureError, sign, verify_signature
from mailflow.installers.webhooks import WebhookInvalid, check_url
from mailflow.outbound.transports import PermanentFailure, TemporaryFailure
from mailflow.outbound.webhooks import encode, new_secret, post, signed_headers

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
AT = datetime(2027, 3, 17, 9, 0, tzinfo=UTC)
BODY = encode({"event": "lead.accepted", "lead_id": 12, "customer": {"name": "Zoé Müller"}})


def headers(secret: str, body: bytes = BODY, at: datetime = AT) -> dict[str, str]:
    return signed_headers(secret, body, delivery_id="whd_1", at=at)


def check(secret: str, sent: dict[str, str], body: bytes = BODY, now: datetime = AT):
    return verify_signature(
        secret,
        sent["X-Mailflow-Timestamp"],
        sent["X-Mailflow-Signature"],
        body,
        now=now,
        tolerance_seconds=300,
    )


def doc_verify():
    """The receiver's ``verify`` exactly as docs/webhooks.md prints it."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace["verify"]


def test_round_trip_with_the_intake_check():
    secret = new_secret()
    sent = headers(secret)
    assert sent["X-Mailflow-Timestamp"] == str(int(AT.timestamp()))
    assert sent["X-Mailflow-Signature"] == sign(secret, sent["X-Mailflow-Timestamp"], BODY)
    assert sent["X-Mailflow-Signature"].startswith("sha256=")
    assert sent["Idempotency-Key"] == "whd_1"
    assert check(secret, sent).signature == sent["X-Mailflow-Signature"].removeprefix("sha256=")
    # Four minutes later it still verifies; six minutes later it is stale.
    check(secret, sent, now=AT + timedelta(minutes=4))
    with pytest.raises(SignatureError, match="outside the allowed window"):
        check(secret, sent, now=AT + timedelta(minutes=6))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s, h, b: (s + "x", h, b),  # another installer's secret
        lambda s, h, b: (s, h, b.replace(b"12", b"13")),  # another lead
        lambda s, h, b: (s, {**h, "X-Mailflow-Timestamp": str(int(AT.timestamp()) - 1)}, b),
    ],
)
def test_anything_changed_does_not_verify(tamper):
    secret = new_secret()
    other_secret, sent, body = tamper(secret, headers(secret), BODY)
    with pytest.raises(SignatureError, match="signature does not match"):
        check(other_secret, sent, body)


def test_the_documented_receiver_snippet_verifies_our_requests():
    verify = doc_verify()
    secret = new_secret()
    with time_machine.travel(AT, tick=False):
        sent = headers(secret)
        ts, sig = sent["X-Mailflow-Timestamp"], sent["X-Mailflow-Signature"]
        assert verify(secret, ts, sig, BODY) is True
        assert verify(secret + "x", ts, sig, BODY) is False
        assert verify(secret, ts, sig, BODY + b" ") is False
        assert verify(secret, "not a number", sig, BODY) is False
    with time_machine.travel(AT + timedelta(minutes=10), tick=False):
        assert verify(secret, ts, sig, BODY) is False  # stale


def test_secrets_are_random_and_long():
    made = {new_secret() for _ in range(50)}
    assert len(made) == 50
    assert all(s.startswith("whsec_") and len(s) >= 48 for s in made)


@pytest.mark.parametrize(
    "url",
    [
        "https://crm.example.com/hooks/leads",
        "https://hooks.zapier.com/hooks/catch/123/abc/?x=1",
        "  https://crm.example.com:8443/in  ",
    ],
)
def test_public_https_addresses_are_accepted(url):
    assert check_url(url) == url.strip()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Enter the address of your webhook."),
        ("http://crm.example.com/hooks", "The address must start with https://."),
        ("ftp://crm.example.com/", "The address must start with https://."),
        ("crm.example.com/hooks", "The address must start with https://."),
        (
            "https://" + "a" * 300 + ".example.com/",
            "The address can be 300 characters long at most.",
        ),
        ("https://crm.exämple.com/", "This is not a valid web address."),
        ("https://crm.example.com/a b", "This is not a valid web address."),
        ("https://crm.example.com:99999/", "This is not a valid web address."),
        ("https://u:p@crm.example.com/", "The address must not contain a user name or a password."),
        ("https://localhost/in", "reachable from the internet"),
        ("https://127.0.0.1/in", "reachable from the internet"),
        ("https://[::1]/in", "reachable from the internet"),
        ("https://10.1.2.3/in", "reachable from the internet"),
        ("https://169.254.169.254/latest", "reachable from the internet"),
        ("http://127.0.0.1:8080/in", "reachable from the internet"),
    ],
)
def test_refused_addresses(url, message):
    with pytest.raises(WebhookInvalid) as refused:
        check_url(url)
    assert message in str(refused.value)


def test_local_receivers_only_with_the_setting():
    assert check_url("http://127.0.0.1:8080/in", allow_local=True) == "http://127.0.0.1:8080/in"
    assert check_url("http://localhost/in", allow_local=True) == "http://localhost/in"
    assert check_url("https://10.1.2.3/in", allow_local=True) == "https://10.1.2.3/in"
    with pytest.raises(WebhookInvalid, match="https://"):
        check_url("http://10.1.2.3/in", allow_local=True)
    with pytest.raises(WebhookInvalid, match="https://"):
        check_url("http://crm.example.com/in", allow_local=True)


def test_sending_refuses_names_of_the_local_network_unless_allowed():
    """A public-looking name may still point here: checked when sending, not only when set."""
    send = dict(delivery_id="whd_1", at=AT, timeout=1)
    with pytest.raises(PermanentFailure, match="local or private address"):
        post("https://localhost:9/in", "whsec_x", BODY, **send)
    # Allowed: it is tried (nothing listens on port 9: a failure to retry).
    with pytest.raises(TemporaryFailure):
        post("http://127.0.0.1:9/in", "whsec_x", BODY, allow_local=True, **send)
    with pytest.raises(PermanentFailure, match="no webhook"):
        post(None, None, BODY, **send)
