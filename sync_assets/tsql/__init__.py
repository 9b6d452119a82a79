"""The Microsoft SQL family (SQL Server / Azure SQL, Synapse dedicated pool, Fabric Warehouse)
reached through ODBC: flavors, type mapping, statement builders and Change Tracking."""
