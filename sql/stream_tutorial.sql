-- The tutorial's metrics per 1-minute window, for `hazy stream` (a live stream, not a table):
--   hazy gen --events 1000000 --format ndjson | hazy stream --first-seen entity --lateness 2s --sql-file sql/stream_tutorial.sql
-- first_seen is the column --first-seen adds: true on each entity's first event.
SELECT date_bin(INTERVAL '1 minute', ts) AS w,
       count(*) AS events,
       approx_count_distinct(entity) AS uniques,
       approx_topk(entity, 5) AS top_entities,
       approx_topk(event_type, 5) AS top_event_types,
       count(*) FILTER (WHERE first_seen) AS first_time_entities,
       approx_quantile(value, 0.99) AS p99_value
FROM events
GROUP BY date_bin(INTERVAL '1 minute', ts)
