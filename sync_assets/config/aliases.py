"""The vocabulary of the tools our users come from, accepted in sync objects.

Config tables of the source documents name fields and values their own way (`object_name`,
`active_yn: Y`, `sync_frequency: HOURLY`, `sync_type: INCREMENTAL`, `CUSTOM` + `cron`). Each
alias below is rewritten to our field before validation, so errors and `sync-assets validate
--explain` speak of the normalized object; giving an alias and its field both is an error.
"""

from __future__ import annotations

from typing import Any

# alias -> our field
FIELD_ALIASES = {
    "object_name": "name",  # their display name ("Customer Data Sync"); object_id is the id
    "active_yn": "active",
    "sync_frequency": "frequency",
}
# fields kept as documentation: which side is the source, what kind of system it is
DOCUMENTATION = ("sync_direction", "source_type")
_YES, _NO = ("y", "yes", "true", "1"), ("n", "no", "false", "0")


class AliasError(ValueError):
    """An alias that cannot be applied (given twice, or a value it does not take)."""


def normalized(raw: Any) -> tuple[Any, list[str]]:
    """`raw` with the aliases rewritten, and a note per rewrite (for --explain)."""
    if not isinstance(raw, dict):
        return raw, []
    obj, notes = dict(raw), []
    for alias, field in FIELD_ALIASES.items():
        if alias not in obj:
            continue
        if field in obj:
            raise AliasError(f"{alias}: give either {alias} or {field}, not both")
        obj[field] = obj.pop(alias)
        notes.append(f"{alias} -> {field}")
    if "active" in obj and isinstance(obj["active"], str):
        obj["active"] = _yes_no(obj["active"])
    _lower(obj, "sync_type", notes)
    _frequency(obj, notes)
    documented = {k: obj.pop(k) for k in DOCUMENTATION if k in obj}
    if documented:
        extra = "; ".join(f"{k}: {v}" for k, v in documented.items())
        obj["description"] = f"{obj['description']} ({extra})" if obj.get("description") else extra
        notes.append(f"{', '.join(documented)} kept in description")
    return obj, notes


def _yes_no(value: str) -> bool:
    if value.strip().lower() in _YES:
        return True
    if value.strip().lower() in _NO:
        return False
    raise AliasError(f"active: '{value}' is neither Y nor N")


def _lower(obj: dict, field: str, notes: list[str]) -> None:
    value = obj.get(field)
    if isinstance(value, str) and value != value.lower():
        obj[field] = value.lower()
        notes.append(f"{field}: {value} -> {value.lower()}")


def _frequency(obj: dict, notes: list[str]) -> None:
    """`frequency: CUSTOM` with `cron:` is the cron expression; other values are lower-cased
    (`HOURLY`); a cron expression is kept as written."""
    value = obj.get("frequency")
    if isinstance(value, str) and value.strip().lower() == "custom":
        if not obj.get("cron"):
            raise AliasError("frequency: CUSTOM needs a cron expression in `cron`")
        obj["frequency"] = obj.pop("cron")
        notes.append("frequency: CUSTOM + cron -> frequency: <cron>")
    elif "cron" in obj:
        raise AliasError("cron: only with frequency CUSTOM (or give the cron as frequency)")
    elif isinstance(value, str) and " " not in value.strip():
        _lower(obj, "frequency", notes)
