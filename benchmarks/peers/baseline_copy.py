"""Hand-written near-the-limit copy: connectorx Arrow stream straight into the target writer.

python baseline_copy.py SOURCE_URI DEST OUT [TARGET_URI]
"""

import os
import sys

import connectorx as cx
import pyarrow as pa


def reader(uri: str) -> pa.RecordBatchReader:
    return cx.read_sql(
        uri, "SELECT * FROM public.orders", return_type="arrow_stream", batch_size=100_000
    )


def main() -> None:
    uri, dest, out = sys.argv[1:4]
    target_uri = sys.argv[4] if len(sys.argv) > 4 else None
    stream = reader(uri)
    if dest == "parquet":
        import pyarrow.parquet as pq

        os.makedirs(out, exist_ok=True)
        with pq.ParquetWriter(
            os.path.join(out, "orders.parquet"), stream.schema, compression="zstd"
        ) as writer:
            for batch in stream:
                writer.write_batch(batch)
    elif dest == "delta":
        from deltalake import write_deltalake

        write_deltalake(os.path.join(out, "orders"), stream, mode="overwrite")
    elif dest == "duckdb":
        import duckdb

        con = duckdb.connect(os.path.join(out, "baseline.duckdb"))
        con.register("s", stream)
        con.execute("CREATE OR REPLACE TABLE orders AS SELECT * FROM s")
        con.close()
    else:
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(target_uri) as con, con.cursor() as cur:
            cur.adbc_ingest("orders", stream, mode="replace")
            con.commit()


if __name__ == "__main__":
    main()
