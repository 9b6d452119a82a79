"""The embedded demo source: a deterministic DuckDB database of customers, orders and events.

Values come from integer arithmetic on row numbers (no random generator), so every machine
builds the same data. `apply_changes` makes a deterministic round of inserts, updates and
deletes so a user can watch incremental, merge and append_only syncs pick them up.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

VERSION = 3
CUSTOMERS = 5_000
ORDERS = 120_000  # 1,000 a day over 2025-01-01 .. 2025-04-30
EVENTS = 60_000
READINGS = 10_000

_SCHEMA = f"""
CREATE TABLE demo_meta AS SELECT {VERSION} AS version, 0 AS change_rounds;

CREATE TABLE customers AS
SELECT
    i::INTEGER AS customer_id,
    ['Ada','Grace','Alan','Edsger','Barbara','Ken','Donald','Frances','John','Margaret'][i % 10 + 1] AS first_name,
    ['Lovelace','Hopper','Turing','Dijkstra','Liskov','Thompson','Knuth','Allen','Backus','Hamilton'][(i * 7) % 10 + 1] AS last_name,
    'user' || i || '@example.com' AS email,
    ['nl','de','fr','us','gb','se','es','it'][(i * 3) % 8 + 1] AS country,
    ['retail','smb','enterprise'][i % 3 + 1] AS segment,
    TIMESTAMP '2024-06-01' + to_minutes((i * 37) % 200000) AS created_at,
    TIMESTAMP '2025-01-01' + to_minutes(i % 1000) AS updated_at,
    TIMESTAMP '2025-02-01' + to_minutes((i * 53) % 40000) AS last_login_at
FROM range(1, {CUSTOMERS} + 1) r(i);

CREATE TABLE orders AS
SELECT
    i::BIGINT AS order_id,
    (1 + (i * 7919) % {CUSTOMERS})::INTEGER AS customer_id,
    (DATE '2025-01-01' + ((i - 1) // 1000)::INTEGER) AS order_date,
    (TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_days(((i - 1) // 1000)::INTEGER) + to_seconds(((i * 86) % 86400)::BIGINT)) AS order_ts,
    ['placed','paid','shipped','delivered','returned'][(i * 13) % 5 + 1] AS status,
    (((i * 7907) % 100000) / 100.0 + 1)::DECIMAL(12,2) AS amount,
    (1 + i % 9)::INTEGER AS quantity,
    'order note ' || lpad(((i * 31) % 99991)::VARCHAR, 5, '0') || ' for customer ' || (1 + (i * 7919) % {CUSTOMERS}) AS note,
    [['gift','express','bulk','promo'][i % 4 + 1], ['web','store','phone'][i % 3 + 1]] AS tags,
    (TIMESTAMP '2025-01-01 00:00:00' + to_days(((i - 1) // 1000)::INTEGER) + to_seconds(((i * 86) % 86400)::BIGINT) + to_minutes(5)) AS updated_at
FROM range(1, {ORDERS} + 1) r(i);

CREATE TABLE order_events AS
SELECT
    i::BIGINT AS event_id,
    (1 + (i * 104729) % {ORDERS})::BIGINT AS order_id,
    ['created','payment','pick','ship','deliver'][i % 5 + 1] AS event_type,
    TIMESTAMP '2025-01-01' + to_seconds((i * 173)::BIGINT) AS event_ts,
    {{'source': ['api','batch'][i % 2 + 1], 'attempt': (i % 3)::INTEGER}} AS payload
FROM range(1, {EVENTS} + 1) r(i);

-- device readings with the types a copy tool gets wrong: UUID, JSON, nanosecond timestamps
-- (every 250th reading has a nanosecond part, which a Delta table cannot hold exactly)
CREATE TABLE readings AS
SELECT
    i::INTEGER AS reading_id,
    ('00000000-0000-4000-8000-' || lpad(i::VARCHAR, 12, '0'))::UUID AS device_id,
    make_timestamp_ns(epoch_ns(TIMESTAMP_NS '2025-03-01 00:00:00') + i * 1000000000
        + CASE WHEN i % 250 = 0 THEN 3 ELSE 0 END) AS read_at,
    json_object('celsius', (i % 400) / 10.0, 'ok', i % 7 <> 0)::JSON AS payload
FROM range(1, {READINGS} + 1) r(i);
"""


def ensure_demo_source(path: str | Path) -> bool:
    """Create the demo DuckDB file unless a current one exists; return True if created."""
    path = Path(path)
    if path.exists() and _version(path) == VERSION:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        con.execute(_SCHEMA)
    finally:
        con.close()
    tmp.replace(path)  # atomic: a half-built file is never taken for the demo
    return True


def _version(path: Path) -> int | None:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return con.execute("SELECT version FROM demo_meta").fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()


def apply_changes(path: str | Path) -> dict:
    """One deterministic round of source changes: new orders and events, updates, deletes."""
    con = duckdb.connect(str(path))
    try:
        n = con.execute(
            "UPDATE demo_meta SET change_rounds = change_rounds + 1 RETURNING change_rounds"
        ).fetchone()[0]
        stamp = f"TIMESTAMP '2025-05-01' + to_hours({n})"
        base = con.execute("SELECT max(order_id) FROM orders").fetchone()[0]
        con.execute(f"""
            INSERT INTO orders
            SELECT {base} + i, 1 + i % {CUSTOMERS}, DATE '2025-04-30', TIMESTAMPTZ '2025-04-30 12:00:00+00',
                   'placed', (i * 1.5)::DECIMAL(12,2), 1, 'late order ' || i, ['web'], {stamp}
            FROM range(1, 501) r(i)""")
        updated = con.execute(
            f"UPDATE orders SET status = 'paid', updated_at = {stamp} WHERE order_id % 997 = {n % 997}"
        ).fetchall()
        con.execute(
            f"UPDATE customers SET segment = 'enterprise', updated_at = {stamp} WHERE customer_id % 101 = {n % 101}"
        )
        # logins only touch an audit column, which the hash object leaves out of its hash
        logins = con.execute(
            f"UPDATE customers SET last_login_at = {stamp} WHERE customer_id % 7 = {n % 7}"
        ).fetchall()
        deleted = con.execute(
            f"DELETE FROM customers WHERE customer_id = {CUSTOMERS - n}"
        ).fetchall()
        ev = con.execute("SELECT max(event_id) FROM order_events").fetchone()[0]
        con.execute(f"""
            INSERT INTO order_events
            SELECT {ev} + i, 1 + i, 'ship', {stamp}, {{'source': 'api', 'attempt': 0}} FROM range(1, 1001) r(i)""")
        return {
            "round": n,
            "orders_inserted": 500,
            "orders_updated": updated[0][0] if updated else 0,
            "customers_deleted": deleted[0][0] if deleted else 0,
            "customer_logins": logins[0][0] if logins else 0,
            "events_inserted": 1000,
        }
    finally:
        con.close()


# ---------------------------------------------------------------------- a notebook-written table

FEEDBACK = 2_000
FEEDBACK_TABLE = ("dbo", "customer_feedback")


def _feedback_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("feedback_id", pa.int64()),
            ("customer id", pa.int64()),
            ("rating", pa.int32()),
            ("comment text", pa.string()),
            ("submitted at", pa.timestamp("us", "UTC")),
        ]
    )


def _feedback_rows(first: int, count: int):
    import datetime as dt

    import pyarrow as pa

    ids = range(first, first + count)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return pa.table(
        {
            "feedback_id": pa.array(ids, pa.int64()),
            "customer id": pa.array([1 + (i * 7919) % CUSTOMERS for i in ids], pa.int64()),
            "rating": pa.array([1 + (i * 13) % 5 for i in ids], pa.int32()),
            "comment text": [f"feedback {i}: {['slow', 'fine', 'great'][i % 3]}" for i in ids],
            "submitted at": [start + dt.timedelta(minutes=37 * i) for i in ids],
        },
        schema=_feedback_schema(),
    )


def ensure_notebook_table(root: str | Path) -> bool:
    """The demo's lakehouse table as a Fabric notebook (Spark) leaves it: column mapping
    (names with spaces), deletion vectors from a DELETE and an UPDATE, the change data feed
    on. Built in a scratch folder and renamed into place; True if built now."""
    import shutil

    from sync_assets.spark_delta import SparkDeltaTable

    path = Path(root).joinpath(*FEEDBACK_TABLE)
    if (path / "_delta_log").exists():
        return False
    scratch = path.with_name(path.name + ".building")
    shutil.rmtree(scratch, ignore_errors=True)
    table = SparkDeltaTable(scratch, _feedback_schema(), column_mapping="name", cdf=True)
    table.append(_feedback_rows(1, FEEDBACK // 2))
    table.append(_feedback_rows(1 + FEEDBACK // 2, FEEDBACK // 2))
    table.delete(lambda r: r["rating"] == 1 and r["feedback_id"] % 4 == 0, storage="i")
    table.update(lambda r: r["feedback_id"] % 50 == 0, lambda r: {**r, "comment text": "edited"})
    scratch.replace(path)
    return True


def change_notebook_table(root: str | Path, n: int) -> dict:
    """One round of notebook changes: a DELETE and an UPDATE (deletion vectors), an append."""
    from sync_assets.spark_delta import SparkDeltaTable

    table = SparkDeltaTable.open(Path(root).joinpath(*FEEDBACK_TABLE))
    before = table.live_rows().num_rows
    table.delete(lambda r: r["feedback_id"] % 97 == n % 97)
    deleted = before - table.live_rows().num_rows
    table.update(lambda r: r["feedback_id"] % 89 == n % 89, lambda r: {**r, "rating": 5})
    first = max(e["rows"].column("feedback_id").to_pylist()[-1] for e in table.files.values())
    table.append(_feedback_rows(first + 1, 50))
    return {"feedback_deleted": deleted, "feedback_inserted": 50}
