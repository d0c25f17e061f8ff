-- Exercise 1, sliding windows: unique entities and the p90 of value over the last 5 minutes,
-- sliding minute by minute, from per-minute sketch states. The merge runs in a moving window
-- frame, and costs the same per step whatever the frame length (two-stack sliding aggregation).
-- Run: hazy sql -f sql/sliding_windows.sql
-- On a live stream: hazy stream --panes 5 --sql "SELECT date_bin(INTERVAL '1 minute', ts) ..."
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

WITH per_minute AS (
    SELECT date_bin(INTERVAL '1 minute', ts) AS minute, count(*) AS events,
           hll_sketch(entity) AS users, kll_sketch(value) AS values_state
    FROM events GROUP BY 1
)
SELECT minute,
       sum(events) OVER w AS events_5m,
       CAST(round(hll_estimate(hll_merge(users) OVER w)) AS BIGINT) AS users_5m,
       round(kll_quantile(kll_merge(values_state) OVER w, 0.9), 3) AS p90_5m
FROM per_minute
WINDOW w AS (ORDER BY minute ROWS BETWEEN 4 PRECEDING AND CURRENT ROW)
ORDER BY minute;
