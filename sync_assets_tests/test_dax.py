"""DAX measures to Snowflake metric expressions, measure by measure (issue: new-model
detection): each translated one exactly, each refused one with its reason."""

from __future__ import annotations

import pytest

from sync_assets.semantic.dax import translate

MEASURES = {
    "Total Sales": "SUM(Sales[amount])",
    "Order Count": "COUNTROWS(Sales)",
    "Customers": "DISTINCTCOUNT(Sales[customer_id])",
    "Smallest": "MIN(Sales[amount])",
    "Largest": "MAX('Sales'[amount])",
    "Mean": "AVERAGE(Sales[amount])",
    "Counted": "COUNT(Sales[amount])",
    "Per Order": "DIVIDE([Total Sales], [Order Count])",
    "Per Order or 0": "DIVIDE([Total Sales], [Order Count], 0)",
    "Net": "[Total Sales] - [Smallest] * 2",
    "Negative": "-[Total Sales]",
    "Paid Sales": 'CALCULATE(\n    [Total Sales],\n    Sales[status] = "paid"\n)',
    "Big Paid Orders": 'CALCULATE(COUNTROWS(Sales), Sales[status] = "paid", Sales[amount] >= 100)',
    "Not Refunded": "CALCULATE([Total Sales], Sales[refunded] = FALSE())",
    "Quoted": 'CALCULATE([Total Sales], Sales[note] = "it\'s ""ok""")',
    # refused
    "With Var": "VAR n = [Order Count]\nRETURN DIVIDE([Total Sales], n)",
    "Iterator": "SUMX(Sales, Sales[price] * Sales[qty])",
    "All": "DIVIDE([Total Sales], CALCULATE([Total Sales], ALL(Sales)))",
    "Related Filter": "CALCULATE([Total Sales], 'Order Date'[Year] = 2024)",
    "Text": '"n/a"',
    "Loop": "[Loop] + 1",
    "Unknown": "[Nope] * 2",
    "Concat": '[Total Sales] & " EUR"',
    "Time": "TOTALYTD([Total Sales], 'Order Date'[Date])",
}
TRANSLATED = {
    "Total Sales": 'SUM(sales."amount")',
    "Order Count": "COUNT(*)",
    "Customers": 'COUNT(DISTINCT sales."customer_id")',
    "Smallest": 'MIN(sales."amount")',
    "Largest": 'MAX(sales."amount")',
    "Mean": 'AVG(sales."amount")',
    "Counted": 'COUNT(sales."amount")',
    "Per Order": '((SUM(sales."amount")) / NULLIF((COUNT(*)), 0))',
    "Per Order or 0": 'COALESCE(((SUM(sales."amount")) / NULLIF((COUNT(*)), 0)), 0)',
    "Net": '((SUM(sales."amount")) - ((MIN(sales."amount")) * 2))',
    "Negative": '-((SUM(sales."amount")))',
    "Paid Sales": '(SUM(CASE WHEN sales."status" = \'paid\' THEN sales."amount" END))',
    "Big Paid Orders": (
        'COUNT(CASE WHEN sales."status" = \'paid\' AND sales."amount" >= 100 THEN 1 END)'
    ),
    "Not Refunded": '(SUM(CASE WHEN sales."refunded" = FALSE THEN sales."amount" END))',
    "Quoted": '(SUM(CASE WHEN sales."note" = \'it\'\'s "ok"\' THEN sales."amount" END))',
}
REFUSED = {
    "With Var": "VAR / RETURN is not in the subset",
    "Iterator": "SUMX is not in the subset",
    "All": "ALL is not in the subset",
    "Related Filter": "a CALCULATE filter on table 'Order Date' applied to 'Sales'",
    "Text": "a text value as a metric",
    "Loop": "[Loop] refers to itself",
    "Unknown": "[Nope] is not a measure of the model",
    "Concat": "operator '&' is not in the subset",
    "Time": "TOTALYTD is not in the subset",
}


def _column(table: str, column: str) -> str:
    return f'{table.lower().replace(" ", "_")}."{column}"'


@pytest.mark.parametrize("name", sorted(TRANSLATED))
def test_translated_measure(name):
    result = translate(MEASURES[name], MEASURES, _column, "Sales")
    assert (result.sql, result.refused) == (TRANSLATED[name], None)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_measure_says_why(name):
    result = translate(MEASURES[name], MEASURES, _column, "Sales")
    assert result.sql is None and REFUSED[name] in result.refused


def test_every_sample_measure_is_covered():
    assert set(TRANSLATED) | set(REFUSED) == set(MEASURES)
