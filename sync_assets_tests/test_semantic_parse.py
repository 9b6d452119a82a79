"""Semantic models read from TMDL and TMSL (issue: new-model detection): the samples under
semantic_samples/ are one model written both ways (a PBIP folder in TMDL, and model.bim),
with quoted names, a quote inside a name, multi-line and fenced DAX, a Direct Lake entity
partition, an M partition, annotations, a calculation group and an inactive relationship."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_assets.semantic import tmdl
from sync_assets.semantic.model import Measure, Partition, Relationship, from_tmdl, from_tmsl
from sync_assets.semantic.pbip import read_folder

SAMPLES = Path(__file__).parent / "semantic_samples"


@pytest.fixture(scope="module")
def models():
    return read_folder(SAMPLES)


def test_the_tmdl_folder_reads_as_written(models):
    model = models["Sales"]
    tables = {t.name: t for t in model.tables}
    assert sorted(tables) == ["Order Date", "Sales", "Time Intelligence"]
    sales = tables["Sales"]
    assert [c.name for c in sales.columns] == [
        "order_id", "Order Date", "amount", "status", "Amount (rounded)",
    ]  # fmt: skip
    order_id = sales.columns[0]
    assert (order_id.data_type, order_id.source_column, order_id.hidden) == (
        "int64",
        "order_id",
        True,
    )
    assert sales.columns[-1].expression == "ROUND(Sales[amount], 0)"
    measures = {m.name: m for m in sales.measures}
    assert measures["Total Sales"] == Measure("Total Sales", "SUM(Sales[amount])", "#,0.00")
    assert measures["Average Order"].expression == (
        "VAR orders = [Order Count]\n\nRETURN\n    DIVIDE([Total Sales], orders)"
    )
    assert measures["Paid Sales"].expression == (
        'CALCULATE(\n    [Total Sales],\n    Sales[status] = "paid"\n)'
    )
    assert measures["Customer's Share"].hidden
    assert sales.partitions == (
        Partition("sales", "directLake", "entity", None, "orders", "sales", "DatabaseQuery"),
    )
    assert model.expressions["DatabaseQuery"].split() == [
        "let", "database", "=",
        'Sql.Database("abc.datawarehouse.fabric.microsoft.com",', '"1f0e-lakehouse")',
        "in", "database",
    ]  # fmt: skip
    [dates] = tables["Order Date"].partitions
    assert (dates.mode, dates.kind) == ("import", "m")
    assert dates.source.splitlines()[0] == "let" and 'Item="dates"' in dates.source
    assert model.relationships[1] == Relationship(
        "b2c3d4e5-4545-4d3e-8f50-324354657687", "Sales", "status", "Order Date", "Year",
        "many", "many", False, "bothDirections",
    )  # fmt: skip
    assert model.relationships[0].from_column == "Order Date"
    assert model.notes == [
        "table 'Time Intelligence' is a calculation group: its items are not synced"
    ]


def test_tmdl_and_tmsl_of_one_model_have_one_definition_hash(models):
    bim = (SAMPLES / "SalesBim.SemanticModel" / "model.bim").read_text()
    assert from_tmsl(bim, "Sales").definition_hash() == models["Sales"].definition_hash()
    assert models["SalesBim"].definition_hash() != models["Sales"].definition_hash()  # the name


def test_the_hash_follows_the_definition_not_the_layout(models):
    folder = SAMPLES / "Sales.SemanticModel"
    parts = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*.tmdl")}
    base = from_tmdl(parts, "Sales").definition_hash()
    sales = "definition/tables/Sales.tmdl"
    retagged = dict(parts, **{sales: parts[sales].replace("8a7b6c5d", "ffffffff")})
    assert from_tmdl(retagged, "Sales").definition_hash() == base  # a lineage tag
    reflowed = dict(
        parts, **{sales: parts[sales].replace("SUM(Sales[amount])", "SUM( Sales[amount] )")}
    )
    assert from_tmdl(reflowed, "Sales").definition_hash() != base  # the DAX itself
    edited = dict(
        parts, **{sales: parts[sales].replace("formatString: 0\n", "formatString: #,0\n", 1)}
    )
    assert from_tmdl(edited, "Sales").definition_hash() != base


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "table T\n\tcolumn a\n\t\tdataType: int64\n\t\t  sourceColumn: a\n",
            "x.tmdl:4: unexpected indentation",
        ),
        ("table T\n\tmeasure m = ```\n\t\tSUM(T[a])\n", "x.tmdl:2: ``` block is never closed"),
        ("table T\n\t: nothing\n", "x.tmdl:2: not a declaration"),
    ],
)
def test_unreadable_tmdl_names_the_file_and_line(text, message):
    with pytest.raises(tmdl.TmdlError, match=message):
        tmdl.parse(text, "x.tmdl")


def test_names_and_references():
    assert tmdl.unquote("'Customer''s Share'") == "Customer's Share"
    assert tmdl.split_reference("'Order Date'.'Day of Week'") == ("Order Date", "Day of Week")
    assert tmdl.split_reference("Sales.amount") == ("Sales", "amount")
