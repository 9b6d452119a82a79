"""The importers by tool name (the `sync-assets import <tool>` choices)."""

from __future__ import annotations

from sync_assets.importers import azsql_ct, synapse_sync, synchub

# each module has import_file(path, **options) -> Imported
IMPORTERS = {"synapse-sync": synapse_sync, "azsql-ct": azsql_ct, "synchub": synchub}
