-- The tutorial's StreamAnomalyDetector (step 5) in SQL: a Count-Min baseline of event-type
-- rates from normal traffic, each minute's rates against it, and the rate of entities never
-- seen in the baseline from a Bloom filter.
-- The traffic: the shipped events, where from 00:10 to 00:12 half of all events become
-- 'purchase' (the tutorial's injected purchase flood; purchase is normally 1.7%).
-- A minute is flagged when an event type's rate is above 3x its baseline rate.
-- Run: hazy sql -f sql/anomaly_detection.sql
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

CREATE OR REPLACE VIEW traffic AS
SELECT ts, entity,
       CASE WHEN ts >= TIMESTAMP '2026-01-01T00:10:00Z' AND ts < TIMESTAMP '2026-01-01T00:12:00Z'
                 AND value < 0.5 THEN 'purchase' ELSE event_type END AS event_type
FROM events;

WITH baseline AS (      -- trained on the first 5 minutes
    SELECT cms_sketch(event_type) AS rates, count(*) AS events, bloom_sketch(entity, 20000, 0.01) AS known
    FROM traffic WHERE ts < TIMESTAMP '2026-01-01T00:05:00Z'
),
minutes AS (
    SELECT date_bin(INTERVAL '1 minute', ts) AS minute, event_type, count(*) AS n,
           sum(count(*)) OVER (PARTITION BY date_bin(INTERVAL '1 minute', ts)) AS minute_events
    FROM traffic WHERE ts >= TIMESTAMP '2026-01-01T00:05:00Z'
    GROUP BY 1, 2
),
new_entities AS (
    SELECT m.minute, count(*) FILTER (WHERE NOT bloom_contains(b.known, m.entity)) AS new_entities,
           count(*) AS active_entities
    FROM (SELECT DISTINCT date_bin(INTERVAL '1 minute', ts) AS minute, entity FROM traffic
          WHERE ts >= TIMESTAMP '2026-01-01T00:05:00Z') m CROSS JOIN baseline b
    GROUP BY m.minute
)
SELECT m.minute,
       m.event_type,
       round(CAST(m.n AS DOUBLE) / m.minute_events, 4) AS current_rate,
       round(CAST(cms_estimate(b.rates, m.event_type) AS DOUBLE) / b.events, 4) AS baseline_rate,
       CAST(m.n AS DOUBLE) / m.minute_events > 3 * CAST(cms_estimate(b.rates, m.event_type) AS DOUBLE) / b.events AS anomaly,
       e.new_entities, e.active_entities
FROM minutes m CROSS JOIN baseline b JOIN new_entities e ON e.minute = m.minute
WHERE m.event_type = 'purchase'
ORDER BY m.minute;
