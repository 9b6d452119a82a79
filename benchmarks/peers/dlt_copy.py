"""dlt's sql_table -> one destination. Runs in .venv-bench.

python dlt_copy.py SOURCE_URI BACKEND DEST OUT [TARGET_URI] [--incremental | --upsert]
--upsert: the whole table merged on id with dlt's upsert strategy (MERGE where the
destination has it), the nearest dlt has to a whole-source compare
BACKEND: pyarrow | connectorx;  DEST: parquet | delta | duckdb | postgres
"""

import os
import sys

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
import dlt  # noqa: E402
from dlt.sources.sql_database import sql_table  # noqa: E402


def main() -> None:
    uri, backend, dest, out = sys.argv[1:5]
    target_uri = sys.argv[5] if len(sys.argv) > 5 and not sys.argv[5].startswith("--") else None
    incremental = "--incremental" in sys.argv
    upsert = "--upsert" in sys.argv
    disposition = "merge" if incremental else "replace"
    if upsert:
        disposition = {"disposition": "merge", "strategy": "upsert"}
    resource = sql_table(
        credentials=uri,
        table="orders",
        schema="public",
        backend=backend,
        chunk_size=100_000,
        reflection_level="full_with_precision",
        incremental=dlt.sources.incremental("updated_at") if incremental else None,
        write_disposition=disposition,
        primary_key="id",
    )
    fmt = None
    if dest in ("parquet", "delta"):
        destination = dlt.destinations.filesystem(bucket_url=f"file://{out}")
        fmt = "parquet"
        if dest == "delta":
            resource.apply_hints(table_format="delta")
    elif dest == "duckdb":
        destination = dlt.destinations.duckdb(os.path.join(out, "dlt.duckdb"))
    else:
        # dlt requires a password field; the benchmark server trusts loopback, so any will do
        destination = dlt.destinations.postgres(target_uri.replace("postgres@", "postgres:unused@"))
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{backend}_{dest}",
        destination=destination,
        dataset_name="bench",
        pipelines_dir=os.path.join(out, ".dlt"),
    )
    info = pipeline.run(resource, loader_file_format=fmt)
    info.raise_on_failed_jobs()


if __name__ == "__main__":
    main()
