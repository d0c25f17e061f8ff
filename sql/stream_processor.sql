-- The tutorial's StreamProcessor (steps 1-3) as SQL over the shipped events: every statistic
-- of its report comes from one sketch state per question, kept in one row, so the same states
-- could be stored and merged with later ones.
-- Run: hazy sql -f sql/stream_processor.sql
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

CREATE OR REPLACE TABLE processor AS
SELECT count(*)                      AS total_events,
       hll_sketch(entity)            AS unique_entities,   -- HyperLogLog, p = 14
       cms_sketch(event_type)        AS event_frequencies, -- Count-Min
       topk_sketch(entity, 50)       AS top_entities,      -- Top-K (Misra-Gries)
       topk_sketch(event_type, 50)   AS top_event_types,
       bloom_sketch(entity, 10000, 0.01) AS seen_entities  -- Bloom filter
FROM events;

-- STREAM STATISTICS
SELECT total_events,
       CAST(round(hll_estimate(unique_entities)) AS BIGINT) AS unique_entities,
       cms_estimate(event_frequencies, 'purchase') AS purchase_events,
       bloom_contains(seen_entities, 'entity_42') AS entity_42_seen
FROM processor;

-- TOP EVENT TYPES (count, and bounds on the true count)
SELECT t.item AS event_type, t.count AS count, round(100.0 * t.count / total_events, 1) AS pct, t.lower AS lower, t.upper AS upper
FROM (SELECT unnest(topk_items(top_event_types, 10)) AS t, total_events FROM processor)
ORDER BY t.count DESC;

-- MOST ACTIVE ENTITIES
SELECT t.item AS entity, t.count AS count, t.lower AS lower, t.upper AS upper
FROM (SELECT unnest(topk_items(top_entities, 10)) AS t FROM processor)
ORDER BY t.count DESC;

-- MEMORY USAGE (serialized states, bytes)
SELECT sketch_info(unique_entities)['bytes'] AS hyperloglog,
       sketch_info(event_frequencies)['bytes'] AS count_min,
       sketch_info(top_entities)['bytes'] AS topk_entities,
       sketch_info(top_event_types)['bytes'] AS topk_event_types,
       sketch_info(seen_entities)['bytes'] AS bloom,
       sketch_info(unique_entities)['bytes'] + sketch_info(event_frequencies)['bytes']
         + sketch_info(top_entities)['bytes'] + sketch_info(top_event_types)['bytes']
         + sketch_info(seen_entities)['bytes'] AS total
FROM processor;
