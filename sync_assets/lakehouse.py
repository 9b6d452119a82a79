"""Where Delta tables live: local folders, abfss:// URLs, and Fabric lakehouses on OneLake.

`delta_location` gives the table URL or path and the storage options delta-rs needs; the
Delta target and source use nothing else, so every sync type works the same on a local
folder, ADLS Gen2 and OneLake.
"""

from __future__ import annotations

from sync_assets.config.models import DeltaConnection, FabricLakehouseConnection
from sync_assets.paths import join, resolve

STORAGE_SCOPE = "https://storage.azure.com/.default"


def storage_options(conn) -> dict[str, str]:
    """delta-rs (object_store) options for a connection; explicit storage_options win."""
    options: dict[str, str] = {}
    if isinstance(conn, FabricLakehouseConnection):
        if conn.emulator:
            # Azurite at $AZURITE_BLOB_STORAGE_URL with its well-known key; an explicit endpoint
            # would break DELETE/UPDATE/MERGE there (Azurite ignores a listing parameter)
            options.update({"use_emulator": "true", "allow_http": "true"})
        else:
            options["use_fabric_endpoint"] = str(
                conn.endpoint.endswith("fabric.microsoft.com")
            ).lower()
            options.update(_credentials(conn))
    options.update(conn.storage_options)
    return options


def _credentials(conn: FabricLakehouseConnection) -> dict[str, str]:
    if conn.authentication == "service_principal":
        return {
            "azure_client_id": conn.client_id,
            "azure_client_secret": conn.client_secret,
            "azure_tenant_id": conn.tenant_id,
        }
    if conn.authentication == "managed_identity":
        return {"azure_client_id": conn.client_id} if conn.client_id else {}
    if conn.authentication == "azure_cli":
        return {"use_azure_cli": "true"}
    if conn.authentication == "default":
        from azure.identity import DefaultAzureCredential

        return {"bearer_token": DefaultAzureCredential().get_token(STORAGE_SCOPE).token}
    return {}


def delta_location(
    conn: DeltaConnection | FabricLakehouseConnection, base_dir: str, schema: str | None, table: str
) -> tuple[str, dict[str, str] | None]:
    """(table location, storage options or None) for a table of a Delta-family connection."""
    root = resolve(base_dir, conn.root)
    location = join(root, schema if conn.schemas else None, table)
    return location, storage_options(conn) or None
