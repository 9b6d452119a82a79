-- state table
IF SCHEMA_ID(N'_sync_assets') IS NULL EXEC(N'CREATE SCHEMA [_sync_assets]');

-- state table
IF OBJECT_ID(N'[_sync_assets].[sync_state]', N'U') IS NULL CREATE TABLE [_sync_assets].[sync_state] ([object_id] NVARCHAR(400) NOT NULL, [target_table] NVARCHAR(400) NOT NULL, [state] NVARCHAR(MAX) NOT NULL, [updated_at] DATETIME2(6) NOT NULL);

-- target schema
IF SCHEMA_ID(N'sales') IS NULL EXEC(N'CREATE SCHEMA [sales]');

-- create target
CREATE TABLE [sales].[orders] ([id] BIGINT, [line] SMALLINT, [note] NVARCHAR(MAX), [amount] DECIMAL(12,2), [paid] BIT, [created_at] DATETIMEOFFSET(6), [day] DATE, [tags] NVARCHAR(MAX));

-- add column
ALTER TABLE [sales].[orders] ADD [channel] NVARCHAR(MAX);

-- drop stale staging
IF OBJECT_ID(N'tempdb..#__sync_stage') IS NOT NULL DROP TABLE [#__sync_stage];

-- create staging
CREATE TABLE [#__sync_stage] ([id] BIGINT, [line] SMALLINT, [note] NVARCHAR(MAX), [amount] DECIMAL(12,2), [paid] BIT, [created_at] DATETIMEOFFSET(6), [day] DATE, [tags] NVARCHAR(MAX), [__sync_deleted] BIT);

-- bulk insert (fast_executemany)
INSERT INTO [#__sync_stage] ([id], [line], [note], [amount], [paid], [created_at], [day], [tags], [__sync_deleted]) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- replace: delete window
DELETE FROM [sales].[orders] WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE);

-- replace/append: insert
INSERT INTO [sales].[orders] ([id], [line], [note], [amount], [paid], [created_at], [day], [tags]) SELECT s.[id], s.[line], s.[note], s.[amount], s.[paid], s.[created_at], s.[day], s.[tags] FROM [#__sync_stage] AS s;

-- merge: duplicate keys
SELECT TOP 3 [id], [line], COUNT_BIG(*) AS n FROM [#__sync_stage] GROUP BY [id], [line] HAVING COUNT_BIG(*) > 1;

-- changes: hard deletes
DELETE FROM [sales].[orders] WHERE EXISTS (SELECT 1 FROM [#__sync_stage] AS s WHERE s.[id] = [sales].[orders].[id] AND s.[line] = [sales].[orders].[line] AND s.[__sync_deleted] = 1);

-- changes: soft deletes
UPDATE [sales].[orders] SET [_is_deleted] = 1, [_deleted_at] = SYSUTCDATETIME() WHERE ([_is_deleted] = 0 OR [_is_deleted] IS NULL) AND EXISTS (SELECT 1 FROM [#__sync_stage] AS s WHERE s.[id] = [sales].[orders].[id] AND s.[line] = [sales].[orders].[line] AND s.[__sync_deleted] = 1);

-- merge: counts
SELECT COALESCE(SUM(CASE WHEN t.[id] IS NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN NOT (t.[id] IS NULL) AND NOT EXISTS (SELECT t.[note], t.[amount], t.[paid], t.[created_at], t.[day], t.[tags] INTERSECT SELECT s.[note], s.[amount], s.[paid], s.[created_at], s.[day], s.[tags]) THEN 1 ELSE 0 END), 0) FROM (SELECT * FROM [#__sync_stage] WHERE [__sync_deleted] = 0) AS s LEFT JOIN [sales].[orders] AS t ON t.[id] = s.[id] AND t.[line] = s.[line];

-- merge
MERGE INTO [sales].[orders] WITH (HOLDLOCK) AS t USING (SELECT * FROM [#__sync_stage] WHERE [__sync_deleted] = 0) AS s ON t.[id] = s.[id] AND t.[line] = s.[line] WHEN MATCHED AND NOT EXISTS (SELECT t.[note], t.[amount], t.[paid], t.[created_at], t.[day], t.[tags] INTERSECT SELECT s.[note], s.[amount], s.[paid], s.[created_at], s.[day], s.[tags]) THEN UPDATE SET t.[note] = s.[note], t.[amount] = s.[amount], t.[paid] = s.[paid], t.[created_at] = s.[created_at], t.[day] = s.[day], t.[tags] = s.[tags] WHEN NOT MATCHED BY TARGET THEN INSERT ([id], [line], [note], [amount], [paid], [created_at], [day], [tags]) VALUES (s.[id], s.[line], s.[note], s.[amount], s.[paid], s.[created_at], s.[day], s.[tags]) WHEN NOT MATCHED BY SOURCE AND "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE) THEN DELETE;

-- merge, insert-only keys
MERGE INTO [sales].[orders] WITH (HOLDLOCK) AS t USING [#__sync_stage] AS s ON t.[id] = s.[id] AND t.[line] = s.[line] WHEN NOT MATCHED BY TARGET THEN INSERT ([id], [line], [note], [amount], [paid], [created_at], [day], [tags]) VALUES (s.[id], s.[line], s.[note], s.[amount], s.[paid], s.[created_at], s.[day], s.[tags]);

-- merge, soft deletes of missing keys
MERGE INTO [sales].[orders] WITH (HOLDLOCK) AS t USING (SELECT * FROM [#__sync_stage] WHERE [__sync_deleted] = 0) AS s ON t.[id] = s.[id] AND t.[line] = s.[line] WHEN MATCHED AND NOT EXISTS (SELECT t.[note], t.[amount], t.[paid], t.[created_at], t.[day], t.[tags] INTERSECT SELECT s.[note], s.[amount], s.[paid], s.[created_at], s.[day], s.[tags]) THEN UPDATE SET t.[note] = s.[note], t.[amount] = s.[amount], t.[paid] = s.[paid], t.[created_at] = s.[created_at], t.[day] = s.[day], t.[tags] = s.[tags] WHEN NOT MATCHED BY TARGET THEN INSERT ([id], [line], [note], [amount], [paid], [created_at], [day], [tags]) VALUES (s.[id], s.[line], s.[note], s.[amount], s.[paid], s.[created_at], s.[day], s.[tags]) WHEN NOT MATCHED BY SOURCE AND "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE) AND (t.[_is_deleted] = 0 OR t.[_is_deleted] IS NULL) THEN UPDATE SET t.[_is_deleted] = 1, t.[_deleted_at] = SYSUTCDATETIME();

-- merge: soft delete missing in window
UPDATE [sales].[orders] SET [_is_deleted] = 1, [_deleted_at] = SYSUTCDATETIME() WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE) AND ([_is_deleted] = 0 OR [_is_deleted] IS NULL) AND NOT EXISTS (SELECT 1 FROM [#__sync_stage] AS s WHERE s.[id] = [sales].[orders].[id] AND s.[line] = [sales].[orders].[line]);

-- row count
SELECT COUNT_BIG(*) FROM [sales].[orders] WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE);

-- catalog
SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION;

-- state upsert
DELETE FROM [_sync_assets].[sync_state] WHERE [object_id] = ?;

-- state upsert
INSERT INTO [_sync_assets].[sync_state] ([object_id], [target_table], [state], [updated_at]) VALUES (?, ?, ?, SYSUTCDATETIME());

-- state read
SELECT [state] FROM [_sync_assets].[sync_state] WHERE [object_id] = ? AND [target_table] = ?;

-- writer lock: take
SET NOCOUNT ON; DECLARE @taken INT; EXEC @taken = sp_getapplock @Resource = ?, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = 0; SELECT CASE WHEN @taken >= 0 THEN 1 ELSE 0 END;

-- writer lock: release
EXEC sp_releaseapplock @Resource = ?, @LockOwner = 'Session';

-- source: probe
SELECT COUNT_BIG(*) AS n_rows, CAST(SUM(CAST(BINARY_CHECKSUM(*) AS BIGINT)) AS VARCHAR(40)) AS fingerprint, max(q.__sync_wm) AS hi, SUM(CASE WHEN q.__sync_wm IS NULL THEN 1 ELSE 0 END) AS n_null FROM (SELECT "updated_at" AS __sync_wm, * FROM "sales"."orders" WHERE (status <> N'test') AND "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE)) q;

-- source: read
SELECT id AS "id", UPPER(note) AS "note", updated_at AS "updated_at" FROM "sales"."orders" WHERE (status <> N'test') AND "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE) AND "updated_at" > CAST('2025-03-01 12:00:00' AS DATETIME2) AND "updated_at" <= CAST('2025-03-01 18:00:00' AS DATETIME2);

-- hash: source keys and hashed columns
SELECT "id", "line", "note", "amount", "paid" FROM (SELECT * FROM "sales"."orders") q;

-- hash: changed rows by key
SELECT q.* FROM (SELECT * FROM "sales"."orders") q WHERE (("id" = 7 AND "line" = 1) OR ("id" = 8 AND "line" = 2));

-- change tracking: versions
SELECT CHANGE_TRACKING_CURRENT_VERSION() AS current_version, CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'[sales].[orders]')) AS min_valid_version;

-- change tracking: changes
SELECT * FROM (SELECT ct.[id] AS [id], ct.[line] AS [line], t.[note] AS [note], t.[amount] AS [amount], t.[paid] AS [paid], t.[created_at] AS [created_at], t.[day] AS [day], t.[tags] AS [tags], CASE WHEN ct.[SYS_CHANGE_OPERATION] = N'D' THEN CAST(1 AS BIT) ELSE CAST(0 AS BIT) END AS [__sync_deleted] FROM CHANGETABLE(CHANGES [sales].[orders], 42) AS ct LEFT JOIN [sales].[orders] AS t ON t.[id] = ct.[id] AND t.[line] = ct.[line]) AS src;

-- change tracking: full load
SELECT * FROM (SELECT t.*, CAST(0 AS BIT) AS [__sync_deleted] FROM [sales].[orders] AS t) AS src;

