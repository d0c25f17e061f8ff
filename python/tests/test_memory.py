"""Issue 21 through the FFI: datafusion-python's memory pool does not reach Hazy's functions, so
they reserve in a pool of their own (`memory_limit`), and a query over it fails naming the
function instead of the interpreter running out of memory."""

from __future__ import annotations

import datafusion
import pytest

import hazy

# 20,000-row moving frames: a HyperLogLog a row and the unions of their suffixes, which
# DataFusion's window operator never reserves (about 300 MB here).
FRAME = (
    "SELECT max(c) AS m FROM (SELECT approx_count_distinct(value) OVER "
    "(ORDER BY value ROWS BETWEEN 20000 PRECEDING AND CURRENT ROW) AS c "
    "FROM generate_series(1, 50000))"
)


def answer(memory_limit: hazy.MemoryLimit) -> int:
    ctx = datafusion.SessionContext()
    hazy.register_all(ctx, memory_limit=memory_limit)
    return ctx.sql(FRAME).to_pydict()["m"][0]


def test_over_the_limit_a_query_fails_naming_the_function():
    with pytest.raises(Exception, match="Resources exhausted: approx_count_distinct"):
        answer("32M")


def test_with_room_the_limit_changes_nothing():
    unbound = answer(None)
    assert answer("auto") == unbound
    assert answer(2 << 30) == unbound
    assert answer("none") == unbound


@pytest.mark.parametrize(
    ("limit", "error", "words"),
    [
        (-1, ValueError, "positive number of bytes"),
        (0, ValueError, "positive number of bytes"),
        ("lots", ValueError, "'lots' is not a size"),
        (1.5, TypeError, "got float"),
        (True, TypeError, "got bool"),
    ],
)
def test_a_wrong_limit_is_refused_with_the_reason(limit, error, words):
    ctx = datafusion.SessionContext()
    with pytest.raises(error, match=words):
        hazy.register_all(ctx, memory_limit=limit)
    with pytest.raises(error, match=words):
        hazy.udf("approx_topk", memory_limit=limit)
