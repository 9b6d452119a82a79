"""The `column_schema_change` check of every sync asset: did the target's columns (names and
types, as `dagster/column_schema` records them) change since the previous materialization?

It is Dagster's own check (`build_column_schema_change_checks`: same name, same verdicts,
same message), evaluated inside the sync step rather than as a step of its own after every
asset of the run. That step read the two latest materializations of each asset one asset
after another: 1.6-2.2 s at the end of a 40-object run here, plus a step's bookkeeping. In
the sync step it costs one lookup (the previous materialization, read before the write),
made in parallel with the other objects' steps.
"""

from __future__ import annotations

import dagster as dg

NAME = "column_schema_change"


def spec(key: dg.AssetKey, partitions_def) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        NAME,
        asset=key,
        partitions_def=partitions_def,
        description="Checks whether there are changes to column schema between the asset's "
        "two most recent materializations",
    )


def previous(instance: dg.DagsterInstance, key: dg.AssetKey) -> dg.TableSchema | str | None:
    """The column schema of the asset's latest materialization so far: None when there is
    none, a message when it recorded no column schema."""
    records = instance.fetch_materializations(key, limit=1).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get("dagster/column_schema")
    if not isinstance(value, dg.TableSchemaMetadataValue):
        return "Previous materialization has no column schema metadata"
    return value.schema


def result(
    before: dg.TableSchema | str | None, after: dg.TableSchema | None
) -> dg.AssetCheckResult:
    """The check's verdict on this materialization's columns (`after`)."""
    passed, text = _verdict(before, after)
    return dg.AssetCheckResult(
        check_name=NAME, passed=passed, severity=dg.AssetCheckSeverity.WARN, description=text
    )


def _verdict(before: dg.TableSchema | str | None, after: dg.TableSchema | None) -> tuple[bool, str]:
    if before is None:
        return True, "The asset has been materialized fewer than 2 times"
    if after is None:
        return False, "Latest materialization has no column schema metadata"
    if isinstance(before, str):
        return False, before
    old = {c.name: c for c in before.columns}
    new = {c.name: c for c in after.columns}
    added = [c.name for c in after.columns if c.name not in old]
    removed = [c.name for c in before.columns if c.name not in new]
    changed = [
        f"- {name}: {old[name].type} -> {column.type}"
        for name, column in new.items()
        if name in old and old[name].type != column.type
    ]
    if not (added or removed or changed):
        return True, "No changes to column schema between previous and latest materialization"
    text = "Column schema changed between previous and latest materialization."
    if added:
        text += f"\n\nAdded columns: {', '.join(added)}"
    if removed:
        text += f"\n\nRemoved columns: {', '.join(removed)}"
    if changed:
        text += "\n\nColumn type changes:\n" + "\n".join(changed)
    return False, text
