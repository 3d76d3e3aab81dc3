-- Partition the LLM calls table (jobs_llmcall) by month of created_at.
--
-- For operators past ~100 million calls; README "Partitioning the calls table" says
-- when and why. Run it with the web and worker processes stopped (it takes the table
-- exclusively while it copies the rows), as the database owner:
--
--     psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f deploy/postgres/partition_llm_calls.sql
--
-- What it does, in one transaction (nothing changes if any step fails):
-- 1. renames the table to jobs_llmcall_unpartitioned (its indexes and constraints
--    get the same suffix);
-- 2. creates jobs_llmcall partitioned by RANGE (created_at): the same columns,
--    defaults and CHECK constraints; the primary key becomes (id, created_at) and
--    call_id's unique constraint (call_id, created_at), since PostgreSQL requires
--    the partition key in every unique index (ids come from one sequence and
--    call ids are random UUIDs, so neither repeats in practice); the other
--    indexes and the foreign keys to jobs and teams are recreated as they were;
-- 3. drops the two foreign keys that point at a call (jobs_callpayload.call_id,
--    jobs_storedresponse.call_id): a key into a partitioned table must name the
--    partition key too. The application keeps both links itself (a payload is
--    deleted with its call, a stored response is unlinked from it);
-- 4. creates one partition per month from the oldest call's month to two months
--    ahead, and a DEFAULT partition for anything outside them;
-- 5. copies every row, sets the new table's id sequence past the old one's, and
--    checks the counts match.
-- The old table stays, as it was, until you drop it:
--     DROP TABLE jobs_llmcall_unpartitioned;
--
-- Afterwards, create each month's partition before the month begins (a row of a
-- month without one lands in the DEFAULT partition, and a partition cannot be
-- created for a range the DEFAULT partition holds rows of), e.g. on the 1st:
--     CREATE TABLE jobs_llmcall_y2027m03 PARTITION OF jobs_llmcall
--         FOR VALUES FROM ('2027-03-01 00:00+00') TO ('2027-04-01 00:00+00');

BEGIN;

LOCK TABLE jobs_llmcall IN ACCESS EXCLUSIVE MODE;

DO $$
DECLARE
    item record;
    first_month timestamptz;
    month timestamptz;
    last_month timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC')
        AT TIME ZONE 'UTC' + interval '2 months';
    copied bigint;
    kept bigint;
BEGIN
    IF EXISTS (SELECT FROM pg_partitioned_table
               WHERE partrelid = 'jobs_llmcall'::regclass) THEN
        RAISE EXCEPTION 'jobs_llmcall is partitioned already';
    END IF;

    -- 1. The table and everything named after it move aside.
    ALTER TABLE jobs_llmcall RENAME TO jobs_llmcall_unpartitioned;
    FOR item IN  -- their indexes' names are the schema's, not the table's
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'jobs_llmcall_unpartitioned'::regclass AND contype IN ('p', 'u')
    LOOP
        EXECUTE format('ALTER TABLE jobs_llmcall_unpartitioned RENAME CONSTRAINT %I TO %I',
                       item.conname, item.conname || '_unpartitioned');
    END LOOP;
    FOR item IN
        SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'jobs_llmcall_unpartitioned'::regclass
          AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = i.indexrelid)
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I',
                       item.relname, item.relname || '_unpartitioned');
    END LOOP;

    -- 2. The partitioned table: columns, defaults, NOT NULL and CHECKs as before,
    -- and an id of its own (its sequence continues the old one's below).
    CREATE TABLE jobs_llmcall (
        LIKE jobs_llmcall_unpartitioned
        INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY
    ) PARTITION BY RANGE (created_at);
    FOR item IN
        SELECT conname, contype, pg_get_constraintdef(oid) AS definition
        FROM pg_constraint
        WHERE conrelid = 'jobs_llmcall_unpartitioned'::regclass
          AND contype IN ('p', 'u', 'f')
    LOOP
        IF item.contype = 'f' THEN
            EXECUTE format('ALTER TABLE jobs_llmcall ADD CONSTRAINT %I %s',
                           item.conname, item.definition);
        ELSE
            -- PRIMARY KEY (id) → (id, created_at); UNIQUE (call_id) → (call_id, created_at)
            EXECUTE format('ALTER TABLE jobs_llmcall ADD CONSTRAINT %I %s',
                           replace(item.conname, '_unpartitioned', ''),
                           regexp_replace(item.definition, '\)$', ', created_at)'));
        END IF;
    END LOOP;
    FOR item IN
        SELECT c.relname, pg_get_indexdef(i.indexrelid) AS definition
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'jobs_llmcall_unpartitioned'::regclass
          AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = i.indexrelid)
    LOOP
        IF item.definition LIKE 'CREATE UNIQUE%' THEN
            RAISE EXCEPTION 'unique index % needs the partition key', item.relname;
        END IF;
        EXECUTE replace(
            replace(item.definition, item.relname, replace(item.relname, '_unpartitioned', '')),
            'ON public.jobs_llmcall_unpartitioned ', 'ON public.jobs_llmcall '
        );
    END LOOP;

    -- 3. Keys into a call: kept by the application.
    FOR item IN
        SELECT conrelid::regclass AS owner, conname FROM pg_constraint
        WHERE confrelid = 'jobs_llmcall_unpartitioned'::regclass AND contype = 'f'
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', item.owner, item.conname);
    END LOOP;

    -- 4. A partition per month, and a DEFAULT one.
    SELECT date_trunc('month', min(created_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        INTO first_month FROM jobs_llmcall_unpartitioned;
    month := least(coalesce(first_month, last_month), last_month);
    WHILE month <= last_month LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF jobs_llmcall FOR VALUES FROM (%L) TO (%L)',
            'jobs_llmcall_' || to_char(month AT TIME ZONE 'UTC', '"y"YYYY"m"MM'),
            month, month + interval '1 month');
        month := month + interval '1 month';
    END LOOP;
    CREATE TABLE jobs_llmcall_default PARTITION OF jobs_llmcall DEFAULT;

    -- 5. The rows, the sequence, and a count.
    INSERT INTO jobs_llmcall SELECT * FROM jobs_llmcall_unpartitioned;
    GET DIAGNOSTICS copied = ROW_COUNT;
    SELECT count(*) INTO kept FROM jobs_llmcall_unpartitioned;
    IF copied <> kept THEN
        RAISE EXCEPTION 'copied % of % calls', copied, kept;
    END IF;
    PERFORM setval(
        pg_get_serial_sequence('jobs_llmcall', 'id'),
        greatest(
            (SELECT max(id) FROM jobs_llmcall_unpartitioned),
            pg_sequence_last_value(
                pg_get_serial_sequence('jobs_llmcall_unpartitioned', 'id')::regclass
            ),
            1
        )
    );
    RAISE NOTICE 'jobs_llmcall: % calls in % partitions',
        copied, (SELECT count(*) FROM pg_inherits
                 WHERE inhparent = 'jobs_llmcall'::regclass);
END
$$;

COMMIT;

ANALYZE jobs_llmcall;
