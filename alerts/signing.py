"""Pure webhook crypto: secrets, and the signature receivers check.

`X-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>`. The timestamp
is signed with the body, so a receiver can refuse old replays (e.g. older than 5
minutes) and de-duplicate by the event id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def webhook_secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


def webhook_secret_display(secret: str) -> str:
    """A short form for lists and the admin, like a key's display form."""
    return f"{secret[:10]}…"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" under the endpoint's secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    signature = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    return f"t={timestamp},v1={signature}"


def webhook_signature_valid(*, secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (the README shows the same in a few lines)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    expected = webhook_signature(secret=secret, timestamp=int(parts["t"]), body=body)
    return hmac.compare_digest(expected, parts["v1"])
