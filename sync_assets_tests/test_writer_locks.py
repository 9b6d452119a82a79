"""Two writers, two instances (issue: trust): runs of the same object from two separate
processes, each with its own Dagster instance (so pools cannot see each other), never
interleave. The first holds the target's writer lock from reading the state to its commit
(held open here by pausing it after planning); a second that cannot wait fails with
"another sync of <object> holds the lock", and one that waits runs after the commit and
appends nothing twice."""

from __future__ import annotations

import time

import pytest

from sync_assets_tests.data import insert_items, items_project, source_rows
from sync_assets_tests.harness import assert_same_rows, start_sync, wait_for_file

LOCKED_KINDS = ["duckdb", "parquet", "delta", "postgres", "odbc", "onelake"]


@pytest.mark.parametrize("kind", LOCKED_KINDS)
def test_a_second_writer_waits_or_fails_clearly(tmp_path, kind, request):
    from sync_assets_tests.conftest import target_connection

    server = request.getfixturevalue("pg_server") if kind in ("postgres", "odbc") else None
    azurite = request.getfixturevalue("azurite") if kind == "onelake" else None
    conn = target_connection(kind, tmp_path, server, azurite)
    # an appending incremental object: interleaved runs would append the rows twice
    project, src = items_project(tmp_path, conn, sync_type="incremental", sync_column="updated_at")
    mark, release = tmp_path / "paused", tmp_path / "release"
    # paused after planning, holding the lock, until the test releases it (not a fixed
    # time: on a loaded machine the second process may take seconds to start)
    first = start_sync(
        project, tmp_path, SYNC_ASSETS_PAUSE_AT="planned:120", SYNC_ASSETS_PAUSE_MARK=str(mark),
        SYNC_ASSETS_PAUSE_RELEASE=str(release),
    )  # fmt: skip
    wait_for_file(mark)
    refused = start_sync(project, tmp_path, SYNC_ASSETS_LOCK_WAIT_S="0.5")
    out, _ = refused.communicate(timeout=120)
    assert refused.returncode != 0, out[-3000:]
    assert "another sync of items_sync holds the lock" in out
    assert "waiting for the target's writer lock failed" in out
    waiting = start_sync(project, tmp_path, SYNC_ASSETS_LOCK_WAIT_S="60")
    time.sleep(1.0)  # let it start waiting (if it comes later, it finds the lock free)
    release.touch()
    assert first.wait(timeout=120) == 0, first.stdout.read()[-3000:]
    out, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, out[-3000:]
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    assert project.target_table("items_sync").num_rows == 300


@pytest.mark.parametrize("first_run", [True, False], ids=["first_run", "later_run"])
def test_snowflake_run_whose_state_moved_refuses_to_commit(tmp_path, fakesnow_server, first_run):
    """Snowflake has no application lock: a run locks its object's state row at commit and
    refuses if another run committed after it read the state. Here the second run reads the
    state, pauses, and the first commits meanwhile (the interleaving that doubled appended
    rows before); the second fails naming the object and writes nothing, and its rerun
    appends nothing twice. On the first run there is no state row yet: the claimed empty row
    is what is locked. fakesnow does not block on row locks, so the wait itself (a live
    Snowflake's) is not shown here; the ordering is."""
    from sync_assets_tests.conftest import snowflake_connection

    project, src = items_project(
        tmp_path, snowflake_connection(fakesnow_server), sync_type="incremental",
        sync_column="updated_at",
    )  # fmt: skip
    if not first_run:
        project.materialize("items_sync")
        insert_items(src, 1000, 50, stamp="2025-05-01 00:00:00")
    mark, release = tmp_path / "paused", tmp_path / "release"
    late = start_sync(
        project, tmp_path, SYNC_ASSETS_PAUSE_AT="planned:120", SYNC_ASSETS_PAUSE_MARK=str(mark),
        SYNC_ASSETS_PAUSE_RELEASE=str(release),
    )  # fmt: skip
    wait_for_file(mark)
    project.materialize("items_sync")  # commits while the late run is paused
    release.touch()
    out, _ = late.communicate(timeout=120)
    assert late.returncode != 0, out[-3000:]
    assert "another sync of items_sync committed to" in out
    assert "this run changed nothing" in out
    expected = 300 if first_run else 350
    assert project.target_table("items_sync").num_rows == expected
    assert project.materialize("items_sync")["sync/rows_inserted"] == 0
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


@pytest.mark.parametrize("kind", ["duckdb", "parquet", "postgres"])
def test_a_failed_run_releases_the_lock(tmp_path, kind, request, monkeypatch):
    """A run that fails holding the lock releases it: the next run in the same process gets
    it at once (a failed write releasing it is covered by test_bad_rows' varchar case, whose
    rerun would otherwise wait for the lock)."""
    from sync_assets_tests.conftest import target_connection

    monkeypatch.setenv("SYNC_ASSETS_LOCK_WAIT_S", "1")
    server = request.getfixturevalue("pg_server") if kind == "postgres" else None
    project, _ = items_project(
        tmp_path, target_connection(kind, tmp_path, server), sync_type="merge",
        merge_keys=["id"], filter_condition="no_such_column > 0",
    )  # fmt: skip
    with pytest.raises(Exception, match="reading the source failed"):
        project.materialize("items_sync")  # fails while planning, holding the lock
    project.update_object("items_sync", filter_condition=None)
    assert project.materialize("items_sync")["sync/rows_inserted"] == 300


def test_blob_lease_of_a_killed_holder_is_broken_and_a_live_one_waited_for(azurite, monkeypatch):
    """On Azure storage the lock is a blob lease (blob_lease.py). A holder killed on this host
    is seen to be dead and its lease broken at once (not after the 60 s it would take to
    lapse); a live holder is waited for, then the run fails clearly."""
    import subprocess
    import sys

    from sync_assets.blob_lease import lease_lock
    from sync_assets.locks import WriterBusy
    from sync_assets_tests.conftest import onelake_connection

    workspace = onelake_connection(azurite)["workspace"]
    location = f"abfss://{workspace}@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Tables/t"
    options = {"use_emulator": "true", "allow_http": "true"}
    killed = (
        "import os, signal; from sync_assets.blob_lease import lease_lock\n"
        f"with lease_lock({location!r}, {options!r}, 'o'):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert subprocess.run([sys.executable, "-c", killed]).returncode == -9
    monkeypatch.setenv("SYNC_ASSETS_LOCK_WAIT_S", "2")
    started = time.monotonic()
    with lease_lock(location, options, "o"):  # the dead holder's lease is broken
        assert time.monotonic() - started < 2
        with pytest.raises(WriterBusy, match="another sync of o holds the lock"):
            with lease_lock(location, options, "o"):  # this process holds it, alive
                pass
