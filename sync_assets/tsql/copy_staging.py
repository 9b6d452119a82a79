"""Bulk staging for Synapse and Fabric Warehouse: Parquet files in ADLS / OneLake + COPY INTO.

The stream is written as Parquet parts under <staging url>/<object_id>/<run id>/, one
COPY INTO loads the folder into the staging table, and the folder is removed afterwards
(also when the load fails). Files are written with pyarrow's file systems: local paths, and
abfss:// URLs through pyarrow's AzureFileSystem (account key, SAS or Entra identity from
`storage_options` or the environment).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sync_assets.config.models import CopyStaging
from sync_assets.sql import statements as sql
from sync_assets.sql.flavors import Flavor

ROWS_PER_FILE = 1_000_000


def service_url(url: str) -> str:
    """The https:// form COPY INTO reads (abfss://container@account.host/path ->
    https://account.host/container/path); other URLs are returned unchanged."""
    parsed = urlparse(url)
    if parsed.scheme not in ("abfss", "abfs"):
        return url
    container, _, host = parsed.netloc.partition("@")
    return f"https://{host}/{container}{parsed.path}"


def _filesystem(url: str, options: dict[str, str]) -> tuple[pafs.FileSystem, str]:
    parsed = urlparse(url)
    if parsed.scheme in ("abfss", "abfs"):
        container, _, host = parsed.netloc.partition("@")
        account = host.split(".")[0]
        fs = (
            pafs.AzureFileSystem(account_name=account, **options)
            if options
            else pafs.FileSystem.from_uri(url)[0]
        )
        return fs, f"{container}{parsed.path}"
    return pafs.FileSystem.from_uri(url) if "://" in url else (pafs.LocalFileSystem(), url)


class CopyStager:
    """Stages one write's stream as Parquet and loads it with COPY INTO."""

    def __init__(self, staging: CopyStaging, object_id: str):
        self.staging = staging
        self.folder = f"{staging.url.rstrip('/')}/{object_id}/{uuid.uuid4().hex}"

    def write_files(self, reader: pa.RecordBatchReader) -> int:
        """Write the stream as Parquet parts; return the number of rows written."""
        fs, root = _filesystem(self.folder, self.staging.storage_options)
        fs.create_dir(root, recursive=True)
        rows, part, writer, writer_rows = 0, 0, None, 0
        try:
            for batch in reader:
                if writer is None or writer_rows >= ROWS_PER_FILE:
                    if writer is not None:
                        writer.close()
                    writer = pq.ParquetWriter(
                        fs.open_output_stream(f"{root}/part-{part:05d}.parquet"), reader.schema
                    )
                    part, writer_rows = part + 1, 0
                writer.write_batch(batch)
                writer_rows += batch.num_rows
                rows += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        return rows

    def remove_files(self) -> None:
        fs, root = _filesystem(self.folder, self.staging.storage_options)
        try:
            fs.delete_dir(root)
        except FileNotFoundError:
            pass

    def load(self, cur, stage: str, reader: pa.RecordBatchReader, flavor: Flavor) -> None:
        try:
            self.write_files(reader)
            cur.execute(
                sql.copy_into_sql(
                    stage,
                    f"{service_url(self.folder)}/*.parquet",
                    reader.schema.names,
                    flavor,
                    self.staging.credential,
                )
            )
        finally:
            self.remove_files()
