"""Pure key crypto: virtual keys, the admin key and provider credential encryption.

Nothing here touches the database. Virtual keys are stored as HMAC-SHA256 digests keyed
with a server-side pepper (not SECRET_KEY), so a database leak reveals no usable key and
an attacker cannot precompute digests without the pepper.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

VIRTUAL_KEY_PATTERN = re.compile(r"sk-[0-9a-f]{32}")


def virtual_key_generate() -> str:
    """A new key: `sk-` and 32 lowercase hex characters (128 bits of randomness)."""
    return "sk-" + secrets.token_hex(16)


def virtual_key_is_well_formed(candidate: str) -> bool:
    return VIRTUAL_KEY_PATTERN.fullmatch(candidate) is not None


def virtual_key_digest(plaintext: str) -> str:
    return hmac.new(
        settings.VIRTUAL_KEY_PEPPER.encode(), plaintext.encode(), hashlib.sha256
    ).hexdigest()


def virtual_key_display(plaintext: str) -> str:
    """The short form shown in lists: `sk-1234…cdef`."""
    return f"{plaintext[:7]}…{plaintext[-4:]}"


def admin_key_matches(candidate: str) -> bool:
    """Constant-time check against the current and, during a switch, the next key."""
    matched = False
    for accepted in (settings.MASTER_KEY, settings.MASTER_KEY_NEXT):
        # Both comparisons always run so timing does not tell which key matched.
        if accepted and hmac.compare_digest(candidate.encode(), accepted.encode()):
            matched = True
    return matched


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.CREDENTIAL_ENCRYPTION_KEYS])


def credential_encrypt(api_key: str) -> str:
    return _fernet().encrypt(api_key.encode()).decode()


def credential_decrypt(token: str) -> str:
    """Decrypt in memory only. Raises ValueError when no configured key opens it."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "credential cannot be decrypted with the configured keys"
        ) from exc
