-- state table
CREATE SCHEMA IF NOT EXISTS "_sync_assets";

-- state table
CREATE TABLE IF NOT EXISTS "_sync_assets"."sync_state" (object_id VARCHAR PRIMARY KEY, target_table VARCHAR NOT NULL, state VARCHAR NOT NULL, updated_at timestamptz NOT NULL);

-- target schema
CREATE SCHEMA IF NOT EXISTS "sales";

-- create target
CREATE TABLE "sales"."orders" ("id" bigint, "line" smallint, "note" text, "amount" numeric(12,2), "paid" boolean, "created_at" timestamptz, "day" date, "tags" text);

-- add column
ALTER TABLE "sales"."orders" ADD COLUMN "channel" text;

-- drop stale staging
DROP TABLE IF EXISTS "_sync_assets"."stage_orders";

-- create staging
CREATE TABLE "_sync_assets"."stage_orders" ("id" bigint, "line" smallint, "note" text, "amount" numeric(12,2), "paid" boolean, "created_at" timestamptz, "day" date, "tags" text, "__sync_deleted" boolean);

-- bulk insert (fast_executemany)
INSERT INTO "_sync_assets"."stage_orders" ("id", "line", "note", "amount", "paid", "created_at", "day", "tags", "__sync_deleted") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- replace: delete window
DELETE FROM "sales"."orders" WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE);

-- replace/append: insert
INSERT INTO "sales"."orders" ("id", "line", "note", "amount", "paid", "created_at", "day", "tags") SELECT s."id", s."line", s."note", s."amount", s."paid", s."created_at", s."day", s."tags" FROM "_sync_assets"."stage_orders" AS s;

-- merge: duplicate keys
SELECT "id", "line", count(*) AS n FROM "_sync_assets"."stage_orders" GROUP BY "id", "line" HAVING count(*) > 1 LIMIT 3;

-- changes: hard deletes
DELETE FROM "sales"."orders" WHERE EXISTS (SELECT 1 FROM "_sync_assets"."stage_orders" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line" AND s."__sync_deleted");

-- changes: soft deletes
UPDATE "sales"."orders" SET "_is_deleted" = TRUE, "_deleted_at" = CURRENT_TIMESTAMP WHERE ("_is_deleted" = FALSE OR "_is_deleted" IS NULL) AND EXISTS (SELECT 1 FROM "_sync_assets"."stage_orders" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line" AND s."__sync_deleted");

-- merge: counts
SELECT COALESCE(SUM(CASE WHEN t."id" IS NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN NOT (t."id" IS NULL) AND ((t."note" IS DISTINCT FROM s."note") OR (t."amount" IS DISTINCT FROM s."amount") OR (t."paid" IS DISTINCT FROM s."paid") OR (t."created_at" IS DISTINCT FROM s."created_at") OR (t."day" IS DISTINCT FROM s."day") OR (t."tags" IS DISTINCT FROM s."tags")) THEN 1 ELSE 0 END), 0) FROM (SELECT * FROM "_sync_assets"."stage_orders" WHERE NOT "__sync_deleted") AS s LEFT JOIN "sales"."orders" AS t ON t."id" = s."id" AND t."line" = s."line";

-- merge
MERGE INTO "sales"."orders" AS t USING (SELECT * FROM "_sync_assets"."stage_orders" WHERE NOT "__sync_deleted") AS s ON t."id" = s."id" AND t."line" = s."line" WHEN MATCHED AND ((t."note" IS DISTINCT FROM s."note") OR (t."amount" IS DISTINCT FROM s."amount") OR (t."paid" IS DISTINCT FROM s."paid") OR (t."created_at" IS DISTINCT FROM s."created_at") OR (t."day" IS DISTINCT FROM s."day") OR (t."tags" IS DISTINCT FROM s."tags")) THEN UPDATE SET "note" = s."note", "amount" = s."amount", "paid" = s."paid", "created_at" = s."created_at", "day" = s."day", "tags" = s."tags" WHEN NOT MATCHED THEN INSERT ("id", "line", "note", "amount", "paid", "created_at", "day", "tags") VALUES (s."id", s."line", s."note", s."amount", s."paid", s."created_at", s."day", s."tags");

-- merge, insert-only keys
MERGE INTO "sales"."orders" AS t USING "_sync_assets"."stage_orders" AS s ON t."id" = s."id" AND t."line" = s."line" WHEN NOT MATCHED THEN INSERT ("id", "line", "note", "amount", "paid", "created_at", "day", "tags") VALUES (s."id", s."line", s."note", s."amount", s."paid", s."created_at", s."day", s."tags");

-- merge: soft delete missing in window
UPDATE "sales"."orders" SET "_is_deleted" = TRUE, "_deleted_at" = CURRENT_TIMESTAMP WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE) AND ("_is_deleted" = FALSE OR "_is_deleted" IS NULL) AND NOT EXISTS (SELECT 1 FROM "_sync_assets"."stage_orders" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line");

-- row count
SELECT count(*) FROM "sales"."orders" WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE);

-- state upsert
DELETE FROM "_sync_assets"."sync_state" WHERE "object_id" = ?;

-- state upsert
INSERT INTO "_sync_assets"."sync_state" ("object_id", "target_table", "state", "updated_at") VALUES (?, ?, ?, CURRENT_TIMESTAMP);

-- state read
SELECT "state" FROM "_sync_assets"."sync_state" WHERE "object_id" = ? AND "target_table" = ?;

-- stage load
COPY INTO "_sync_assets"."stage_orders" FROM @"_sync_assets"."sync_stage"/orders/run/ FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_SENSITIVE PURGE = TRUE;

-- catalog
SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION;

-- source: probe
SELECT count(*) AS n_rows, TO_VARCHAR(HASH_AGG(*)) AS fingerprint, max(q.__sync_wm) AS hi, SUM(CASE WHEN q.__sync_wm IS NULL THEN 1 ELSE 0 END) AS n_null FROM (SELECT "updated_at" AS __sync_wm, * FROM "sales"."orders" WHERE (status <> 'test')) q;

-- hash: source keys and hashed columns
SELECT "id", "line", "note", "amount", "paid" FROM (SELECT * FROM "sales"."orders") q;

-- hash: changed rows by key
SELECT q.* FROM (SELECT * FROM "sales"."orders") q WHERE (("id" = 7 AND "line" = 1) OR ("id" = 8 AND "line" = 2));

