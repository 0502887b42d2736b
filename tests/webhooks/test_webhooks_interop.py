"""Interoperability with two Standard Webhooks implementations we did not write.

``standardwebhooks`` is the reference library; ``svix`` is Svix's SDK (which
wraps the reference today, and reads its own ``svix-*`` header names as well).
Each side verifies what the other signs, single secrets and rotations alike.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
import svix.webhooks
from webhook_helpers import OTHER_SECRET, SECRET, event_body

from pulse_async.webhooks import Webhook, WebhookVerificationError, generate_secret

Libraries = [
    pytest.param(
        standardwebhooks.Webhook, standardwebhooks.WebhookVerificationError, id="standardwebhooks"
    ),
    pytest.param(svix.webhooks.Webhook, svix.webhooks.WebhookVerificationError, id="svix"),
]


def _their_headers(library: type, secrets: list[str], body: bytes, event_id: str) -> dict[str, str]:
    now = datetime.now(tz=UTC)
    signatures = " ".join(library(secret).sign(event_id, now, body.decode()) for secret in secrets)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }


@pytest.mark.parametrize(("library", "error"), Libraries)
def test_we_verify_what_they_sign(library: type, error: type) -> None:
    for secret in (SECRET, OTHER_SECRET, generate_secret(24), generate_secret(64)):
        body = event_body("evt_theirs")
        headers = _their_headers(library, [secret], body, "evt_theirs")
        event = Webhook(secret).verify(body, headers)
        assert (event.id, event.type) == ("evt_theirs", "message.delivered")


@pytest.mark.parametrize(("library", "error"), Libraries)
def test_they_verify_what_we_sign(library: type, error: type) -> None:
    for secret in (SECRET, OTHER_SECRET, generate_secret(24), generate_secret(64)):
        body = event_body("evt_ours")
        headers = Webhook(secret).sign(body, webhook_id="evt_ours")
        library(secret).verify(body, headers)
        with pytest.raises(error):
            library(secret).verify(body + b" ", headers)
        with pytest.raises(error):
            library(generate_secret()).verify(body, headers)


@pytest.mark.parametrize(("library", "error"), Libraries)
def test_rotation_both_ways_across_implementations(library: type, error: type) -> None:
    body = event_body("evt_rot")
    # We sign with the old and the new secret; their receiver knows only one of them.
    headers = Webhook([SECRET, OTHER_SECRET]).sign(body, webhook_id="evt_rot")
    library(SECRET).verify(body, headers)
    library(OTHER_SECRET).verify(body, headers)
    # They sign with both (two entries); our receiver knows only one, or both.
    theirs = _their_headers(library, [SECRET, OTHER_SECRET], body, "evt_rot")
    for receiver in ([SECRET], [OTHER_SECRET], [OTHER_SECRET, SECRET]):
        assert Webhook(receiver).verify(body, theirs).id == "evt_rot"
    # They sign with the new secret only; we know old and new.
    theirs = _their_headers(library, [OTHER_SECRET], body, "evt_rot")
    assert Webhook([SECRET, OTHER_SECRET]).verify(body, theirs).id == "evt_rot"


@pytest.mark.parametrize(("library", "error"), Libraries)
def test_both_refuse_the_same_stale_and_future_deliveries(library: type, error: type) -> None:
    body = event_body("evt_t")
    now = int(time.time())
    for offset, reason in ((-400, "timestamp_too_old"), (400, "timestamp_too_new")):
        headers = Webhook(SECRET).sign(body, webhook_id="evt_t", timestamp=now + offset)
        with pytest.raises(error):
            library(SECRET).verify(body, headers)
        with pytest.raises(WebhookVerificationError) as info:
            Webhook(SECRET).verify(body, headers)
        assert info.value.reason == reason
