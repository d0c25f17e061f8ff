-- Exercise 3, correlation detection: which event types occur together? For each event type,
-- a MinHash of the set of entities that did it; the Jaccard similarity of two types' sets is
-- the share of their entities in common. Pairs are ranked by estimated Jaccard.
-- Run: hazy sql -f sql/correlation.sql
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

WITH by_type AS (
    SELECT event_type, minhash_sketch(entity, 256) AS entities, count(DISTINCT entity) AS n
    FROM events GROUP BY event_type
)
SELECT a.event_type AS type_a, b.event_type AS type_b,
       round(minhash_jaccard(a.entities, b.entities), 3) AS jaccard
FROM by_type a JOIN by_type b ON a.event_type < b.event_type
ORDER BY jaccard DESC, type_a, type_b
LIMIT 10;
