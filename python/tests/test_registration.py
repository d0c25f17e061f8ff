"""Acceptance 1: `hazy.register_all` registers what the Rust `hazy::register_all` does, and
`hazy.functions()` lists the same names; plus the import-time DataFusion version check."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import datafusion
import pytest

import hazy

ROUTINES = "SELECT routine_name, function_type FROM information_schema.routines"


def routines(ctx: datafusion.SessionContext) -> set[tuple[str, str]]:
    table = ctx.sql(ROUTINES).to_arrow_table()
    return set(zip(table["routine_name"].to_pylist(), table["function_type"].to_pylist()))


def with_information_schema() -> datafusion.SessionContext:
    return datafusion.SessionContext(datafusion.SessionConfig().with_information_schema(True))


def test_register_all_adds_what_the_rust_register_all_adds(cli):
    plain = with_information_schema()
    ctx = with_information_schema()
    hazy.register_all(ctx)
    added = routines(ctx) - routines(plain)
    # `hazy sql` is a SessionContext with hazy::register_all: its routines beyond DataFusion's.
    reader = csv.DictReader(io.StringIO(cli.check(ROUTINES)))
    rust = {(r["routine_name"], r["function_type"]) for r in reader} - routines(plain)
    assert added == rust
    # Every function of the reference (docs/SQL.md, generated from the Rust Documentation).
    reference = Path(__file__).resolve().parents[2] / "docs" / "SQL.md"
    listed = [line for line in reference.read_text().splitlines() if line.startswith("| [`")]
    assert len(added) == len(listed)


def test_functions_lists_the_registered_names_and_kinds():
    ctx = with_information_schema()
    hazy.register_all(ctx)
    listed = {(f.name, f.kind.upper()) for f in hazy.functions()}
    assert listed == routines(ctx) - routines(with_information_schema())
    assert len(listed) == len(hazy.functions()), "no name twice"


def test_functions_carry_the_documentation():
    by_name = {f.name: f for f in hazy.functions()}
    hll = by_name["hll_sketch"]
    assert hll.kind == "aggregate"
    assert hll.syntax == "hll_sketch(x [, precision])"
    assert [a for a, _ in hll.arguments] == ["x", "precision"]
    assert "HyperLogLog" in hll.description
    assert hll.example.startswith("-- one state per day")
    for f in hazy.functions():
        assert f.description and f.syntax.startswith(f.name) and f.example, f.name
        assert f.kind in ("aggregate", "scalar")


def test_udf_gives_one_function_for_the_dataframe_api(ctx):
    from datafusion import col, lit

    topk = hazy.udf("approx_topk")
    df = ctx.table("events").aggregate([], [topk(col("event_type"), lit(2)).alias("top")])
    (top,) = df.to_pydict()["top"]
    assert [t["item"] for t in top] == ["page_view", "click"]
    estimate = hazy.udf("hll_estimate")
    sketch = hazy.udf("hll_sketch")
    df = ctx.table("events").aggregate([], [estimate(sketch(col("entity"))).alias("n")])
    assert df.to_pydict()["n"][0] > 0
    with pytest.raises(KeyError, match="no Hazy function named 'nope'"):
        hazy.udf("nope")


def test_register_all_refuses_what_is_not_a_session_context():
    with pytest.raises(TypeError, match="expects a datafusion.SessionContext"):
        hazy.register_all("not a context")


def run_with_datafusion_version(version: str) -> subprocess.CompletedProcess:
    """Imports hazy in a fresh interpreter that sees `datafusion.__version__ == version`."""
    code = (
        "import datafusion\n"
        f"datafusion.__version__ = {version!r}\n"
        "import hazy\n"
        "print('imported')\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_import_refuses_another_datafusion_major():
    done = run_with_datafusion_version("54.1.0")
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "built for DataFusion 55" in done.stderr
    assert "the installed 'datafusion' package is 54.1.0" in done.stderr
    assert "pip install 'datafusion>=55,<56'" in done.stderr


def test_import_accepts_any_55_release():
    done = run_with_datafusion_version("55.9.1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
    assert datafusion.__version__.startswith("55.")
