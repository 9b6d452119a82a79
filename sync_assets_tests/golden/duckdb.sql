-- state table
CREATE SCHEMA IF NOT EXISTS "_sync_assets";

-- state table
CREATE TABLE IF NOT EXISTS "_sync_assets"."sync_state" (object_id VARCHAR PRIMARY KEY, target_table VARCHAR NOT NULL, state VARCHAR NOT NULL, updated_at timestamptz NOT NULL);

-- target schema
CREATE SCHEMA IF NOT EXISTS "sales";

-- create target
CREATE TABLE "sales"."orders" ("id" BIGINT, "line" SMALLINT, "note" VARCHAR, "amount" DECIMAL(12,2), "paid" BOOLEAN, "created_at" TIMESTAMPTZ, "day" DATE, "tags" VARCHAR[]);

-- add column
ALTER TABLE "sales"."orders" ADD COLUMN "channel" VARCHAR;

-- drop stale staging
DROP TABLE IF EXISTS "__sync_stage";

-- create staging
CREATE TABLE "__sync_stage" ("id" BIGINT, "line" SMALLINT, "note" VARCHAR, "amount" DECIMAL(12,2), "paid" BOOLEAN, "created_at" TIMESTAMPTZ, "day" DATE, "tags" VARCHAR[], "__sync_deleted" BOOLEAN);

-- bulk insert (fast_executemany)
INSERT INTO "__sync_stage" ("id", "line", "note", "amount", "paid", "created_at", "day", "tags", "__sync_deleted") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- replace: delete window
DELETE FROM "sales"."orders" WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE);

-- replace/append: insert
INSERT INTO "sales"."orders" ("id", "line", "note", "amount", "paid", "created_at", "day", "tags") SELECT CAST(s."id" AS BIGINT), CAST(s."line" AS SMALLINT), CAST(s."note" AS VARCHAR), CAST(s."amount" AS DECIMAL(12,2)), CAST(s."paid" AS BOOLEAN), CAST(s."created_at" AS TIMESTAMPTZ), CAST(s."day" AS DATE), CAST(s."tags" AS VARCHAR[]) FROM "__sync_stage" AS s;

-- merge: duplicate keys
SELECT "id", "line", count(*) AS n FROM "__sync_stage" GROUP BY "id", "line" HAVING count(*) > 1 LIMIT 3;

-- changes: hard deletes
DELETE FROM "sales"."orders" WHERE EXISTS (SELECT 1 FROM "__sync_stage" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line" AND s."__sync_deleted");

-- changes: soft deletes
UPDATE "sales"."orders" SET "_is_deleted" = TRUE, "_deleted_at" = CURRENT_TIMESTAMP WHERE ("_is_deleted" = FALSE OR "_is_deleted" IS NULL) AND EXISTS (SELECT 1 FROM "__sync_stage" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line" AND s."__sync_deleted");

-- merge: counts
SELECT COALESCE(SUM(CASE WHEN t."id" IS NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN NOT (t."id" IS NULL) AND ((t."note" IS DISTINCT FROM CAST(s."note" AS VARCHAR)) OR (t."amount" IS DISTINCT FROM CAST(s."amount" AS DECIMAL(12,2))) OR (t."paid" IS DISTINCT FROM CAST(s."paid" AS BOOLEAN)) OR (t."created_at" IS DISTINCT FROM CAST(s."created_at" AS TIMESTAMPTZ)) OR (t."day" IS DISTINCT FROM CAST(s."day" AS DATE)) OR (t."tags" IS DISTINCT FROM CAST(s."tags" AS VARCHAR[]))) THEN 1 ELSE 0 END), 0) FROM (SELECT * FROM "__sync_stage" WHERE NOT "__sync_deleted") AS s LEFT JOIN "sales"."orders" AS t ON t."id" = s."id" AND t."line" = s."line";

-- merge: capture changes
CREATE TEMP TABLE __sync_changed AS SELECT CAST(s."id" AS BIGINT) AS "id", CAST(s."line" AS SMALLINT) AS "line", CAST(s."note" AS VARCHAR) AS "note", CAST(s."amount" AS DECIMAL(12,2)) AS "amount", CAST(s."paid" AS BOOLEAN) AS "paid", CAST(s."created_at" AS TIMESTAMPTZ) AS "created_at", CAST(s."day" AS DATE) AS "day", CAST(s."tags" AS VARCHAR[]) AS "tags", CASE WHEN t."id" IS NULL THEN 1 ELSE 0 END AS __sync_new FROM (SELECT * FROM "__sync_stage" WHERE NOT "__sync_deleted") AS s LEFT JOIN "sales"."orders" AS t ON t."id" = s."id" AND t."line" = s."line" WHERE t."id" IS NULL OR ((t."note" IS DISTINCT FROM CAST(s."note" AS VARCHAR)) OR (t."amount" IS DISTINCT FROM CAST(s."amount" AS DECIMAL(12,2))) OR (t."paid" IS DISTINCT FROM CAST(s."paid" AS BOOLEAN)) OR (t."created_at" IS DISTINCT FROM CAST(s."created_at" AS TIMESTAMPTZ)) OR (t."day" IS DISTINCT FROM CAST(s."day" AS DATE)) OR (t."tags" IS DISTINCT FROM CAST(s."tags" AS VARCHAR[])));

-- merge: captured counts
SELECT COALESCE(SUM(__sync_new), 0), COALESCE(SUM(1 - __sync_new), 0) FROM __sync_changed;

-- merge
MERGE INTO "sales"."orders" AS t USING (SELECT * FROM "__sync_stage" WHERE NOT "__sync_deleted") AS s ON t."id" = s."id" AND t."line" = s."line" WHEN MATCHED AND ((t."note" IS DISTINCT FROM CAST(s."note" AS VARCHAR)) OR (t."amount" IS DISTINCT FROM CAST(s."amount" AS DECIMAL(12,2))) OR (t."paid" IS DISTINCT FROM CAST(s."paid" AS BOOLEAN)) OR (t."created_at" IS DISTINCT FROM CAST(s."created_at" AS TIMESTAMPTZ)) OR (t."day" IS DISTINCT FROM CAST(s."day" AS DATE)) OR (t."tags" IS DISTINCT FROM CAST(s."tags" AS VARCHAR[]))) THEN UPDATE SET "note" = CAST(s."note" AS VARCHAR), "amount" = CAST(s."amount" AS DECIMAL(12,2)), "paid" = CAST(s."paid" AS BOOLEAN), "created_at" = CAST(s."created_at" AS TIMESTAMPTZ), "day" = CAST(s."day" AS DATE), "tags" = CAST(s."tags" AS VARCHAR[]) WHEN NOT MATCHED THEN INSERT ("id", "line", "note", "amount", "paid", "created_at", "day", "tags") VALUES (CAST(s."id" AS BIGINT), CAST(s."line" AS SMALLINT), CAST(s."note" AS VARCHAR), CAST(s."amount" AS DECIMAL(12,2)), CAST(s."paid" AS BOOLEAN), CAST(s."created_at" AS TIMESTAMPTZ), CAST(s."day" AS DATE), CAST(s."tags" AS VARCHAR[]));

-- merge, insert-only keys
MERGE INTO "sales"."orders" AS t USING "__sync_stage" AS s ON t."id" = s."id" AND t."line" = s."line" WHEN NOT MATCHED THEN INSERT ("id", "line", "note", "amount", "paid", "created_at", "day", "tags") VALUES (CAST(s."id" AS BIGINT), CAST(s."line" AS SMALLINT), CAST(s."note" AS VARCHAR), CAST(s."amount" AS DECIMAL(12,2)), CAST(s."paid" AS BOOLEAN), CAST(s."created_at" AS TIMESTAMPTZ), CAST(s."day" AS DATE), CAST(s."tags" AS VARCHAR[]));

-- merge: soft delete missing in window
UPDATE "sales"."orders" SET "_is_deleted" = TRUE, "_deleted_at" = CURRENT_TIMESTAMP WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE) AND ("_is_deleted" = FALSE OR "_is_deleted" IS NULL) AND NOT EXISTS (SELECT 1 FROM "__sync_stage" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line");

-- row count
SELECT count(*) FROM "sales"."orders" WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE);

-- catalog
SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION;

-- state upsert
DELETE FROM "_sync_assets"."sync_state" WHERE "object_id" = ?;

-- state upsert
INSERT INTO "_sync_assets"."sync_state" ("object_id", "target_table", "state", "updated_at") VALUES (?, ?, ?, CURRENT_TIMESTAMP);

-- state read
SELECT "state" FROM "_sync_assets"."sync_state" WHERE "object_id" = ? AND "target_table" = ?;

