"""Azurite, the local stand-in for ADLS Gen2 and OneLake, started by the test session.

The emulator hosts two accounts: `devstoreaccount1` and `onelake`, so production-shaped URLs
abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<lakehouse>.Lakehouse/Tables/... resolve
(delta-rs in emulator mode maps the account to http://127.0.0.1:<port>/<account>). Both use
Azurite's documented, publicly known development key.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sync_assets_tests.pg_server import free_port

# Azurite's well-known development account key (public, documented by Microsoft)
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
BINARY = Path(__file__).resolve().parents[1] / "tools" / "node_modules" / ".bin" / "azurite-blob"
URL_ENV = "AZURITE_BLOB_STORAGE_URL"


OWNER_ENV = "SYNC_ASSETS_AZURITE_OWNER"


def port_from_env() -> int:
    """The port of this test process's Azurite, fixed at import so delta-rs (which reads
    $AZURITE_BLOB_STORAGE_URL) and the server agree. Each process that imports the test
    session (every xdist worker) starts its own; subprocesses of a test inherit the URL."""
    if os.environ.get(OWNER_ENV) != str(os.getpid()):
        os.environ[URL_ENV] = f"http://127.0.0.1:{free_port()}"
        os.environ[OWNER_ENV] = str(os.getpid())
    return int(os.environ[URL_ENV].rsplit(":", 1)[1].strip("/"))


class Azurite:
    def __init__(self, port: int):
        self.port = port
        self.folder = tempfile.mkdtemp(prefix="azurite-")
        self.process: subprocess.Popen | None = None

    def start(self) -> Azurite:
        if not BINARY.exists():
            raise RuntimeError(
                f"{BINARY} is missing: run `npm ci --prefix tools` (scripts/test.sh does)"
            )
        env = dict(os.environ, AZURITE_ACCOUNTS=f"devstoreaccount1:{DEV_KEY};onelake:{DEV_KEY}")
        self.process = subprocess.Popen(
            [
                str(BINARY),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--location",
                self.folder,
                "--loose",
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited: {self.process.stderr.read().decode()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError("Azurite did not start within 30 s")

    def create_container(self, account: str, name: str) -> None:
        from azure.storage.blob import BlobServiceClient

        client = BlobServiceClient(
            f"http://127.0.0.1:{self.port}/{account}",
            credential={"account_name": account, "account_key": DEV_KEY},
        )
        client.create_container(name)

    def upload(self, account: str, container: str, prefix: str, folder: Path) -> None:
        """Copy a local folder (e.g. a Delta table built by hand) under `prefix` in a
        container, overwriting blobs of the same name."""
        from azure.storage.blob import ContainerClient

        client = ContainerClient(
            f"http://127.0.0.1:{self.port}/{account}",
            container,
            credential={"account_name": account, "account_key": DEV_KEY},
        )
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                name = f"{prefix}/{path.relative_to(folder).as_posix()}"
                client.upload_blob(name, path.read_bytes(), overwrite=True)

    def halt(self) -> None:
        """Stop the emulator, as a lost storage endpoint, keeping its blobs: `start()` serves
        them again on the same port. (SIGTERM, not SIGKILL: Azurite saves its blob index
        only on a clean exit, and the stand-in must not lose what the target committed.)"""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
