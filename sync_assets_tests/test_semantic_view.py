"""The Snowflake semantic view of a semantic model (issue: new-model detection). fakesnow
has no semantic views, so the statement is golden-tested (regenerate with
SYNC_ASSETS_UPDATE_GOLDEN=1) and what it leaves out is asserted with its reasons."""

from __future__ import annotations

import os
from pathlib import Path

from sync_assets.semantic.pbip import read_folder
from sync_assets.semantic.view import semantic_view_sql, snake

SAMPLES = Path(__file__).parent / "semantic_samples"
GOLDEN = Path(__file__).parent / "golden" / "semantic_view_sales.sql"
TABLES = {"Sales": '"ANALYTICS"."SALES"."ORDERS"', "Order Date": '"ANALYTICS"."DIM"."DATES"'}


def test_the_sales_model_as_a_semantic_view():
    model = read_folder(SAMPLES)["Sales"]
    view = semantic_view_sql(
        model, '"ANALYTICS"."PBI"."SALES"', TABLES.get, comment="Power BI model Sales"
    )
    if os.environ.get("SYNC_ASSETS_UPDATE_GOLDEN"):
        GOLDEN.write_text(view.sql + "\n")
    assert view.sql + "\n" == GOLDEN.read_text()
    assert view.refused_measures == {
        ("Sales", "Average Order"): "VAR / RETURN is not in the subset",
        ("Sales", "Customer's Share"): "ALL is not in the subset",
    }
    assert view.notes == [
        "table 'Time Intelligence': no copy in Snowflake, left out",
        "relationship Sales[status] -> Order Date[Year]: inactive (a semantic view has no "
        "inactive relationships), left out",
        "column Sales[Amount (rounded)]: a calculated column (DAX), left out",
    ]


def test_names_become_snowflake_identifiers():
    assert [snake(n) for n in ("Order Date", "Total Sales ($)", "2024 Sales", "Ünï")] == [
        "order_date", "total_sales", "_2024_sales", "n",
    ]  # fmt: skip
