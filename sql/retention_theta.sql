-- Retention with theta sketches: how many entities were active on day 1 and on day 7, but not
-- on day 30 (retained for a week, then gone)? One theta sketch per day is what a daily job
-- keeps (theta_sketch, Apache DataSketches bytes that Spark, Druid and Hive read too); the
-- answer is set operations over three stored sketches, without reading the events again.
-- The shipped sample spans 17 minutes, so a minute stands in for a day: periods 1, 7 and 17
-- (the last). Over a real table, bin by INTERVAL '1 day' and pick periods 1, 7 and 30.
-- Run: hazy sql -f sql/retention_theta.sql
CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet';

WITH daily AS (
    SELECT row_number() OVER (ORDER BY period) AS day, users
    FROM (
        SELECT date_bin(INTERVAL '1 minute', ts) AS period, theta_sketch(entity) AS users
        FROM events
        GROUP BY 1
    )
),
retained AS (
    SELECT theta_intersect(d1.users, d7.users) AS day_1_and_7, d30.users AS day_30
    FROM daily d1
    JOIN daily d7 ON d7.day = 7
    JOIN daily d30 ON d30.day = 17
    WHERE d1.day = 1
)
SELECT round(theta_estimate(day_1_and_7)) AS active_day_1_and_7,
       round(theta_estimate(theta_a_not_b(day_1_and_7, day_30))) AS active_day_1_and_7_not_30,
       theta_bounds(theta_a_not_b(day_1_and_7, day_30), 2) AS bounds_95
FROM retained;
