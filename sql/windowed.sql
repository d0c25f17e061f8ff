-- The tutorial's WindowedStreamProcessor (step 4): tumbling 2-minute windows, each with its
-- event count, unique entities (an HLL state) and top entities; then the uniques of the whole
-- hour by merging the windows' HLL states, with no second pass over the events.
-- Run: hazy sql -f sql/windowed.sql
-- The same per-window query runs on a live stream:
--   hazy gen --format ndjson | hazy stream --sql "SELECT date_bin(INTERVAL '2 minutes', ts) AS w, ..."
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

CREATE OR REPLACE TABLE windows AS
SELECT date_bin(INTERVAL '2 minutes', ts) AS window_start,
       count(*)                            AS events,
       hll_sketch(entity)                  AS uniques,
       approx_topk(entity, 3)              AS top_items
FROM events
GROUP BY 1;

SELECT window_start, events, CAST(round(hll_estimate(uniques)) AS BIGINT) AS uniques, top_items,
       -- "hourly uniques": the union of every window so far, merged from the stored states
       CAST(round(hll_estimate(hll_merge(uniques) OVER (ORDER BY window_start
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))) AS BIGINT) AS uniques_so_far
FROM windows
ORDER BY window_start;
