"""One writer per Delta table on Azure storage (ADLS Gen2, OneLake, Azurite): a blob lease.

delta-rs commits optimistically, and two blind appends never conflict: two runs of one
incremental object from two Dagster instances would both append the same new rows. So a
run holds an exclusive lease on a small lock blob under the table
(`<table>/_sync_assets/writer.lock`; Delta readers and VACUUM ignore `_`-prefixed paths)
from reading the state to its commit. The lease lasts 60 s and a thread renews it; a killed
run stops renewing, and its lease lapses within 60 s; one killed on this host is seen to be
dead (the lock blob names its host and process), and its lease is broken at once.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit

from sync_assets.locks import wait_for

LEASE_S = 60  # the longest finite lease Azure grants; a dead holder's lapses after this
RENEW_S = 15
LOCK_BLOB = "_sync_assets/writer.lock"
AZURE_SCHEMES = ("abfss", "abfs", "az", "azure")
# Microsoft's published development key of the storage emulator (delta-rs uses it too)
EMULATOR_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def on_azure(location: str) -> bool:
    return urlsplit(location).scheme in AZURE_SCHEMES


@contextmanager
def lease_lock(location: str, options: dict[str, str], object_id: str):
    """Hold an exclusive lease on the table's lock blob for the duration of the block."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
    from azure.storage.blob import BlobLeaseClient

    blob = _lock_blob(location, options)
    try:
        blob.upload_blob(b"", overwrite=False)
    except ResourceExistsError:
        pass  # made by an earlier run (or leased now: then acquire below waits)
    lease_id = str(uuid.uuid4())
    lease = {}

    def try_lease() -> bool:
        try:
            lease["client"] = blob.acquire_lease(lease_duration=LEASE_S, lease_id=lease_id)
            return True
        except ResourceExistsError:  # 409 LeaseAlreadyPresent: another run holds it
            etag = _dead_holders_etag(blob)
            if etag is None:
                return False
            try:  # only if the blob still names the dead holder (no new holder wrote since)
                BlobLeaseClient(blob).break_lease(
                    lease_break_period=0, etag=etag, match_condition=MatchConditions.IfNotModified
                )
            except ResourceModifiedError:
                return False
            return try_lease()

    wait_for(try_lease, object_id, f"{location} (a blob lease on {LOCK_BLOB})")
    blob.set_blob_metadata(_holder(), lease=lease["client"])
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lease["client"], stop), daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(5)
        try:
            lease["client"].release()
        except Exception:  # a lost endpoint: the lease lapses within LEASE_S on its own
            pass


def _holder() -> dict[str, str]:
    """Who holds the lease: host, process id and the process's start time."""
    return {
        "host": socket.gethostname(),
        "pid": str(os.getpid()),
        "start": _start_time(os.getpid()),
    }


def _dead_holders_etag(blob) -> str | None:
    """The lock blob's ETag when the lease's holder was a process of this host that has
    ended (killed): its lease need not lapse first. None: alive, or on another host (waited
    for, or its lease lapses). The break is conditional on the ETag read here, so a holder
    that has written its name since is never broken; what remains is the instant between
    another waiter's taking the lease and writing its name (two waiters on one host finding
    the same dead holder at once)."""
    properties = blob.get_blob_properties()
    held = properties.metadata or {}
    if held.get("host") != socket.gethostname() or not held.get("pid", "").isdigit():
        return None
    pid = int(held["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return properties.etag
    except PermissionError:
        return None  # alive, another user's
    # the pid may now name another process: compare start times
    return properties.etag if _start_time(pid) != held.get("start") else None


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux); '' where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _renew(lease, stop: threading.Event) -> None:
    while not stop.wait(RENEW_S):
        try:
            lease.renew()
        except Exception:  # a lost endpoint: the write fails on its own; the lease lapses
            return


def _lock_blob(location: str, options: dict[str, str]):
    from azure.storage.blob import BlobClient, LinearRetry

    url = urlsplit(location)
    container, _, host = url.netloc.partition("@")
    account = host.split(".")[0]
    blob_name = f"{url.path.strip('/')}/{LOCK_BLOB}"
    if _true(options.get("use_emulator")):
        base = os.environ.get("AZURITE_BLOB_STORAGE_URL", "http://127.0.0.1:10000").rstrip("/")
        endpoint = f"{base}/{account}"
    else:
        endpoint = f"https://{host.replace('.dfs.', '.blob.', 1)}"
    # few, short retries: the SDK's default (3 with 15 s+ backoff) held a run whose storage
    # went away for ~90 s before it could report the error
    retry = LinearRetry(backoff=1, random_jitter_range=1, retry_total=2)
    credential = _credential(options, account)
    return BlobClient(endpoint, container, blob_name, credential=credential, retry_policy=retry)


def _credential(options: dict[str, str], account: str):
    """The SDK credential for the storage options delta-rs was given (the same identity)."""
    get = lambda *names: next((options[n] for n in names if options.get(n)), None)  # noqa: E731
    key = get("azure_storage_account_key", "account_key", "azure_storage_access_key", "access_key")
    if key:
        return {"account_name": account, "account_key": key}
    sas = get("azure_storage_sas_key", "sas_key", "azure_storage_sas_token", "sas_token")
    if sas:
        from azure.core.credentials import AzureSasCredential

        return AzureSasCredential(sas)
    token = get("bearer_token", "azure_storage_token", "token")
    if token:
        return _StaticToken(token)
    if _true(options.get("use_emulator")):
        return {"account_name": account, "account_key": EMULATOR_KEY}
    from azure import identity

    client_id = get("azure_client_id", "client_id")
    secret = get("azure_client_secret", "client_secret")
    tenant = get("azure_tenant_id", "tenant_id", "azure_authority_id", "authority_id")
    if client_id and secret and tenant:
        return identity.ClientSecretCredential(tenant, client_id, secret)
    if _true(options.get("use_azure_cli")):
        return identity.AzureCliCredential()
    if client_id:
        return identity.ManagedIdentityCredential(client_id=client_id)
    return identity.DefaultAzureCredential()


class _StaticToken:
    """A bearer token already obtained (authentication: default), as an SDK credential."""

    def __init__(self, token: str):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, 2**31 - 1)


def _true(value) -> bool:
    return str(value).lower() in ("true", "1", "yes")
