#!/usr/bin/env python3
"""Makes the DataSketches golden files that tests/integration/datasketches.rs reads.

The reference is the Apache DataSketches Python package (the C++ library), 5.x:

    python3 -m venv /tmp/ds && /tmp/ds/bin/pip install 'datasketches>=5,<6'
    /tmp/ds/bin/python tests/datasketches/make_golden.py

It writes, next to this script, the reference library's bytes (*.bin) and golden.json: what
the reference computed from them (estimates, bounds), so the Rust tests need no Python; and
what the reference reads in Hazy's bytes (hazy_*.bin) where those differ from its own.
Items are those Hazy's SQL tests feed: the integers 0..n-1 (hashed as 64-bit integers),
strings "user_<i>" (UTF-8) and doubles i + 0.5.

KLL (doubles, floats) and frequent items (strings, longs) are checked the same way, for
kll_from_datasketches / kll_to_datasketches and topk_from_datasketches / topk_to_datasketches:
the reference's sketches with their n, min, max, quantiles and per-item bounds, and what the
reference reads in Hazy's converted bytes (hazy_kll_*.bin, hazy_topk_*.bin).

With --check FILE... it instead reads sketches that Hazy wrote (hll or theta, by the file
name) and prints what the reference library reads in them, one JSON object per file.
"""

import importlib.metadata
import json
import os
import sys

import datasketches as ds

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = {"HLL_4": ds.tgt_hll_type.HLL_4, "HLL_6": ds.tgt_hll_type.HLL_6, "HLL_8": ds.tgt_hll_type.HLL_8}
HLL_NS = [0, 1, 10, 100, 10_000, 1_000_000]


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    return name


def hll(items, lg_k=12, tgt="HLL_4"):
    s = ds.hll_sketch(lg_k, TYPES[tgt])
    for x in items:
        s.update(x)
    return s


def hll_figures(s):
    return {
        "estimate": s.get_estimate(),
        "lower_2": s.get_lower_bound(2),
        "upper_2": s.get_upper_bound(2),
    }


def theta(items, lg_k=12):
    s = ds.update_theta_sketch(lg_k)
    for x in items:
        s.update(x)
    return s.compact()


def theta_figures(s):
    return {
        "estimate": s.get_estimate(),
        "lower_2": s.get_lower_bound(2),
        "upper_2": s.get_upper_bound(2),
        "retained": s.num_retained,
    }


KLL_RANKS = [0.01, 0.1, 0.5, 0.9, 0.99]


KLL_TYPES = {"double": ds.kll_doubles_sketch, "float": ds.kll_floats_sketch}


def kll(kind, values, k=200):
    s = KLL_TYPES[kind](k)
    for v in values:
        s.update(v)
    return s


def kept_kll(name, kind, make):
    """The reference's KLL sketch kept in `name`, made by `make()` when the file is missing (or
    with --fresh): the reference's compactions flip random coins, so remaking it gives other
    bytes each time; the figures in golden.json are always the reference's reading of the
    kept bytes."""
    path = os.path.join(HERE, name)
    if os.path.exists(path) and "--fresh" not in sys.argv:
        with open(path, "rb") as f:
            return KLL_TYPES[kind].deserialize(f.read())
    s = make()
    write(name, s.serialize())
    return s


def kll_figures(s):
    if s.is_empty():
        return {"n": 0, "k": s.k}
    # Inclusive quantiles: Hazy's are (the smallest item whose inclusive rank reaches q).
    return {"n": s.n, "k": s.k, "min": s.get_min_value(), "max": s.get_max_value(),
            "ranks": KLL_RANKS, "quantiles": [s.get_quantile(r, True) for r in KLL_RANKS]}


def permuted(n, offset=0.0):
    """0..n-1 in a fixed scrambled order (7919 is prime, so coprime with these n), plus offset."""
    return [(i * 7919) % n + offset for i in range(n)]


def zipf_weights(n, top):
    """Item i of n weighs top // (i + 1), at least 1: a skewed stream."""
    return [max(1, top // (i + 1)) for i in range(n)]


def freq_figures(s):
    rows = s.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
    # (item, estimate, lower, upper): keep item, lower and upper, in a stable order.
    return {"total": s.total_weight, "rows": sorted([str(r[0]), r[2], r[3]] for r in rows)}


def main():
    golden = {"library": "datasketches (Python) " + importlib.metadata.version("datasketches"), "hll": [], "theta": {}}

    # HLL: n distinct integers at lg_k 12, every type; compact bytes.
    for tgt in TYPES:
        for n in HLL_NS:
            s = hll(range(n), 12, tgt)
            name = write(f"hll_{tgt}_n{n}.bin", s.serialize_compact())
            golden["hll"].append({"type": tgt, "n": n, "items": "int", "file": name, **hll_figures(s)})
    # Strings and doubles hash as DataSketches hashes them.
    s = hll([f"user_{i}" for i in range(5000)] + [""], 12, "HLL_8")
    golden["hll"].append({"type": "HLL_8", "n": 5000, "items": "string", "file": write("hll_strings.bin", s.serialize_compact()), **hll_figures(s)})
    s = hll([i + 0.5 for i in range(3000)] + [-0.0, 0.0], 12, "HLL_6")
    golden["hll"].append({"type": "HLL_6", "n": 3001, "items": "double", "file": write("hll_doubles.bin", s.serialize_compact()), **hll_figures(s)})

    # Merges of reference sketches, compact and updatable: 0..60000 and 40000..100000.
    a, b = hll(range(0, 60_000), 12, "HLL_4"), hll(range(40_000, 100_000), 12, "HLL_8")
    u = ds.hll_union(12)
    u.update(a)
    u.update(b)
    golden["hll_merge"] = {
        "files": [write("hll_merge_a_compact.bin", a.serialize_compact()), write("hll_merge_b_updatable.bin", b.serialize_updatable())],
        "union": hll_figures(u.get_result(ds.tgt_hll_type.HLL_4)),
        "union_file": write("hll_merge_union.bin", u.get_result(ds.tgt_hll_type.HLL_4).serialize_compact()),
    }
    # Two disjoint 1,000-value HLL_4 sketches.
    d1, d2 = hll(range(0, 1000)), hll(range(1000, 2000))
    golden["hll_disjoint"] = [write("hll_disjoint_1.bin", d1.serialize_compact()), write("hll_disjoint_2.bin", d2.serialize_compact())]

    # Theta: a = 0..10000, b = 5000..20000 (estimation mode at lg_k 12), c = small, exact.
    ta, tb, tc = theta(range(0, 10_000)), theta(range(5_000, 20_000)), theta(range(19_990, 20_100))
    union = ds.theta_union(12)
    union.update(ta)
    union.update(tb)
    inter = ds.theta_intersection()
    inter.update(ta)
    inter.update(tb)
    anotb = ds.theta_a_not_b().compute(ta, tb)
    inter3 = ds.theta_intersection()
    for s in (ta, tb, tc):
        inter3.update(s)
    union3 = ds.theta_union(12)
    for s in (ta, tb, tc):
        union3.update(s)
    empty = theta([])
    golden["theta"] = {
        "a": {"file": write("theta_a.bin", ta.serialize()), "range": [0, 10_000], **theta_figures(ta)},
        "b": {"file": write("theta_b.bin", tb.serialize()), "range": [5_000, 20_000], **theta_figures(tb)},
        "c": {"file": write("theta_c.bin", tc.serialize()), "range": [19_990, 20_100], **theta_figures(tc)},
        "empty": {"file": write("theta_empty.bin", empty.serialize()), **theta_figures(empty)},
        "union_ab": {"file": write("theta_union_ab.bin", union.get_result().serialize()), **theta_figures(union.get_result())},
        "intersect_ab": {"file": write("theta_intersect_ab.bin", inter.get_result().serialize()), **theta_figures(inter.get_result())},
        "a_not_b": {"file": write("theta_a_not_b.bin", anotb.serialize()), **theta_figures(anotb)},
        "intersect_abc": theta_figures(inter3.get_result()),
        "union_abc": theta_figures(union3.get_result()),
    }
    # A theta sketch of another seed: Hazy must refuse it (seed hash mismatch).
    other = ds.update_theta_sketch(12, 1.0, 12345)
    for i in range(100):
        other.update(i)
    golden["theta"]["other_seed"] = {"file": write("theta_other_seed.bin", other.compact().serialize())}

    # KLL: doubles at several n, floats, and a merge of k=400 with k=100 (min_k 100).
    golden["kll"] = []
    for n in [0, 1, 1000, 100_000]:
        name = f"kll_doubles_n{n}.bin"
        s = kept_kll(name, "double", lambda: kll("double", permuted(n, 0.25) if n > 1 else [42.5] * n))
        golden["kll"].append({"items": "double", "file": name, **kll_figures(s)})
    s = kept_kll("kll_floats_n10000.bin", "float", lambda: kll("float", permuted(10_000, 0.5)))
    golden["kll"].append({"items": "float", "file": "kll_floats_n10000.bin", **kll_figures(s)})

    def merged():
        a, b = kll("double", range(0, 50_000), 400), kll("double", range(50_000, 60_000), 100)
        a.merge(b)
        return a

    a = kept_kll("kll_doubles_merged_k.bin", "double", merged)
    golden["kll_merged_k"] = {"file": "kll_doubles_merged_k.bin", **kll_figures(a)}

    # Frequent items: strings and longs that fit Hazy's default 1,024 counters (bounds carried
    # over exactly), and strings in a 3,072-counter map that Hazy purges to 1,024.
    fs = ds.frequent_strings_sketch(5)
    for i, w in enumerate(zipf_weights(300, 3000)):
        fs.update(f"item_{i}", w)
    fl = ds.frequent_items_sketch(6)
    for i, w in enumerate(zipf_weights(500, 5000)):
        fl.update(i, w)
    big = ds.frequent_strings_sketch(12)
    for i, w in enumerate(zipf_weights(5000, 10_000)):
        big.update(f"item_{i}", w)
    golden["frequent_items"] = {
        "strings": {"file": write("freq_strings.bin", fs.serialize()), **freq_figures(fs)},
        "longs": {"file": write("freq_longs.bin", fl.serialize(ds.PyLongsSerDe())), **freq_figures(fl)},
        "big_strings": {"file": write("freq_big_strings.bin", big.serialize()), "total": big.total_weight},
    }

    # Hazy's bytes where they differ from the reference's (hazy_*.bin, written by
    # `HAZY_BLESS=1 cargo test --release --test integration datasketches`): what the
    # reference library reads in them.
    golden["reference_reads_hazy"] = {}
    for name in sorted(os.listdir(HERE)):
        data = open(os.path.join(HERE, name), "rb").read() if name.endswith(".bin") else None
        if name.startswith("hazy_hll") and data is not None:
            s = ds.hll_sketch.deserialize(data)
            golden["reference_reads_hazy"][name] = {"lg_k": s.lg_config_k, "type": str(s.tgt_type), **hll_figures(s)}
        elif name.startswith("hazy_theta") and data is not None:
            s = ds.compact_theta_sketch.deserialize(data)
            golden["reference_reads_hazy"][name] = {"empty": s.is_empty(), **theta_figures(s)}
        elif name.startswith("hazy_kll") and data is not None:
            golden["reference_reads_hazy"][name] = kll_figures(ds.kll_doubles_sketch.deserialize(data))
        elif name.startswith("hazy_topk_strings") and data is not None:
            golden["reference_reads_hazy"][name] = freq_figures(ds.frequent_strings_sketch.deserialize(data))
        elif name.startswith("hazy_topk_longs") and data is not None:
            golden["reference_reads_hazy"][name] = freq_figures(ds.frequent_items_sketch.deserialize(data, ds.PyLongsSerDe()))

    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True)
        f.write("\n")


def check(paths):
    for p in paths:
        data = open(p, "rb").read()
        if "theta" in os.path.basename(p):
            s = ds.compact_theta_sketch.deserialize(data)
            print(json.dumps({"file": p, **theta_figures(s)}))
        else:
            s = ds.hll_sketch.deserialize(data)
            print(json.dumps({"file": p, "lg_k": s.lg_config_k, "type": str(s.tgt_type), **hll_figures(s)}))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        check(sys.argv[2:])
    else:
        main()
