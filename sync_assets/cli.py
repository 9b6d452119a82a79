"""`sync-assets`: validate configs, build the demo, materialize everything, print a summary.

Materialization goes through `dagster asset materialize` (one run for the unpartitioned
objects, one run per partitions definition over its whole range), so runs and metadata land
in the Dagster instance at $DAGSTER_HOME exactly as from the UI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import yaml

from sync_assets.code_location import load_definitions
from sync_assets.config.loader import ConfigError, default_configs_dir, load_project
from sync_assets.connection_checks import check_connections
from sync_assets.demo import (
    apply_changes,
    change_notebook_table,
    ensure_demo_source,
    ensure_notebook_table,
)
from sync_assets.importers import ImportProblem, known_connections
from sync_assets.importers.registry import IMPORTERS
from sync_assets.operations import OperationError, reset, status
from sync_assets.paths import resolve

PROJECT_DIR = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sync-assets", description=__doc__)
    parser.add_argument(
        "--configs", help="configs folder (default: $SYNC_ASSETS_CONFIGS or ./configs)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check_configs = sub.add_parser(
        "validate", help="load and check every config file; list the sync objects"
    )
    check_configs.add_argument(
        "--explain",
        action="store_true",
        help="print each object as normalized (aliases rewritten, defaults filled in)",
    )
    run = sub.add_parser("materialize", help="materialize every active object (all partitions)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="plan and count what each sync would do (metadata sync/dry_run), write nothing",
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="replace every target with all its source rows, whatever the stored state says",
    )
    check = sub.add_parser(
        "test-connection",
        help="connect to each connection and check the permissions its objects need",
    )
    check.add_argument("names", nargs="*", help="connection names (default: all)")
    imp = sub.add_parser(
        "import",
        help="write our configs from another tool's (synapse-sync, azsql-ct, synchub), with a report",
    )
    imp.add_argument("tool", choices=sorted(IMPORTERS))
    imp.add_argument("file", help="their config: CSV / SQL INSERTs / JSON, or pipeline YAML")
    imp.add_argument("-o", "--output", help="file to write (default: configs/<tool>_<name>.yaml)")
    imp.add_argument("--force", action="store_true", help="overwrite the output file")
    imp.add_argument("--fabric", default="fabric", help="synapse-sync: the Fabric connection")
    imp.add_argument("--synapse", default="synapse", help="synapse-sync: the Synapse connection")
    imp.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="SCHEMA.TABLE=COL[,COL]",
        help="azsql-ct: a table's primary key (azsql-ct reads it from the database)",
    )
    imp.add_argument("--datastores", help="synchub: its datastores.yaml (connections)")
    reset_cmd = sub.add_parser(
        "reset",
        help="clear an object's stored state (or one partition's): its next run is a full refresh",
    )
    reset_cmd.add_argument("object_id")
    reset_cmd.add_argument("--partition", help="only this partition key")
    sub.add_parser(
        "status",
        help="per object: last sync, stored watermark or version, rows, next scheduled ticks",
    )
    history = sub.add_parser(
        "history", help="run history tables (run_history:): replicate now, or show where they are"
    )
    history_sub = history.add_subparsers(dest="history_command", required=True)
    history_sync = history_sub.add_parser("sync", help="replicate the run history now")
    history_sync.add_argument(
        "--mode", choices=["incremental", "full"], help="default: the config's"
    )
    history_sync.add_argument("--tables", help="comma-separated (default: the config's tables)")
    history_sub.add_parser("status", help="the last replicated point of each table")
    demo = sub.add_parser(
        "demo", help="build the demo source if needed, then materialize everything"
    )
    demo.add_argument(
        "--changes", action="store_true", help="first apply a round of source changes"
    )
    args = parser.parse_args(argv)
    if args.configs:
        os.environ["SYNC_ASSETS_CONFIGS"] = str(Path(args.configs).resolve())
    try:
        return {
            "validate": validate,
            "materialize": materialize,
            "demo": run_demo,
            "test-connection": test_connection,
            "reset": reset_object,
            "import": import_config,
            "status": show_status,
            "history": run_history,
        }[args.command](args)
    except (ConfigError, OperationError, ImportProblem) as exc:
        print(exc, file=sys.stderr)
        return 2


def validate(args) -> int:
    project = load_project()
    for obj in project.sync_objects:
        state = "active" if obj.active else "inactive"
        kind = obj.sync_type + (f" +{len(obj.strategies) - 1}" if obj.strategies else "")
        print(
            f"{obj.object_id:32} {kind:12} {state:8} {obj.source.connection} -> {obj.target.connection}"
        )
        if getattr(args, "explain", False):
            for note in project.aliases.get(obj.object_id, []):
                print(f"    alias: {note}")
            fields = obj.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            print(textwrap.indent(yaml.safe_dump(fields, sort_keys=False), "    "))
    print(f"{len(project.sync_objects)} sync objects, {len(project.connections)} connections: OK")
    return 0


def import_config(args) -> int:
    """Write the other tool's config as ours, print the report, validate the folder."""
    configs = default_configs_dir()
    source = Path(args.file)
    output = (
        Path(args.output)
        if args.output
        else configs / f"{args.tool.replace('-', '_')}_{source.stem}.yaml"
    )
    if output.exists() and not args.force:
        print(f"{output} exists: give --force to overwrite it, or -o another file", file=sys.stderr)
        return 2
    options = {
        "fabric": args.fabric,
        "synapse": args.synapse,
        "known": known_connections(configs, skip=output),
        "keys": dict(_key_option(k) for k in args.key),
        "datastores": args.datastores,
    }
    imported = IMPORTERS[args.tool].import_file(source, **options)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(imported.yaml_text())
    print(imported.report() + f"\n\nwrote {output}")
    try:
        load_project(configs)
    except ConfigError as exc:
        print(f"\nvalidation of {configs} (fix these, then run sync-assets validate):\n{exc}")
        return 1
    print(f"\nvalidation of {configs}: OK")
    return 0


def _key_option(text: str) -> tuple[str, list[str]]:
    table, sep, columns = text.partition("=")
    if not sep or not columns.strip():
        raise ImportProblem(f"--key {text}: give SCHEMA.TABLE=COL[,COL]")
    return table.strip(), [c.strip() for c in columns.split(",") if c.strip()]


def reset_object(args) -> int:
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_DIR))
    project = load_project()
    done = reset(project, str(default_configs_dir().parent), args.object_id, args.partition)
    print(
        f"{args.object_id}: reset {done['sync/reset']} ({done['sync/reset_watermarks']} "
        f"watermarks, {done['sync/reset_fingerprints']} fingerprints cleared); "
        "the next run is a full refresh"
    )
    return 0


def run_history(args) -> int:
    """`history sync` replicates (and prints what each table got); `history status` prints
    the configuration and each table's last replicated point (seed 003's sync-status)."""
    from sync_assets.history import history_target, replicate, stored_cursor

    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_DIR))
    project = load_project()
    spec = project.run_history
    if spec is None:
        raise OperationError("no run_history: section in the configs (see the README)")
    base_dir = str(default_configs_dir().parent)
    with dg.DagsterInstance.get() as instance:
        if args.history_command == "sync":
            tables = args.tables.split(",") if args.tables else None
            for done in replicate(instance, project, base_dir, args.mode, tables):
                print(f"{done.table}: {done.rows} rows replicated, up to event {done.cursor}")
            return 0
        newest = instance.event_log_storage.get_maximum_record_id()
    conn = project.connections[spec.connection]
    print("=== Run history replication ===")
    print(f"Target: {spec.connection} ({conn.type}), schema {spec.schema_}")
    days = f"last {spec.sync_last_days} days" if spec.sync_last_days else "all history"
    print(f"Mode: {spec.mode}; {days}; sensor every {spec.interval_s} s")
    print(f"Newest event in the instance: {newest}")
    print("--- Last replicated point ---")
    for table in spec.tables:
        target = history_target(project, base_dir, table)
        cursor = stored_cursor(target)
        where = f"{spec.schema_}.{table}"
        if cursor is None:
            print(f"  {where}: never replicated")
        else:
            behind = f", {newest - cursor} events behind" if newest and newest > cursor else ""
            print(f"  {where}: up to event {cursor}, {target.count_rows()} rows{behind}")
    return 0


def show_status(args) -> int:
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_DIR))
    project = load_project()
    rows = status(project, str(default_configs_dir().parent), load_definitions())
    w = max([24] + [len(r["object_id"]) for r in rows])
    header = f"{'object_id':{w}} {'type':18} {'last sync':25} {'watermark':28} {'rows':>9}  next"
    print(header + "\n" + "-" * len(header))
    for r in rows:
        kind = r["sync_type"] + (f"/{r['strategy']}" if r["strategy"] else "")
        note = "; ".join(r["next"]) or "no schedule"
        if r["pending_refresh"]:
            note = f"reset: {r['pending_refresh']} key(s) wait for a full refresh; {note}"
        print(
            f"{r['object_id']:{w}} {kind:18} {r['last_sync'] or 'never':25} "
            f"{str(r['watermark'] or '-')[:28]:28} {r['rows'] if r['rows'] is not None else '-':>9}  {note}"
        )
    return 0


def test_connection(args) -> int:
    project = load_project()
    unknown = [n for n in args.names if n not in project.connections]
    if unknown:
        print(
            f"unknown connection(s): {', '.join(unknown)} (known: {', '.join(project.connections)})",
            file=sys.stderr,
        )
        return 2
    results = check_connections(project, default_configs_dir().parent, args.names or None)
    for check in results:
        print(check.line())
    return 0 if all(c.ok for c in results) else 1


def run_demo(args) -> int:
    project = load_project()
    path = resolve(default_configs_dir().parent, project.connections["demo_source"].path)
    if ensure_demo_source(path):
        print(f"built demo source {path}")
    notebook = resolve(default_configs_dir().parent, project.connections["notebook_lake"].root)
    if ensure_notebook_table(notebook):
        print(f"built the notebook-written lakehouse table under {notebook}")
    if args.changes:
        changes = apply_changes(path)
        changes.update(change_notebook_table(notebook, changes["round"]))
        print(f"applied source changes: {changes}")
    code = materialize(args)
    if code == 0 and project.semantic_models:
        code = sync_semantic_models(project)
    if code == 0 and project.run_history:
        print("\nrun history (sync-assets history sync):")
        code = run_history(argparse.Namespace(history_command="sync", mode=None, tables=None))
    return code


def sync_semantic_models(project) -> int:
    """Run the one-time job of semantic_models:, then print each model's record."""
    from sync_assets.semantic.defs import JOB, Syncer

    print(f"\n$ dagster job execute -j {JOB}", flush=True)
    cmd = [sys.executable, "-m", "dagster", "job", "execute", "-m", "sync_assets.definitions"]
    cmd += ["-j", JOB]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return done.returncode
    store = Syncer(project, str(default_configs_dir().parent)).store()
    try:
        for model_id, synced in sorted(store.synced().items()):
            print(
                f"semantic model {model_id}: sync {synced.sync_count}, "
                f"hash {synced.definition_hash[:12]}, {store.counts(model_id)}"
            )
            tables = project.semantic_tables.get(model_id, {})
            if tables:
                print(
                    f"  its tables synced by: {', '.join(f'{t} <- {o}' for t, o in tables.items())}"
                )
    finally:
        store.connection.close()
    return 0


def synced_specs(defs) -> list:
    """The specs of the sync assets (not the external source tables, not semantic_models),
    by key."""
    graph = defs.resolve_asset_graph()
    specs = [
        s
        for s in defs.resolve_all_asset_specs()
        if graph.get(s.key).is_executable and "sync/object_id" in s.metadata
    ]
    return sorted(specs, key=lambda s: s.key.to_user_string())


def _run_groups(defs) -> list[tuple[list[str], str | None]]:
    """(asset keys, partition range) per run: unpartitioned together, then per partitions def."""
    unpartitioned, by_def = [], {}
    for spec in synced_specs(defs):
        key = spec.key.to_user_string()
        if spec.partitions_def is None:
            unpartitioned.append(key)
        else:
            by_def.setdefault(spec.partitions_def, []).append(key)
    groups = [(unpartitioned, None)] if unpartitioned else []
    for pdef, keys in by_def.items():
        all_keys = pdef.get_partition_keys()
        if all_keys:
            groups.append((keys, f"{all_keys[0]}...{all_keys[-1]}"))
    return groups


def _run_config(defs, keys: list[str], **config) -> dict:
    """Run config that sets `config` (dry_run, full_refresh) on every sync op of a run."""
    ops = {defs.resolve_assets_def(dg.AssetKey.from_user_string(k)).op.name for k in keys}
    return {"ops": {op: {"config": config} for op in sorted(ops)}}


def materialize(args) -> int:
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_DIR))
    defs = load_definitions()
    failed = 0
    for keys, partition_range in _run_groups(defs):
        cmd = [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-m",
            "sync_assets.definitions",
            "--select",
            ",".join(keys),
        ]
        if partition_range:
            cmd += ["--partition-range", partition_range]
        config = {flag: True for flag in ("dry_run", "full_refresh") if getattr(args, flag, False)}
        if config:
            cmd += ["--config-json", json.dumps(_run_config(defs, keys, **config))]
        print(
            f"$ dagster asset materialize --select {','.join(keys)}"
            + (f" --partition-range {partition_range}" if partition_range else ""),
            flush=True,
        )
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            failed += 1
            print(done.stdout[-4000:] + done.stderr[-4000:], file=sys.stderr)
    print_summary(defs)
    return 1 if failed else 0


def _history_note(meta: dict) -> str:
    """An SCD2 run's keys, beside the rows it wrote (ins = new versions, upd = closed ones)."""
    if "sync/scd2_new_keys" not in meta:
        return ""
    return (
        f"history: {meta['sync/scd2_new_keys']} new, {meta['sync/scd2_changed_keys']} changed, "
        f"{meta['sync/scd2_closed_keys']} closed keys"
    )


def _checks_note(instance, defs, key) -> str:
    """The latest result of each declared check of an asset, e.g. "checks: row_count passed"."""
    keys = [k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key == key]
    if not keys:
        return ""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    results = []
    for check in sorted(keys, key=lambda k: k.name):
        record = latest.get(check)
        evaluation = record and record.event and record.event.dagster_event.event_specific_data
        state = "not run" if not evaluation else "passed" if evaluation.passed else "FAILED"
        results.append(f"{check.name} {state}")
    return "checks: " + ", ".join(results)


def print_summary(defs) -> None:
    """The latest materialization of every asset: what was read and written."""
    instance = dg.DagsterInstance.get()
    specs = synced_specs(defs)
    w = max([36] + [len(s.key.to_user_string()) for s in specs])
    header = f"{'asset':{w}} {'type/strategy':15} {'read':>8} {'ins':>8} {'upd':>7} {'del':>7} {'rows':>9}  note"
    print("\n" + header + "\n" + "-" * len(header))
    for spec in specs:
        event = instance.get_latest_materialization_event(spec.key)
        if event is None:
            print(f"{spec.key.to_user_string():{w}} (never materialized)")
            continue
        m = {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
        rows = m.get(
            "dagster/row_count",
            m.get("dagster/partition_row_count", m.get("sync/range_row_count", "")),
        )
        note = m.get("sync/skipped") or ("initial load" if m.get("sync/initial_load") else "")
        rejected = (
            f"{m['sync/rows_rejected']} rows quarantined" if m.get("sync/rows_rejected") else ""
        )
        note = "; ".join(
            p
            for p in (note, rejected, _history_note(m), _checks_note(instance, defs, spec.key))
            if p
        )
        kind = m.get("sync/sync_type", "") + (
            f"/{m['sync/strategy']}" if "sync/strategy" in m else ""
        )
        print(
            f"{spec.key.to_user_string():{w}} {kind:15} {m.get('sync/rows_read', 0):>8} "
            f"{m.get('sync/rows_inserted', 0):>8} {m.get('sync/rows_updated', 0):>7} {m.get('sync/rows_deleted', 0):>7} {rows:>9}  {note}"
        )


if __name__ == "__main__":
    sys.exit(main())
