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
DROP TABLE IF EXISTS "__sync_stage";

-- create staging
CREATE TEMP TABLE "__sync_stage" ("id" bigint, "line" smallint, "note" text, "amount" numeric(12,2), "paid" boolean, "created_at" timestamptz, "day" date, "tags" text, "__sync_deleted" boolean);

-- bulk insert (fast_executemany)
INSERT INTO "__sync_stage" ("id", "line", "note", "amount", "paid", "created_at", "day", "tags", "__sync_deleted") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- replace: delete window
DELETE FROM "sales"."orders" WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE);

-- replace/append: insert
INSERT INTO "sales"."orders" ("id", "line", "note", "amount", "paid", "created_at", "day", "tags") SELECT s."id", s."line", s."note", s."amount", s."paid", s."created_at", s."day", s."tags" FROM "__sync_stage" AS s;

-- merge: duplicate keys
SELECT "id", "line", count(*) AS n FROM "__sync_stage" GROUP BY "id", "line" HAVING count(*) > 1 LIMIT 3;

-- changes: hard deletes
DELETE FROM "sales"."orders" WHERE EXISTS (SELECT 1 FROM "__sync_stage" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line" AND s."__sync_deleted");

-- changes: soft deletes
UPDATE "sales"."orders" SET "_is_deleted" = TRUE, "_deleted_at" = CURRENT_TIMESTAMP WHERE ("_is_deleted" = FALSE OR "_is_deleted" IS NULL) AND EXISTS (SELECT 1 FROM "__sync_stage" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line" AND s."__sync_deleted");

-- merge: counts
SELECT COALESCE(SUM(CASE WHEN t."id" IS NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN NOT (t."id" IS NULL) AND (t."note", t."amount", t."paid", t."created_at", t."day", t."tags") IS DISTINCT FROM (s."note", s."amount", s."paid", s."created_at", s."day", s."tags") THEN 1 ELSE 0 END), 0) FROM (SELECT * FROM "__sync_stage" WHERE NOT "__sync_deleted") AS s LEFT JOIN "sales"."orders" AS t ON t."id" = s."id" AND t."line" = s."line";

-- merge: capture changes
CREATE TEMP TABLE __sync_changed AS SELECT s."id" AS "id", s."line" AS "line", s."note" AS "note", s."amount" AS "amount", s."paid" AS "paid", s."created_at" AS "created_at", s."day" AS "day", s."tags" AS "tags", CASE WHEN t."id" IS NULL THEN 1 ELSE 0 END AS __sync_new FROM (SELECT * FROM "__sync_stage" WHERE NOT "__sync_deleted") AS s LEFT JOIN "sales"."orders" AS t ON t."id" = s."id" AND t."line" = s."line" WHERE t."id" IS NULL OR (t."note", t."amount", t."paid", t."created_at", t."day", t."tags") IS DISTINCT FROM (s."note", s."amount", s."paid", s."created_at", s."day", s."tags");

-- merge: captured counts
SELECT COALESCE(SUM(__sync_new), 0), COALESCE(SUM(1 - __sync_new), 0) FROM __sync_changed;

-- merge
MERGE INTO "sales"."orders" AS t USING (SELECT * FROM "__sync_stage" WHERE NOT "__sync_deleted") AS s ON t."id" = s."id" AND t."line" = s."line" WHEN MATCHED AND (t."note", t."amount", t."paid", t."created_at", t."day", t."tags") IS DISTINCT FROM (s."note", s."amount", s."paid", s."created_at", s."day", s."tags") THEN UPDATE SET "note" = s."note", "amount" = s."amount", "paid" = s."paid", "created_at" = s."created_at", "day" = s."day", "tags" = s."tags" WHEN NOT MATCHED THEN INSERT ("id", "line", "note", "amount", "paid", "created_at", "day", "tags") VALUES (s."id", s."line", s."note", s."amount", s."paid", s."created_at", s."day", s."tags");

-- merge, insert-only keys
MERGE INTO "sales"."orders" AS t USING "__sync_stage" AS s ON t."id" = s."id" AND t."line" = s."line" WHEN NOT MATCHED THEN INSERT ("id", "line", "note", "amount", "paid", "created_at", "day", "tags") VALUES (s."id", s."line", s."note", s."amount", s."paid", s."created_at", s."day", s."tags");

-- merge: soft delete missing in window
UPDATE "sales"."orders" SET "_is_deleted" = TRUE, "_deleted_at" = CURRENT_TIMESTAMP WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE) AND ("_is_deleted" = FALSE OR "_is_deleted" IS NULL) AND NOT EXISTS (SELECT 1 FROM "__sync_stage" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line");

-- merge: delete missing in window
DELETE FROM "sales"."orders" WHERE "day" >= CAST('2025-03-01' AS DATE) AND "day" < CAST('2025-03-02' AS DATE) AND NOT EXISTS (SELECT 1 FROM "__sync_stage" AS s WHERE s."id" = "sales"."orders"."id" AND s."line" = "sales"."orders"."line");

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

-- writer lock: take
SELECT pg_try_advisory_lock(hashtextextended(?, 0));

-- writer lock: release
SELECT pg_advisory_unlock(hashtextextended(?, 0));

