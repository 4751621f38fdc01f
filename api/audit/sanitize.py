"""Turn a mutation's arguments into the ``data.args`` of its audit event, with secrets removed.

Keys become Go-style PascalCase (``retry_on_failure`` -> ``RetryOnFailure``, ``id`` -> ``ID``)
as in Spacelift's payload samples.  ``secret`` becomes ``SecretSHA`` (its SHA-256 hex), so a
receiver can tell that the secret changed without learning it; any other name with a part
like password, token, secret or key is replaced by ``[REDACTED]``; a key/value map (custom
headers) keeps its keys and loses its values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from api.digests import sha256_hex

REDACTED = "[REDACTED]"
SECRET_NAME_PARTS = frozenset(
    {"password", "passwd", "token", "secret", "key", "credential", "credentials", "authorization", "jwt"}
)
INITIALISMS = {"id": "ID", "ip": "IP", "url": "URL", "sha": "SHA", "api": "API", "jwt": "JWT", "http": "HTTP"}
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|_")


def name_parts(name: str) -> list[str]:
    """The lower-case words of a camelCase or snake_case name."""
    return [part.lower() for part in _WORD_BOUNDARY.split(name) if part]


def pascal_case(name: str) -> str:
    """The Go-style key of an argument, as Spacelift's payloads spell them (``ID``, ``SecretSHA``)."""
    return "".join(INITIALISMS.get(part, part.capitalize()) for part in name_parts(name))


def is_secret_name(name: str) -> bool:
    """True when any word of ``name`` says it holds a secret (password, token, key, ...)."""
    return any(part in SECRET_NAME_PARTS for part in name_parts(name))


def _is_key_value_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, Mapping) and set(item) == {"key", "value"} for item in value
    )


def sanitize_value(value: Any) -> Any:
    """A value with secrets removed; a list of key/value pairs (headers) anywhere keeps only its keys."""
    if _is_key_value_list(value) and value:
        return {str(entry["key"]): REDACTED for entry in value}
    if isinstance(value, Mapping):
        entries = value.get("entries") if set(value) == {"entries"} else None
        if entries is not None and _is_key_value_list(entries):
            return {str(entry["key"]): REDACTED for entry in entries}
        return sanitize_args(value)
    if isinstance(value, list):
        return [sanitize_value(item) for item in value]
    return value


def sanitize_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The audit form of ``args``: PascalCase keys, no secret in any form that can be reversed."""
    sanitized: dict[str, Any] = {}
    for name, value in args.items():
        if name_parts(name) == ["secret"]:
            if value:
                sanitized["SecretSHA"] = sha256_hex(str(value))
        elif is_secret_name(name):
            sanitized[pascal_case(name)] = REDACTED
        else:
            sanitized[pascal_case(name)] = sanitize_value(value)
    return sanitized
