"""approx_quantile over integers spread past 2^53, for the binaries given (BENCHMARKS.md,
"Integers keep every digit"): rank error and whether the answer is an input value, over
seeds, and the share of exact answers over many small groups.

    python3 benches/integer_quantiles.py HAZY_BINARY [HAZY_BINARY …]

Needs numpy and pyarrow; writes its Parquet files under /tmp/hazy-integer-quantiles/.
"""
import collections
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N = 1_000_000
DIR = "/tmp/hazy-integer-quantiles"


def query(binary, sql):
    out = subprocess.run([binary, "sql", "--format", "json", "-c", sql],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def column(kind, seed):
    rng = np.random.default_rng(seed)
    if kind == "random 64-bit":
        return rng.integers(-2**63, 2**63 - 1, size=N, dtype=np.int64) | 1
    # IDs rising from 2^60 by 2^36 on average (a spread of about 2^56), scrambled.
    ids = (2**60 + np.cumsum(rng.integers(1, 2**37, size=N, dtype=np.int64))) | 1
    rng.shuffle(ids)
    return ids


def one_group(binaries):
    path = f"{DIR}/one.parquet"
    results = collections.defaultdict(list)
    for kind in ["random 64-bit", "snowflake-like"]:
        for seed in range(12):
            x = column(kind, seed)
            pq.write_table(pa.table({"x": x}), path)
            s = np.sort(x)
            for b in binaries:
                row = query(b, "SELECT approx_quantile(x, 0.5) AS p50, "
                               f"approx_quantile(x, 0.99) AS p99 FROM '{path}'")[0]
                for q, key in [(0.5, "p50"), (0.99, "p99")]:
                    a = int(row[key])
                    lo, hi = np.searchsorted(s, a, "left"), np.searchsorted(s, a, "right")
                    rank = q * N
                    off = 0 if lo <= rank <= hi else min(abs(lo - rank), abs(hi - rank))
                    results[(kind, q, b)].append((off, hi > lo))
    for (kind, q, b), v in sorted(results.items()):
        offs = [o for o, _ in v]
        inputs = sum(i for _, i in v)
        print(f"{kind}, q {q}, {b}: ranks off mean {np.mean(offs):.2f} max {max(offs)}, "
              f"input values {inputs}/{len(v)}")


def small_groups(binaries):
    path = f"{DIR}/groups.parquet"
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        x = rng.integers(-2**63, 2**63 - 1, size=N, dtype=np.int64) | 1
        g = np.arange(N) % 1000
        pq.write_table(pa.table({"g": g, "x": x}), path)
        groups = {i: np.sort(x[g == i]) for i in range(1000)}
        for b in binaries:
            rows = query(b, "SELECT g, approx_quantile(x, 0.5) AS p50, "
                            f"approx_quantile(x, 0.99) AS p99 FROM '{path}' GROUP BY g")
            exact = sum(
                int(r[key]) == int(groups[int(r["g"])][int(np.ceil(q * 1000)) - 1])
                for r in rows for q, key in [(0.5, "p50"), (0.99, "p99")])
            print(f"1,000 groups of 1,000, seed {seed}, {b}: exact {exact}/{2 * len(rows)}")


if __name__ == "__main__":
    os.makedirs(DIR, exist_ok=True)
    one_group(sys.argv[1:])
    small_groups(sys.argv[1:])
