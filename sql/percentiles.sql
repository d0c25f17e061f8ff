-- Exercise 2, percentile tracking: p50, p90 and p99 of value per minute from KLL states, and
-- for the whole stream by merging the minutes' states (no second pass), beside DDSketch.
-- Run: hazy sql -f sql/percentiles.sql
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

CREATE OR REPLACE TABLE minute_values AS
SELECT date_bin(INTERVAL '1 minute', ts) AS minute, kll_sketch(value) AS kll, dd_sketch(value) AS dd
FROM events GROUP BY 1;

SELECT CAST(minute AS VARCHAR) AS period,
       round(kll_quantile(kll, 0.5), 4) AS p50, round(kll_quantile(kll, 0.9), 4) AS p90,
       round(kll_quantile(kll, 0.99), 4) AS p99, round(dd_quantile(dd, 0.99), 4) AS dd_p99
FROM minute_values
UNION ALL
SELECT 'all', round(kll_quantile(kll_merge(kll), 0.5), 4), round(kll_quantile(kll_merge(kll), 0.9), 4),
       round(kll_quantile(kll_merge(kll), 0.99), 4), round(dd_quantile(dd_merge(dd), 0.99), 4)
FROM minute_values
ORDER BY period;
