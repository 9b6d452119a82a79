"""Snowflake: connection (dagster-snowflake's SnowflakeResource), types, target and source."""
