"""Keep credentials out of errors, logs and metadata."""

from __future__ import annotations

import re

from sync_assets.connection_types import secret_values

_URI_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")
_KEY_VALUE = re.compile(r"(?i)\b(password|pwd|secret|token|account_key|client_secret)=([^;\s&]+)")


def redact(text: str, secrets: list[str | None] = ()) -> str:
    """Text with known secret values and password-shaped fields replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _URI_PASSWORD.sub(r"\1***\3", text)
    return _KEY_VALUE.sub(r"\1=***", text)


_SECRET_OPTION = re.compile(r"(?i)(key|secret|token|sas|password|signature)")


def connection_secrets(connection) -> list[str]:
    """The secret values of a connection config (its type's secret fields, and storage
    options named like keys, tokens or SAS)."""
    values = secret_values(connection)
    options = getattr(connection, "storage_options", None) or {}
    values += [v for k, v in options.items() if _SECRET_OPTION.search(k)]
    return [v for v in values if v]
