"""Fabric / Power BI semantic models: read (TMDL, TMSL), compared, synced to Snowflake."""
