"""Acceptance 2: every example of docs/SQL.md runs from Python with the result `hazy sql` gives.

The examples name tables a reader has (events, per-minute states, daily filters, …). Here they
are views over data/events.parquet, the same for both engines; `per_minute` holds the kind of
state each example expects. The events span 17 minutes; `day` spreads them over five days
(2026-11-24 to 2026-11-28) so that the examples' `day < DATE '2026-11-28'` filters select.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import hazy
from conftest import EVENTS, REPO, new_context, rows, run_python, statements

SQL_MD = REPO / "docs" / "SQL.md"

BASE = f"""
CREATE EXTERNAL TABLE events_file STORED AS PARQUET LOCATION '{EVENTS}';
CREATE VIEW events AS
  SELECT *, DATE '2026-11-24' + CAST(date_part('minute', ts) AS INT) / 4 AS day FROM events_file;
CREATE VIEW daily_users AS SELECT day, hll_sketch(entity) AS users FROM events GROUP BY day;
CREATE VIEW daily_top AS SELECT day, topk_sketch(entity) AS st FROM events GROUP BY day;
CREATE VIEW daily AS SELECT day, bloom_sketch(entity, 10000, 0.01) AS seen FROM events GROUP BY day;
CREATE VIEW today AS SELECT entity FROM events WHERE day = DATE '2026-11-28';
CREATE VIEW daily_signatures AS
  SELECT day, entity, minhash_sketch(event_type) AS sig FROM events
  WHERE entity IN ('entity_1', 'entity_2', 'entity_3', 'entity_500') GROUP BY day, entity;
CREATE VIEW hourly AS
  SELECT day, date_bin(INTERVAL '1 hour', ts) AS hour, kll_sketch(value * 1000) AS latency
  FROM events GROUP BY 1, 2;
CREATE VIEW requests AS SELECT value * 1000 AS latency_ms FROM events;
CREATE VIEW spark_latency_sketches AS
  SELECT day, kll_to_datasketches(kll_sketch(value * 1000)) AS sketch FROM events GROUP BY day;
CREATE VIEW druid_top_pages AS
  SELECT day, topk_to_datasketches(topk_sketch(entity)) AS sketch FROM events GROUP BY day;
CREATE VIEW web AS SELECT day, hll_sketch(entity) AS users FROM events
  WHERE event_type IN ('page_view', 'click', 'scroll') GROUP BY day;
CREATE VIEW app AS SELECT day, hll_sketch(entity) AS users FROM events
  WHERE event_type NOT IN ('page_view', 'click', 'scroll') GROUP BY day;
CREATE VIEW sigs AS
  SELECT entity, minhash_sketch(CAST(value * 400 AS BIGINT)) AS sig FROM events
  WHERE entity IN ('entity_2', 'entity_3', 'entity_4', 'entity_5', 'entity_6', 'entity_7',
                   'entity_8', 'entity_9', 'entity_10', 'entity_11', 'entity_12', 'entity_13')
  GROUP BY entity
"""
# (These twelve give pairs whose Jaccard estimates differ around the 10th largest, so the
# example's ORDER BY j DESC LIMIT 10 picks the same pairs in any engine.)

MINUTE = "date_bin(INTERVAL '1 minute', ts)"
# Minutes 0..16 of the events as the last 70..54 minutes before now() (a view, so now() is
# the query's own: both engines select the same minutes).
RECENT = f"now() - INTERVAL '70 minutes' + ({MINUTE} - TIMESTAMP '2026-01-01T00:00:00Z')"

PER_MINUTE = {
    "hll_merge": f"SELECT {MINUTE} AS minute, hll_sketch(entity) AS users FROM events GROUP BY 1",
    "cms_merge": f"SELECT {MINUTE} AS minute, cms_sketch(event_type) AS s FROM events GROUP BY 1",
    "dd_merge": f"SELECT {RECENT} AS w, dd_sketch(value) AS s FROM events GROUP BY {MINUTE}",
    "kll_quantile": f"SELECT {MINUTE} AS w, kll_sketch(value) AS s FROM events GROUP BY 1",
    "dd_quantile": f"SELECT {MINUTE} AS w, dd_sketch(value) AS s FROM events GROUP BY 1",
}


def setup(function: str) -> str:
    extra = PER_MINUTE.get(function)
    return BASE + (f";\nCREATE VIEW per_minute AS {extra}" if extra else "")


def documented_examples() -> list[tuple[str, str]]:
    """(function, example SQL) in docs/SQL.md's order."""
    text = SQL_MD.read_text()
    found = re.findall(r"^## (\w+)\n.*?\*\*Example\*\*\n\n```sql\n(.*?)```", text, re.S | re.M)
    assert len(found) == len(hazy.functions()), "every function has one example"
    return found


EXAMPLES = documented_examples()


def test_examples_are_the_functions_examples():
    """docs/SQL.md is generated from the same Documentation that hazy.functions() carries."""
    assert [(f.name, f.example) for f in hazy.functions()] == [
        (name, sql.strip()) for name, sql in EXAMPLES
    ]


def test_per_minute_fixtures_name_documented_functions():
    assert set(PER_MINUTE) <= {name for name, _ in EXAMPLES}


@pytest.mark.parametrize("function,example", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_gives_the_cli_result(function, example, cli, tmp_path, monkeypatch):
    (body,) = statements(example)
    ctx = new_context()
    code = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--"))
    if code.lstrip().upper().startswith("COPY"):
        # The example writes a file: both engines write theirs, in their own directories.
        (tmp_path / "py").mkdir()
        monkeypatch.chdir(tmp_path / "py")
        run_python(ctx, setup(function) + ";\n" + example)
        cli.check(setup(function) + ";\n" + example)
        target = re.search(r"TO '([^']+)'", body).group(1)
        ours, theirs = pq.read_table(tmp_path / "py" / target), pq.read_table(tmp_path / target)
    else:
        ours = run_python(ctx, setup(function) + ";\n" + example)
        theirs = cli.table(setup(function), body)
    assert ours.num_rows > 0, f"{function}'s example gives no rows here: the fixture is wrong"
    assert ours.column_names == theirs.column_names
    assert rows(ours) == rows(theirs)
