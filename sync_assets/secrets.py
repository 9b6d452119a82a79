"""Keep credentials out of errors, logs and metadata."""

from __future__ import annotations

import re

from sync_assets.connection_types import secret_values

_URI_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")
# an ODBC value may be braced ({...}, "}}" for a brace), and then hold ";"
_VALUE = r"(\{(?:[^}]|\}\})*\}|[^;\s&]+)"
_KEY_VALUE = re.compile(r"(?i)\b(password|pwd|secret|token|account_key|client_secret)=" + _VALUE)
_ATTRIBUTE = re.compile(r"\s*([^=;]+?)\s*=\s*" + _VALUE.replace("&", "") + r"\s*(?:;|$)")


def redact(text: str, secrets: list[str | None] = ()) -> str:
    """Text with known secret values and password-shaped fields replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _URI_PASSWORD.sub(r"\1***\3", text)
    return _KEY_VALUE.sub(r"\1=***", text)


_SECRET_OPTION = re.compile(r"(?i)(key|secret|token|sas|password|signature)")


def odbc_attributes(text: str) -> dict[str, str]:
    """KEY=value pairs of an ODBC connection string (keys upper-cased, braces removed)."""
    pairs = {}
    for key, value in _ATTRIBUTE.findall(text):
        if value.startswith("{") and value.endswith("}"):
            value = value[1:-1].replace("}}", "}")
        pairs[key.upper()] = value
    return pairs


def connection_secrets(connection) -> list[str]:
    """The secret values of a connection config: its type's secret fields, storage options
    and connector arguments named like keys, tokens or SAS, and the secret attributes of a
    raw ODBC connection string."""
    values = secret_values(connection)
    for options in ("storage_options", "additional_snowflake_connection_args"):
        given = getattr(connection, options, None) or {}
        values += [str(v) for k, v in given.items() if _SECRET_OPTION.search(k)]
    odbc = getattr(connection, "odbc_connect", None)
    if odbc:
        values += [v for k, v in odbc_attributes(odbc).items() if k in ("PWD", "PASSWORD")]
    return [v for v in values if v]
