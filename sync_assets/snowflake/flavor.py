"""Snowflake as a flavor of the staged SQL writer (see `sync_assets.targets.sql_writer`).

DDL commits the open transaction in Snowflake, so DDL, the PUT and the COPY INTO the staging
table run first; the set-based apply and the state upsert then run in one transaction.
Statements are spelled as for PostgreSQL (double-quoted identifiers, MERGE without BY
SOURCE, CREATE … IF NOT EXISTS), which Snowflake accepts, except where `dialect ==
"snowflake"` says otherwise.
"""

from __future__ import annotations

import dataclasses

from sync_assets.sql.flavors import Flavor

SNOWFLAKE = Flavor(
    name="snowflake",
    dialect="snowflake",
    has_merge=True,
    ddl_in_transaction=False,
    temp_staging=False,
    text_type="VARCHAR",
    tz_type="TIMESTAMP_TZ",
    max_time_precision=9,
    tinyint=False,
    copy_into=True,
    json_from_text="PARSE_JSON({})",
)


def flavor_for(conn) -> Flavor:
    return SNOWFLAKE if conn.use_merge else dataclasses.replace(SNOWFLAKE, has_merge=False)
