"""Password hashing for the write-only ``password`` attribute (RFC 7643 §4.1.1).

The clear text is never stored or returned; scrypt (RFC 7914) is in the standard
library and made for this.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(key).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, key_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    key = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt_b64),
                         n=_N, r=_R, p=_P, dklen=32)
    return hmac.compare_digest(key, base64.b64decode(key_b64))
