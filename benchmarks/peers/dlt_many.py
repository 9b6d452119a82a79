"""dlt's sql_database: N PostgreSQL tables -> PostgreSQL in one pipeline run, merged on id,
incremental on updated_at. Runs in .venv-bench.

python dlt_many.py SOURCE_URI TARGET_URI OUT TABLES WORKERS
"""

import os
import sys

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
import dlt  # noqa: E402
from dlt.sources.sql_database import sql_database  # noqa: E402


def main() -> None:
    uri, target_uri, out, tables, workers = sys.argv[1:6]
    for stage in ("EXTRACT", "NORMALIZE", "LOAD"):
        os.environ[f"{stage}__WORKERS"] = workers
    source = sql_database(
        credentials=uri,
        schema="public",
        table_names=[f"t{i}" for i in range(int(tables))],
        backend="pyarrow",
        chunk_size=100_000,
        reflection_level="full_with_precision",
    ).parallelize()
    for resource in source.resources.values():
        resource.apply_hints(
            write_disposition="merge",
            primary_key="id",
            incremental=dlt.sources.incremental("updated_at"),
        )
    destination = dlt.destinations.postgres(target_uri.replace("postgres@", "postgres:unused@"))
    pipeline = dlt.pipeline(
        pipeline_name="bench_many",
        destination=destination,
        dataset_name="bench",
        pipelines_dir=os.path.join(out, ".dlt"),
    )
    pipeline.run(source).raise_on_failed_jobs()


if __name__ == "__main__":
    main()
