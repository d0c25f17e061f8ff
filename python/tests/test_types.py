"""Acceptance 6: nested results come back typed, in pyarrow and pandas."""

from __future__ import annotations

import pyarrow as pa


def topk_struct(item: pa.DataType) -> pa.DataType:
    return pa.struct(
        [
            pa.field("item", item),
            pa.field("count", pa.int64(), nullable=False),
            pa.field("lower", pa.int64(), nullable=False),
            pa.field("upper", pa.int64(), nullable=False),
        ]
    )


def result_type(ctx, sql: str) -> pa.DataType:
    return ctx.sql(sql).to_arrow_table().schema.field(0).type


def test_approx_topk_is_a_list_of_structs_in_the_input_type(ctx):
    table = ctx.sql("SELECT approx_topk(event_type, 3) AS top FROM events").to_arrow_table()
    top_type = table.schema.field("top").type
    assert pa.types.is_list(top_type)
    assert top_type.value_type == topk_struct(pa.string_view())
    (top,) = table["top"].to_pylist()
    assert top == [
        {"item": "page_view", "count": 29553, "lower": 29553, "upper": 29553},
        {"item": "click", "count": 17780, "lower": 17780, "upper": 17780},
        {"item": "scroll", "count": 11744, "lower": 11744, "upper": 11744},
    ]
    # The item keeps the input's type: integers stay integers.
    ints = result_type(ctx, "SELECT approx_topk(CAST(value * 10 AS BIGINT), 2) FROM events")
    assert ints.value_type == topk_struct(pa.int64())


def test_approx_topk_into_pandas(ctx):
    frame = ctx.sql(
        "SELECT event_type, approx_topk(entity, 2) AS top FROM events GROUP BY event_type"
    ).to_pandas()
    exploded = frame.explode("top", ignore_index=True)
    columns = exploded["top"].apply(lambda t: (t["item"], t["count"]))
    assert len(exploded) == 24
    assert all(isinstance(item, str) and count > 0 for item, count in columns)
    # Or flat, straight from Arrow: one row per (event_type, item).
    table = ctx.sql(
        "SELECT event_type, unnest(approx_topk(entity, 2)) AS t FROM events GROUP BY event_type"
    ).to_arrow_table()
    flat = table.flatten().to_pandas()
    assert {"event_type", "t.item", "t.count", "t.lower", "t.upper"} <= set(flat.columns)
    assert (flat["t.lower"] <= flat["t.upper"]).all()


def test_topk_items_is_a_list_of_structs_with_text_items(ctx):
    sql = "SELECT topk_items(topk_sketch(entity), 4) FROM events"
    assert result_type(ctx, sql).value_type == topk_struct(pa.string())


def test_sketch_info_is_a_struct(ctx):
    table = ctx.sql("SELECT sketch_info(hll_sketch(entity)) AS info FROM events").to_arrow_table()
    info_type = table.schema.field("info").type
    assert pa.types.is_struct(info_type)
    assert [f.name for f in info_type] == [
        "family", "version", "parameters", "mode", "bytes", "items", "details",
    ]
    assert info_type.field("bytes").type == pa.int64()
    assert info_type.field("version").type == pa.int32()
    (info,) = table["info"].to_pylist()
    assert info["family"] == "hll"
    assert info["items"] == 100_000
    # A struct field is reachable from SQL, and from pandas as a dict.
    (nbytes,) = ctx.sql(
        "SELECT sketch_info(hll_sketch(entity))['bytes'] AS b FROM events"
    ).to_pydict()["b"]
    assert nbytes == info["bytes"]
    assert ctx.sql("SELECT sketch_info(kll_sketch(value)) AS i FROM events").to_pandas()["i"][0][
        "family"
    ] == "kll"


def test_lists_and_states_are_typed(ctx):
    assert result_type(ctx, "SELECT approx_quantiles(value, [0.5, 0.9]) FROM events") == pa.list_(
        pa.float64()
    )
    assert result_type(ctx, "SELECT kll_quantiles(kll_sketch(value), [0.5]) FROM events") == pa.list_(
        pa.float64()
    )
    lsh = result_type(ctx, "SELECT minhash_lsh_bands(minhash_sketch(entity), 8) FROM events")
    assert pa.types.is_list(lsh) and pa.types.is_integer(lsh.value_type)
    assert result_type(ctx, "SELECT hll_sketch(entity) FROM events") == pa.large_binary()
    assert result_type(ctx, "SELECT approx_count_distinct(entity) FROM events") == pa.int64()
    assert result_type(ctx, "SELECT approx_quantile(ts, 0.5) FROM events") == pa.timestamp("us", "UTC")
    assert result_type(ctx, "SELECT bloom_contains(bloom_sketch(entity), 'x') FROM events") == pa.bool_()


def test_integer_quantiles_keep_every_digit(ctx):
    # Past 2^53 a double rounds (2^60 + 7 would read as 2^60 + 8); the digest keeps integers.
    sql = (
        "SELECT approx_quantiles(x, [0.0, 0.5, 1.0]) AS q FROM "
        "(SELECT 1152921504606846983 + value AS x FROM generate_series(0, 2000))"
    )
    (q,) = ctx.sql(sql).to_arrow_table()["q"].to_pylist()
    assert q == [1152921504606846983, 1152921504606847983, 1152921504606848983]
