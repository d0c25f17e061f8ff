-- Exercise 4, distributed processing: four "processors" each sketch their own partition of the
-- events (here: by the entity's number modulo 4), the states are stored as Parquet, and a later query
-- merges the stored states into one answer, equal to the single pass over all events.
-- Run: hazy sql -f sql/distributed_merge.sql
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

-- Each processor's states: one row per processor (written to target/tutorial/processor_states.parquet).
COPY (
    SELECT CAST(substr(entity, 8) AS BIGINT) % 4 AS processor,   -- entity_123 -> 3
           count(*) AS events,
           hll_sketch(entity) AS users,
           topk_sketch(event_type, 20) AS types,
           kll_sketch(value) AS values_state,
           cms_sketch(entity) AS entity_counts
    FROM events
    GROUP BY 1
) TO 'target/tutorial/processor_states.parquet' STORED AS PARQUET;

CREATE EXTERNAL TABLE IF NOT EXISTS stored_states STORED AS PARQUET LOCATION 'target/tutorial/processor_states.parquet';

SELECT 'merged' AS answer, sum(events) AS events,
       CAST(round(hll_estimate(hll_merge(users))) AS BIGINT) AS users,
       topk_items(topk_merge(types), 3) AS top_types,
       round(kll_quantile(kll_merge(values_state), 0.5), 3) AS median,
       cms_estimate(cms_merge(entity_counts), 'entity_0') AS entity_0
FROM stored_states
UNION ALL
SELECT 'single pass', count(*), CAST(round(approx_count_distinct(entity)) AS BIGINT),
       topk_items(topk_sketch(event_type, 20), 3), round(approx_quantile(value, 0.5), 3),
       cms_estimate(cms_sketch(entity), 'entity_0')
FROM events
ORDER BY answer;
