"""Independent signature verifiers: they share no code with ``api.webhooks.signing``.

``verify_github`` does exactly what GitHub's "Validating webhook deliveries" guide says: HMAC-SHA256
of the raw request body with the secret, hex, prefixed ``sha256=``, compared in constant time.
``verify_standard_webhooks`` hands the request to the ``standardwebhooks`` package.
"""

from __future__ import annotations

import hashlib
import hmac

from standardwebhooks import Webhook, WebhookVerificationError


def verify_github(secret: str, raw_body: bytes, signature_header: str | None) -> bool:
    """GitHub's recipe, step by step."""
    if not signature_header:
        return False
    hash_object = hmac.new(secret.encode("utf-8"), msg=raw_body, digestmod=hashlib.sha256)
    expected_signature = "sha256=" + hash_object.hexdigest()
    return hmac.compare_digest(expected_signature, signature_header)


def verify_standard_webhooks(secret: str, raw_body: bytes, headers: list[tuple[str, str]]) -> bool:
    """The ``webhook-id``/``webhook-timestamp``/``webhook-signature`` trio, checked by the reference library.

    Our secrets are plain strings used as raw HMAC keys, so the library gets their bytes (not base64).
    """
    wanted = {"webhook-id", "webhook-timestamp", "webhook-signature"}
    trio = {name.lower(): value for name, value in headers if name.lower() in wanted}
    try:
        Webhook(secret.encode("utf-8")).verify(raw_body, trio)
    except WebhookVerificationError:
        return False
    return True
