"""sync_assets: tables kept in sync across lakehouse, warehouse and database targets, as
partitioned Dagster assets. `SyncObjectsComponent` is the `dg` component type
(`type: sync_assets.SyncObjectsComponent` in a defs.yaml)."""

__all__ = ["SyncObjectsComponent"]


def __getattr__(name: str):
    # PEP 562 lazy export: importing any sync_assets module (a sync run, the CLI) need not
    # build the component machinery; `dg` resolves the attribute when it loads a defs.yaml
    if name == "SyncObjectsComponent":
        from sync_assets.component import SyncObjectsComponent

        return SyncObjectsComponent
    raise AttributeError(f"module 'sync_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])  # so `dg`'s registry scan sees the lazy export
