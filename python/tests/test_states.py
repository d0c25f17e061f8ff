"""Acceptance 3: states made from Python equal, byte for byte, those `hazy sql` makes from the
same data; states written to Parquet by one are merged by the other."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from conftest import EVENTS_DDL, new_context, rows

# (sketch aggregate over events, its family's merge aggregate), parameters included.
SKETCHES = [
    ("hll_sketch(entity)", "hll_merge"),
    ("hll_sketch(entity, 10)", "hll_merge"),
    ("cms_sketch(entity)", "cms_merge"),
    ("cms_sketch(entity, 0.001, 0.001)", "cms_merge"),
    ("cms_sketch_weighted(entity, CAST(value * 100 AS BIGINT))", "cms_merge"),
    ("topk_sketch(entity)", "topk_merge"),
    ("topk_sketch(event_type, 8)", "topk_merge"),
    ("bloom_sketch(entity, 5000, 0.001)", "bloom_merge"),
    ("minhash_sketch(entity)", "minhash_merge"),
    ("minhash_sketch(entity, 64)", "minhash_merge"),
    ("kll_sketch(value)", "kll_merge"),
    ("kll_sketch(value, 64)", "kll_merge"),
    ("dd_sketch(value)", "dd_merge"),
    ("dd_sketch(value, 0.05, 128)", "dd_merge"),
]
IDS = [s for s, _ in SKETCHES]

MINUTE = "date_bin(INTERVAL '1 minute', ts)"


def per_minute(sketch: str) -> str:
    return f"SELECT {MINUTE} AS minute, {sketch} AS s FROM events GROUP BY 1"


@pytest.mark.parametrize("sketch,merge", SKETCHES, ids=IDS)
def test_states_equal_the_cli_states_byte_for_byte(sketch, merge, ctx, cli):
    query = f"SELECT event_type, {sketch} AS s FROM events GROUP BY event_type"
    ours = ctx.sql(query).to_arrow_table()
    theirs = cli.table(EVENTS_DDL, query)
    assert ours.num_rows == 12
    assert rows(ours) == rows(theirs)
    assert all(isinstance(s, bytes) and s.startswith(b"HZSK") for s in ours["s"].to_pylist())


@pytest.mark.parametrize("sketch,merge", SKETCHES, ids=IDS)
def test_python_states_in_parquet_merge_in_the_cli(sketch, merge, ctx, cli, tmp_path):
    written = tmp_path / "from_python.parquet"
    ctx.sql(per_minute(sketch)).write_parquet(str(written))
    merged = merged_by_both(merge, written, cli)
    assert merged[0] is not None


@pytest.mark.parametrize("sketch,merge", SKETCHES, ids=IDS)
def test_cli_states_in_parquet_merge_in_python(sketch, merge, cli, tmp_path):
    written = tmp_path / "from_cli.parquet"
    cli.check(f"{EVENTS_DDL}; COPY ({per_minute(sketch)}) TO '{written}' STORED AS PARQUET")
    assert pq.read_table(written).num_rows == 17
    merged = merged_by_both(merge, written, cli)
    # Merging the minutes gives the state of all the events, as one pass over them does.
    one_pass = cli.table(EVENTS_DDL, f"SELECT {sketch} AS s FROM events", "one_pass.parquet")
    if merge in ("hll_merge", "cms_merge", "bloom_merge", "minhash_merge"):
        # Exact unions: the merged state is the state of the union, whatever the grouping.
        assert merged == one_pass["s"].to_pylist()


def merged_by_both(merge: str, states, cli) -> list[bytes]:
    """The merge of the states in Parquet file `states`, checked equal from Python and the CLI."""
    ctx = new_context()
    ctx.register_parquet("t", str(states))
    ours = ctx.sql(f"SELECT {merge}(s) AS s FROM t").to_arrow_table()
    theirs = cli.table(
        f"CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{states}'",
        f"SELECT {merge}(s) AS s FROM t",
    )
    assert ours["s"].to_pylist() == theirs["s"].to_pylist()
    return ours["s"].to_pylist()
