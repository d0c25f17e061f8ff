"""Distinct users over time from stored HyperLogLog states, drawn against the exact count.

    pip install ./python matplotlib pandas
    python examples/python/uniques_from_states.py [data/events.parquet] [uniques.png]

1. One `hll_sketch` state per 10 seconds of events is written to Parquet (what a pipeline
   would keep instead of the raw events: a few KB per interval).
2. Later, in a new session, the states alone answer "how many distinct users so far" (a
   growing window) and "in the last minute" (a moving window of six states) by `hll_merge`.
3. The picture puts those answers on the exact counts from the raw events, with the relative
   error against HyperLogLog's standard error at the default precision (1.04 / sqrt(2^14)).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import datafusion
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import hazy  # noqa: E402

PANE = "10 seconds"
PANE_TIME = pd.Timedelta(seconds=10)
PANES_PER_MINUTE = 6
STANDARD_ERROR = 1.04 / 2**7  # p = 14: 2^14 registers


def write_states(events: Path, states: Path) -> None:
    ctx = datafusion.SessionContext()
    hazy.register_all(ctx)
    ctx.register_parquet("events", str(events))
    ctx.sql(
        f"SELECT date_bin(INTERVAL '{PANE}', ts) AS pane, hll_sketch(entity) AS users "
        "FROM events GROUP BY 1"
    ).write_parquet(str(states))


def estimates_from_states(states: Path) -> pd.DataFrame:
    ctx = datafusion.SessionContext()
    hazy.register_all(ctx)
    ctx.register_parquet("panes", str(states))
    return ctx.sql(
        f"""
        SELECT pane,
               hll_estimate(hll_merge(users) OVER (ORDER BY pane
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS so_far,
               hll_estimate(hll_merge(users) OVER (ORDER BY pane
                   ROWS BETWEEN {PANES_PER_MINUTE - 1} PRECEDING AND CURRENT ROW)) AS last_minute
        FROM panes ORDER BY pane
        """
    ).to_pandas()


def exact_counts(events: Path, panes: pd.Series) -> pd.DataFrame:
    raw = pd.read_parquet(events, columns=["ts", "entity"])
    raw["pane"] = raw["ts"].dt.floor(PANE_TIME)
    first_seen = raw.groupby("entity")["pane"].min().value_counts().sort_index()
    so_far = first_seen.cumsum().reindex(panes, method="ffill")
    width = PANE_TIME * PANES_PER_MINUTE
    last_minute = [
        raw.loc[(raw["pane"] > pane - width) & (raw["pane"] <= pane), "entity"].nunique()
        for pane in panes
    ]
    return pd.DataFrame({"pane": panes, "so_far": so_far.to_numpy(), "last_minute": last_minute})


def draw(estimates: pd.DataFrame, exact: pd.DataFrame, png: Path) -> float:
    """Draws the figure; returns the largest relative error."""
    minutes = (estimates["pane"] - estimates["pane"].iloc[0]).dt.total_seconds() / 60
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    worst = 0.0
    for column, label, color in [
        ("so_far", "distinct users so far", "tab:blue"),
        ("last_minute", "distinct users in the last minute", "tab:orange"),
    ]:
        top.plot(minutes, exact[column], color=color, linewidth=2, label=f"{label}: exact")
        top.plot(minutes, estimates[column], "o", color=color, markersize=3.5,
                 markerfacecolor="white", label=f"{label}: merged hll_sketch states")
        error = (estimates[column] - exact[column]) / exact[column]
        worst = max(worst, float(error.abs().max()))
        bottom.plot(minutes, 100 * error, "o-", color=color, markersize=3, linewidth=0.8)
    for k, alpha in [(1, 0.25), (2, 0.12)]:
        bottom.axhspan(-100 * k * STANDARD_ERROR, 100 * k * STANDARD_ERROR, color="grey",
                       alpha=alpha, linewidth=0, label=f"±{k} standard error ({100 * k * STANDARD_ERROR:.2f}%)")
    bottom.axhline(0, color="black", linewidth=0.6)
    top.set_ylabel("distinct users")
    top.set_title(
        f"Distinct users from {len(estimates)} stored HyperLogLog states ({PANE} each), merged "
        "later\nagainst the exact count from the raw events"
    )
    top.legend(loc="center right", fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_ylabel("relative error (%)")
    bottom.set_xlabel("minutes since the first event")
    bottom.legend(loc="lower right", fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return worst


def main(events: Path, png: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        states = Path(tmp) / "states.parquet"
        write_states(events, states)
        estimates = estimates_from_states(states)
        state_bytes = states.stat().st_size
    exact = exact_counts(events, estimates["pane"])
    worst = draw(estimates, exact, png)
    print(
        f"{len(estimates)} states, {state_bytes / 1024:.0f} KiB of Parquet for "
        f"{events.stat().st_size / 1024:.0f} KiB of events; largest relative error "
        f"{100 * worst:.2f}%; wrote {png}"
    )


if __name__ == "__main__":
    here = Path(__file__).resolve().parents[2]
    events = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "data" / "events.parquet"
    png = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("uniques.png")
    main(events, png)
