"""What DataFusion 55's FFI does not carry (apache/datafusion #22331), and what Hazy does about it.

- `simplify`: Hazy's plan-time parameter checks. They are made again when the accumulator is
  built, with the same words (test_errors.py), so a wrong parameter fails when the query runs;
  only a query that never runs (EXPLAIN, LIMIT 0) does not see it.
- `default_value`: what DataFusion fills in where an aggregate sees no rows at all, outside
  a GROUP BY's own groups. approx_count_distinct over no rows is 0 as in the CLI (the
  accumulator says so); in an empty window frame or a correlated scalar subquery without
  matches it is NULL from Python (0 in the CLI): `coalesce(approx_count_distinct(x), 0)`
  gives the CLI's answer everywhere.
- `documentation`: `hazy.functions()` carries it (test_registration.py).
"""

from __future__ import annotations

import pytest

from conftest import EVENTS_DDL


def value(ctx, sql):
    (row,) = ctx.sql(sql).to_pylist()
    (v,) = row.values()
    return v


def cli_value(cli, sql):
    return cli.check(f"{EVENTS_DDL}; {sql}").splitlines()[1]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT approx_count_distinct(entity) FROM events WHERE value > 2",
        "SELECT approx_count_distinct(entity, 10) FROM events WHERE false",
        "SELECT hll_estimate(hll_sketch(entity)) FROM events WHERE value > 2",
    ],
)
def test_no_rows_count_zero_as_in_the_cli(ctx, cli, sql):
    assert value(ctx, sql) == 0
    assert cli_value(cli, sql) == "0"


def test_no_rows_in_a_group_by_give_no_groups(ctx):
    sql = "SELECT event_type, approx_count_distinct(entity) FROM events WHERE value > 2 GROUP BY 1"
    assert ctx.sql(sql).to_pylist() == []


CORRELATED = (
    "SELECT t.x, {agg} AS c FROM (VALUES ('click'), ('nothing')) t(x) ORDER BY t.x"
)
SUBQUERY = "(SELECT approx_count_distinct(e.entity) FROM events e WHERE e.event_type = t.x)"


def test_correlated_subquery_without_rows_is_null_here_and_coalesce_gives_the_cli_answer(ctx, cli):
    clicks = value(ctx, "SELECT approx_count_distinct(entity) FROM events WHERE event_type = 'click'")
    sql = CORRELATED.format(agg=SUBQUERY)
    assert [r["c"] for r in ctx.sql(sql).to_pylist()] == [clicks, None]
    assert cli.check(f"{EVENTS_DDL}; {sql}").splitlines()[1:] == [f"click,{clicks}", "nothing,0"]
    fixed = CORRELATED.format(agg=f"coalesce({SUBQUERY}, 0)")
    assert [r["c"] for r in ctx.sql(fixed).to_pylist()] == [clicks, 0]


def test_empty_window_frame_is_null_here_not_an_error(ctx, cli):
    frame = "OVER (ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    sql = f"SELECT approx_count_distinct(entity) {frame} AS c FROM events ORDER BY ts LIMIT 3"
    assert [r["c"] for r in ctx.sql(sql).to_pylist()] == [None, 1, 2]
    assert cli.check(f"{EVENTS_DDL}; {sql}").splitlines()[1:] == ["0", "1", "2"]
    fixed = f"SELECT coalesce(approx_count_distinct(entity) {frame}, 0) AS c FROM events ORDER BY ts LIMIT 3"
    assert [r["c"] for r in ctx.sql(fixed).to_pylist()] == [0, 1, 2]


def test_wrong_parameter_fails_when_the_query_runs_not_before(ctx, cli):
    sql = "SELECT hll_sketch(entity, 30) FROM events"
    plan = ctx.sql(f"EXPLAIN {sql}").to_pylist()
    assert plan, "EXPLAIN does not run the aggregate, so it cannot check p here"
    with pytest.raises(Exception, match="hll_sketch: precision must be between 4 and 18, got 30"):
        ctx.sql(sql).collect()
    # The CLI's EXPLAIN shows the plan-time check failing.
    assert "hll_sketch: precision must be between 4 and 18" in cli.check(f"{EVENTS_DDL}; EXPLAIN {sql}")
