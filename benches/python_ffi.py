"""Hazy from Python (datafusion-python through the FFI) against `hazy sql`, in the same run.

    cargo build --release && pip install ./python
    python benches/python_ffi.py [--file target/bench/bench.parquet] [--runs 5] [--hazy PATH]

The file is sql_bench's 10M-row benchmark file (`cargo bench --bench sql_bench` writes it).
Each query's time is that of a warm run:
- Python: in one process, the median of `--runs` runs of `ctx.sql(q).collect()` after a warm-up;
- CLI: `hazy sql -c "<table>; q"` and `hazy sql -c "<table>; q; q; …"` with `--runs` more
  runs of q, three processes each: the difference of their medians over `--runs` (process
  start, set-up and the first, cold run cancel out).
The two alternate query by query so that the machine's drift hits both.

datafusion-python's wheel allocates with mimalloc, which by default hands freed memory back to
the system after 10 ms; a scan then pays page faults on every batch. The Python column is
measured as installed, and again with `MIMALLOC_PURGE_DELAY=1000` (freed memory kept for a
second), which removes that cost; `hazy sql` uses the system allocator.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import datafusion

import hazy

REPO = Path(__file__).resolve().parents[1]

QUERIES = [
    ("scan floor (no Hazy function)", "SELECT sum(id) FROM bench"),
    ("approx_count_distinct(id)", "SELECT approx_count_distinct(id) FROM bench"),
    ("approx_count_distinct(s)", "SELECT approx_count_distinct(s) FROM bench"),
    ("approx_count_distinct(id) GROUP BY g (1M groups)",
     "SELECT g, approx_count_distinct(id) FROM bench GROUP BY g"),
    ("approx_topk(k, 10)", "SELECT approx_topk(k, 10) FROM bench"),
    ("approx_quantile(v, 0.99)", "SELECT approx_quantile(v, 0.99) FROM bench"),
]


def python_ms(file: str, sql: str, runs: int, env: dict[str, str]) -> float:
    """The median warm time of `sql` in a fresh Python process with `env` added."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", sql, "--file", file, "--runs", str(runs)],
        check=True, capture_output=True, text=True, env={**os.environ, **env},
    )
    return float(done.stdout)


def child(file: str, sql: str, runs: int) -> None:
    ctx = datafusion.SessionContext()
    hazy.register_all(ctx)
    ctx.register_parquet("bench", file)
    ctx.sql(sql).collect()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        ctx.sql(sql).collect()
        times.append((time.perf_counter() - start) * 1000)
    print(statistics.median(times))


def cli_ms(hazy_bin: Path, table: str, sql: str, runs: int) -> float:
    def median_process_ms(statements: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([str(hazy_bin), "sql", "--format", "json", "-c", statements],
                           check=True, stdout=subprocess.DEVNULL)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    once = median_process_ms(f"{table}; {sql}")
    repeated = median_process_ms(f"{table}; {sql}" + f"; {sql}" * runs)
    return (repeated - once) / runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", default=str(REPO / "target" / "bench" / "bench.parquet"))
    parser.add_argument("--runs", type=int, default=5)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    parser.add_argument("--hazy", default=str(target / "release" / "hazy"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.file, args.child, args.runs)

    table = f"CREATE EXTERNAL TABLE bench STORED AS PARQUET LOCATION '{args.file}'"
    print(f"datafusion {datafusion.__version__}, hazy {hazy.__version__}, {os.cpu_count()} cores, "
          f"median of {args.runs}")
    print("| query | Python ms | Python ms, `MIMALLOC_PURGE_DELAY=1000` | hazy sql ms "
          "| Python / CLI | Python (1000) / CLI |")
    print("|---|---|---|---|---|---|")
    for name, sql in QUERIES:
        py = python_ms(args.file, sql, args.runs, {})
        kept = python_ms(args.file, sql, args.runs, {"MIMALLOC_PURGE_DELAY": "1000"})
        cli = cli_ms(Path(args.hazy), table, sql, args.runs)
        print(f"| `{name}` | {py:,.0f} | {kept:,.0f} | {cli:,.0f} | {py / cli:.2f}x "
              f"| {kept / cli:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
