"""Shared fixtures: a Hazy-enabled SessionContext, and the `hazy` CLI to compare against.

The CLI is the Rust build of the same crate (`cargo build --release`); it is found at
``$HAZY_BIN``, else ``$CARGO_TARGET_DIR/release/hazy``, else ``<repo>/target/release/hazy``.
Tests that compare with it fail (never skip) when it is missing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import datafusion
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hazy

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "data" / "events.parquet"


def hazy_binary() -> Path:
    if "HAZY_BIN" in os.environ:
        path = Path(os.environ["HAZY_BIN"])
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
        path = target / "release" / "hazy"
    if not path.is_file():
        pytest.fail(
            f"the hazy CLI is not at {path}: run `cargo build --release` "
            "(with the same CARGO_TARGET_DIR) or set HAZY_BIN"
        )
    return path


def new_context() -> datafusion.SessionContext:
    ctx = datafusion.SessionContext()
    hazy.register_all(ctx)
    return ctx


def statements(sql: str) -> list[str]:
    """The statements of a script (no `;` inside string literals in ours)."""
    return [s.strip() for s in sql.split(";") if s.strip() and not _only_comments(s)]


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


def run_python(ctx: datafusion.SessionContext, sql: str) -> pa.Table | None:
    """Runs every statement of `sql`; the last one's result as a table."""
    result = None
    for statement in statements(sql):
        result = ctx.sql(statement).to_arrow_table()
    return result


class Cli:
    """`hazy sql` in a working directory."""

    def __init__(self, binary: Path, cwd: Path):
        self.binary = binary
        self.cwd = cwd

    def run(self, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.binary), "sql", "--format", "csv", "-c", sql],
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def check(self, sql: str) -> str:
        done = self.run(sql)
        if done.returncode != 0:
            raise AssertionError(f"hazy sql failed:\n{sql}\n{done.stderr}")
        return done.stdout

    def error(self, sql: str) -> str:
        """The error `hazy sql` prints for a statement that must fail."""
        done = self.run(sql)
        assert done.returncode != 0, f"hazy sql accepted:\n{sql}\n{done.stdout}"
        return done.stderr

    def table(self, setup: str, query: str, name: str = "cli.parquet") -> pa.Table:
        """The rows of `query` as `hazy sql` computes them, through a Parquet file it writes."""
        out = self.cwd / name
        body = query.strip().rstrip(";")
        self.check(f"{setup};\nCOPY (\n{body}\n) TO '{out}' STORED AS PARQUET")
        return pq.ParquetFile(out).read()


@pytest.fixture
def ctx() -> datafusion.SessionContext:
    ctx = new_context()
    ctx.register_parquet("events", str(EVENTS))
    return ctx


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(hazy_binary(), tmp_path)


EVENTS_DDL = f"CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION '{EVENTS}'"


def rows(table: pa.Table) -> list[tuple]:
    """A table's rows as sorted tuples, for comparing results whose order is not defined."""
    columns = [column.to_pylist() for column in table.columns]
    return sorted(zip(*columns), key=repr)
