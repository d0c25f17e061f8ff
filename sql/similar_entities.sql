-- Entities with similar behaviour to entity_1234 (tutorial: get_similar_entities).
-- A MinHash signature of each entity's set of event types; LSH band keys find candidate pairs
-- without comparing every pair (32 bands of 4 rows: pairs with Jaccard above about 0.42 are
-- very likely to share a key); minhash_jaccard then scores the candidates.
-- Run: hazy sql -f sql/similar_entities.sql
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

WITH signatures AS (
    SELECT entity, count(*) AS events, minhash_sketch(event_type) AS sig
    FROM events
    GROUP BY entity
),
target AS (
    SELECT sig, unnest(minhash_lsh_bands(sig, 32)) AS band_key
    FROM signatures WHERE entity = 'entity_1234'
),
band_keys AS (
    SELECT entity, events, sig, unnest(minhash_lsh_bands(sig, 32)) AS band_key
    FROM signatures WHERE entity <> 'entity_1234'
),
candidates AS (
    SELECT DISTINCT b.entity, b.events, minhash_jaccard(t.sig, b.sig) AS jaccard
    FROM band_keys b JOIN target t ON b.band_key = t.band_key
)
SELECT entity, events, round(jaccard, 3) AS jaccard
FROM candidates
WHERE jaccard >= 0.5
ORDER BY jaccard DESC, events DESC, entity
LIMIT 10;
