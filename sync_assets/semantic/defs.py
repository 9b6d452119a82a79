"""New-model detection as Dagster definitions (seed 001): the `semantic_models` asset with
one dynamic partition per model, the sensor that finds new, changed and deleted models, and
a job that syncs every model once.

A materialization of one partition reads that model from its source, writes its metadata to
Snowflake in one transaction (snowflake_store.py) and creates or replaces its semantic view
(view.py) over the tables its Direct Lake partitions read, as they are named in the target
database (`<schemaName>.<entityName>`); tables without such a partition are left out of the
view, with a note. "Changed" is a different hash of the normalized definition; the state
(hash, sync count, last sync) lives in `_SEMANTIC_METADATA`, next to the data.
"""

# no `from __future__ import annotations` here: Dagster reads the asset's `context`
# annotation at definition time
import datetime as dt
from pathlib import Path

import dagster as dg

from sync_assets.automation import sensor_status
from sync_assets.config.models import ProjectConfig, SemanticModelsSpec
from sync_assets.connection_types import target_schema
from sync_assets.paths import resolve
from sync_assets.semantic.fabric_api import ADMIN_SCOPE, SCOPE, FabricClient, ModelItem
from sync_assets.semantic.model import SemanticModel, from_tmdl, from_tmsl
from sync_assets.semantic.pbip import SUFFIX, read_model
from sync_assets.semantic.snowflake_store import DuckConnection, SemanticStore
from sync_assets.semantic.sources import table_sources
from sync_assets.semantic.tables import remember
from sync_assets.semantic.view import semantic_view_sql, snake
from sync_assets.sql.literals import qualified, quote_ident

PARTITIONS = dg.DynamicPartitionsDefinition(name="semantic_models")
KEY = dg.AssetKey(["semantic_models"])
SENSOR = "semantic_models_detection"
JOB = "semantic_models_sync_all"


class PbipModels:
    """Models of a folder of `<name>.SemanticModel` folders; a model's id is its name."""

    def __init__(self, root: Path):
        self.root = root

    def list(self) -> dict[str, str]:
        return {
            f.name.removesuffix(SUFFIX): f.name.removesuffix(SUFFIX)
            for f in sorted(self.root.rglob(f"*{SUFFIX}"))
            if f.is_dir()
        }

    def read(self, model_id: str) -> SemanticModel:
        [folder] = [f for f in self.root.rglob(f"{model_id}{SUFFIX}") if f.is_dir()]
        return read_model(folder, model_id)

    def label(self, model_id: str) -> str:
        return f"pbip_folder: {model_id}{SUFFIX}"


class FabricModels:
    """Models of a Fabric workspace; a model's id is its item id."""

    def __init__(self, client: FabricClient, fmt: str, scanner=None):
        self.client, self.fmt = client, fmt
        self._names: dict[str, str] = {}
        # (admin API URL, its token) when changes are found through the scanner API
        self.scanner = scanner

    def unchanged_since(self, cursor: str | None) -> str | None:
        """Why this tick may skip reading definitions: the admin API does not list the
        workspace as modified since the last full check (None: check fully)."""
        if self.scanner is None or not cursor:
            return None
        since = dt.datetime.fromisoformat(cursor)
        if dt.datetime.now(dt.UTC) - since > dt.timedelta(days=29):
            return None  # the API looks back 30 days at most
        admin_api, token = self.scanner
        if self.client.modified_since(
            admin_api, since.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"), token
        ):
            return None
        return f"workspace {self.client.workspace} not modified since {cursor} (admin API)"

    def list(self) -> dict[str, str]:
        self._names = {m.id: m.name for m in self.client.semantic_models()}
        return dict(self._names)

    def read(self, model_id: str) -> SemanticModel:
        name = self._names.get(model_id) or self.list().get(model_id, model_id)
        parts = self.client.definition(ModelItem(model_id, name), self.fmt)
        if "model.bim" in parts:
            return from_tmsl(parts["model.bim"], name)
        return from_tmdl(parts, name)

    def label(self, model_id: str) -> str:
        return f"fabric_workspace {self.client.workspace}: {model_id}"


def model_source(spec: SemanticModelsSpec, base_dir: str):
    source = spec.source
    if source.type == "pbip_folder":
        return PbipModels(Path(resolve(base_dir, source.path)))
    scanner = None
    if source.changes_from == "scanner":
        scanner = (source.admin_api_url, _token(source, ADMIN_SCOPE))
    return FabricModels(
        FabricClient(source.api_url, source.workspace_id, _token(source)), source.format, scanner
    )


def _token(source, scope: str = SCOPE):
    """A callable giving a bearer token for the Fabric API, or the admin API's scope
    (azure-identity)."""

    def token() -> str:
        from azure import identity

        if source.authentication == "service_principal":
            cred = identity.ClientSecretCredential(
                source.tenant_id, source.client_id, source.client_secret
            )
        elif source.authentication == "managed_identity":
            cred = identity.ManagedIdentityCredential(client_id=source.client_id)
        elif source.authentication == "azure_cli":
            cred = identity.AzureCliCredential()
        else:
            cred = identity.DefaultAzureCredential()
        return cred.get_token(scope).token

    return token


class Syncer:
    """One model into Snowflake: metadata, then the semantic view."""

    def __init__(self, project: ProjectConfig, base_dir: str):
        self.project = project
        self.spec = project.semantic_models
        self.target = project.connections[self.spec.target]
        self.base_dir = base_dir
        self.source = model_source(self.spec, base_dir)

    def store(self):
        if self.target.type == "duckdb":
            return SemanticStore(
                DuckConnection(resolve(self.base_dir, self.target.path)), self.spec.schema_
            )
        from sync_assets.snowflake.connection import Connection

        return SemanticStore(Connection(self.target, autocommit=True), self.spec.schema_)

    def sync(self, model_id: str, model: SemanticModel | None = None) -> dict:
        model = model or self.source.read(model_id)
        database = getattr(self.target, "database", None)
        view_name = ".".join(
            quote_ident(p) for p in (database, self.spec.schema_, snake(model.name).upper()) if p
        )
        view = semantic_view_sql(
            model, view_name, self._table_name(model_id, model), f"Power BI model {model.name}"
        )
        skipped = self.project.semantic_skipped.get(model_id, {})
        if self.spec.sync_tables is not None:
            view.notes.extend(f"table '{t}' is not synced: {why}" for t, why in skipped.items())
            cached = remember(self.spec, self.base_dir, model_id, model)
            unloaded = model_id not in self.project.semantic_tables and table_sources(model)[0]
            if cached or unloaded:
                view.notes.append(
                    "its tables changed: reload the code location to update their sync assets"
                )
        store = self.store()
        try:
            synced = store.write(model_id, model, self.source.label(model_id), view)
            if self.spec.create_views:
                store.connection.cursor().execute(view.sql)
        finally:
            store.connection.close()
        return {
            "semantic/model_id": model_id,
            "semantic/model_name": model.name,
            "semantic/definition_hash": synced.definition_hash,
            "semantic/sync_count": synced.sync_count,
            "semantic/tables": len(model.tables),
            "semantic/measures": sum(len(t.measures) for t in model.tables),
            "semantic/metrics": len(view.metrics),
            "semantic/refused_measures": dg.MetadataValue.json(
                {f"{t}[{m}]": why for (t, m), why in view.refused_measures.items()}
            ),
            "semantic/notes": dg.MetadataValue.json(model.notes + view.notes),
            "semantic/view_sql": dg.MetadataValue.md(f"```sql\n{view.sql}\n```"),
            "semantic/view_created": self.spec.create_views,
        }

    def _table_name(self, model_id: str, model: SemanticModel):
        """model table -> its Snowflake table: the one its generated sync object writes
        (`sync_tables`), else the Direct Lake entity it reads, named as in the target."""
        database = getattr(self.target, "database", None)
        if self.spec.sync_tables is not None:
            objects = {o.object_id: o for o in self.project.sync_objects}
            synced = {}
            for table, object_id in self.project.semantic_tables.get(model_id, {}).items():
                obj = objects[object_id]
                synced[table] = qualified(
                    database, target_schema(obj, self.target), obj.target.object
                )
            return synced.get
        names = {}
        for t in model.tables:
            entity = next((p for p in t.partitions if p.entity), None)
            if entity:
                default = getattr(self.target, "schema_", None)
                names[t.name] = qualified(database, entity.schema or default, entity.entity)
        return names.get


def semantic_definitions(project: ProjectConfig, base_dir: str) -> tuple[list, list, list]:
    """(assets, jobs, sensors) of `semantic_models:`, or nothing without it."""
    spec = project.semantic_models
    if spec is None:
        return [], [], []

    @dg.asset(
        key=KEY,
        partitions_def=PARTITIONS,
        group_name="semantic_models",
        kinds={"snowflake", "powerbi"},
        description="Fabric / Power BI semantic models synced to Snowflake (one partition per model)",
        # the models' tables, synced by the objects sync_tables generates
        deps=table_keys(project),
    )
    def semantic_models(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        metadata = Syncer(project, base_dir).sync(context.partition_key)
        context.log.info(
            f"semantic model {context.partition_key}: sync {metadata['semantic/sync_count']}"
        )
        return dg.MaterializeResult(metadata=metadata)

    @dg.op(name="sync_every_semantic_model")
    def sync_all(context: dg.OpExecutionContext):
        yield from sync_every_model(Syncer(project, base_dir), context)

    @dg.job(name=JOB, description="Sync every semantic model once (seed 001's --once)")
    def sync_all_job():
        sync_all()

    @dg.sensor(
        name=SENSOR,
        asset_selection=[KEY],
        minimum_interval_seconds=spec.interval_s,
        default_status=sensor_status(spec.enabled),
        description="Finds new, changed and deleted semantic models and syncs them",
    )
    def detection(context: dg.SensorEvaluationContext):
        return detect(Syncer(project, base_dir), context)

    return [semantic_models], [sync_all_job], [detection]


def table_keys(project: ProjectConfig) -> list[dg.AssetKey]:
    """The asset keys of the sync objects `sync_tables` generated."""
    from sync_assets.specs import asset_key

    ids = {i for tables in project.semantic_tables.values() for i in tables.values()}
    return [asset_key(o, project) for o in project.active_objects() if o.object_id in ids]


def sync_every_model(syncer: Syncer, context: dg.OpExecutionContext):
    """Every model of the source, once: each gets its partition (new ones are added) and a
    materialization of it; deleted ones are marked. One failing model does not stop the
    others; the step fails at the end, naming each."""
    found = syncer.source.list()
    existing = set(context.instance.get_dynamic_partitions(PARTITIONS.name))
    if new := [m for m in found if m not in existing]:
        context.instance.add_dynamic_partitions(PARTITIONS.name, new)
    failed = []
    for model_id in found:
        try:
            meta = syncer.sync(model_id)
        except Exception as exc:
            failed.append(f"{model_id}: {exc}")
            context.log.error(f"semantic model {model_id}: {exc}")
            continue
        context.log.info(f"{model_id}: sync {meta['semantic/sync_count']}")
        yield dg.AssetMaterialization(asset_key=KEY, partition=model_id, metadata=meta)
    store = syncer.store()
    try:
        gone = mark_gone(store, store.synced(), found)
    finally:
        store.connection.close()
    if gone:
        context.log.info(f"deleted semantic models (marked in _SEMANTIC_METADATA): {gone}")
    if failed:
        raise dg.Failure(f"{len(failed)} semantic model(s) failed: " + "; ".join(failed))
    yield dg.Output(None)


def mark_gone(store: SemanticStore, synced: dict, found) -> list[str]:
    """Mark the synced models no longer in the source deleted (their rows kept)."""
    gone = [m for m, s in synced.items() if m not in found and not s.deleted]
    for model_id in gone:
        store.mark_deleted(model_id)
    return gone


def detect(syncer: Syncer, context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """New models get a partition and a run, changed ones (another definition hash) a run,
    deleted ones are marked deleted in _SEMANTIC_METADATA (their rows kept). With the
    scanner API, a tick whose workspace did not change since the last full check that found
    every model in sync (the cursor) reads nothing more; until a check finds them in sync
    (runs pending, a model failing), every tick checks fully."""
    started = dt.datetime.now(dt.UTC).isoformat()
    unchanged = getattr(syncer.source, "unchanged_since", lambda cursor: None)(context.cursor)
    if unchanged:
        return dg.SensorResult(skip_reason=unchanged, cursor=context.cursor)
    found = syncer.source.list()
    store = syncer.store()
    try:
        synced = store.synced()
        requests, failed = [], []
        for model_id in found:
            try:
                digest = syncer.source.read(model_id).definition_hash()
            except Exception as exc:  # one failing model does not stop the others
                failed.append(f"{model_id}: {exc}")
                continue
            known = synced.get(model_id)
            if known and known.definition_hash == digest and not known.deleted:
                continue
            requests.append(dg.RunRequest(partition_key=model_id, run_key=f"{model_id}:{digest}"))
        gone = mark_gone(store, synced, found)
    finally:
        store.connection.close()
    existing = set(context.instance.get_dynamic_partitions(PARTITIONS.name))
    new = [m for m in found if m not in existing]
    for problem in failed:
        context.log.warning(f"semantic model {problem}")
    if gone:
        context.log.info(f"deleted semantic models (marked in _SEMANTIC_METADATA): {gone}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[PARTITIONS.build_add_request(new)] if new else [],
        skip_reason=None if requests else f"no new or changed model; deleted: {gone or 'none'}",
        cursor=context.cursor if requests or failed else started,
    )
