-- First-time detection (tutorial: "have I seen this entity before?").
-- For each minute, a Bloom filter of every entity seen in the earlier minutes (bloom_merge over
-- a growing window frame) decides which of this minute's entities are new. A Bloom filter has
-- no false negatives, so an entity seen before is never reported as new; a false positive
-- (about 1% here) can hide a new one.
-- Run: hazy sql -f sql/first_time_entities.sql
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

WITH per_minute AS (
    SELECT date_bin(INTERVAL '1 minute', ts) AS minute,
           count(*) AS events,
           bloom_sketch(entity, 20000, 0.01) AS seen
    FROM events
    GROUP BY 1
),
history AS (
    SELECT minute, events,
           bloom_merge(seen) OVER (ORDER BY minute ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seen_before
    FROM per_minute
),
active AS (
    SELECT DISTINCT date_bin(INTERVAL '1 minute', ts) AS minute, entity FROM events
)
SELECT h.minute,
       h.events,
       count(*) AS active_entities,
       sum(CASE WHEN h.seen_before IS NULL OR NOT bloom_contains(h.seen_before, a.entity) THEN 1 ELSE 0 END) AS first_time_entities
FROM active a JOIN history h ON a.minute = h.minute
GROUP BY h.minute, h.events
ORDER BY h.minute;
