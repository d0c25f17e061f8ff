"""Acceptance 4: a GROUP BY over 100,000 groups and a moving window frame give the Rust results.

The data is made by SQL (`range`) in both engines, so both read the same rows.
"""

from __future__ import annotations

from conftest import new_context

GROUPS = 100_000

# 1M rows over 100k groups; within a group, values repeat so that distinct counts vary.
DATA = f"""
CREATE VIEW data AS
  SELECT value % {GROUPS} AS g,
         (value * 7919) % 5003 AS x,
         CAST((value * 104729) % 100000 AS DOUBLE) / 1000.0 AS v,
         'item_' || CAST((value * 31) % 97 AS VARCHAR) AS item
  FROM range(1000000)
"""

GROUP_BY = """
SELECT g,
       approx_count_distinct(x) AS n,
       hll_sketch(x) AS hll,
       approx_topk(item, 3) AS top,
       approx_quantile(v, 0.5) AS median,
       kll_sketch(v) AS kll,
       cms_estimate(cms_sketch(item), 'item_5') AS cms,
       bloom_contains(bloom_sketch(x, 100, 0.01), 17) AS seen
FROM data GROUP BY g
"""

# One state per minute over 1,000 minutes, and the distinct users of the last hour at each one.
PER_MINUTE = """
CREATE VIEW per_minute AS
  SELECT value % 1000 AS w, hll_sketch((value * 2654435761) % 40000) AS s
  FROM range(400000) GROUP BY 1
"""

WINDOW = """
SELECT w,
       hll_estimate(hll_merge(s) OVER (ORDER BY w ROWS BETWEEN 59 PRECEDING AND CURRENT ROW)) AS users,
       hll_merge(s) OVER (ORDER BY w ROWS BETWEEN 59 PRECEDING AND CURRENT ROW) AS last_hour
FROM per_minute
"""


def sorted_by(table, key) -> dict[str, list]:
    """The columns of `table` as lists, rows in the order of column `key`."""
    order = sorted(range(table.num_rows), key=table[key].to_pylist().__getitem__)
    return {name: [table[name][i].as_py() for i in order] for name in table.column_names}


def python_table(setup, query):
    ctx = new_context()
    ctx.sql(setup).collect()
    return ctx.sql(query).to_arrow_table()


def test_group_by_100k_groups_gives_the_rust_results(cli):
    ours = sorted_by(python_table(DATA, GROUP_BY), "g")
    theirs = sorted_by(cli.table(DATA, GROUP_BY), "g")
    assert len(ours["g"]) == GROUPS
    assert ours.keys() == theirs.keys()
    for column in ours:
        assert ours[column] == theirs[column], column
    # And the estimates are estimates of the truth: every group has 10 rows of distinct x.
    assert set(ours["n"]) <= {9, 10, 11}


def test_moving_window_frame_gives_the_rust_results(cli):
    ours = sorted_by(python_table(PER_MINUTE, WINDOW), "w")
    theirs = sorted_by(cli.table(PER_MINUTE, WINDOW), "w")
    assert len(ours["w"]) == 1000
    assert ours == theirs
    # The frame is really 60 minutes wide: against the exact count at a few minutes.
    ctx = new_context()
    for w in (0, 59, 500, 999):
        (exact,) = ctx.sql(
            f"SELECT count(DISTINCT (value * 2654435761) % 40000) AS n FROM range(400000) "
            f"WHERE value % 1000 BETWEEN {max(w - 59, 0)} AND {w}"
        ).to_pydict()["n"]
        estimate = ours["users"][w]
        assert abs(estimate - exact) <= 0.03 * exact, (w, estimate, exact)
