"""The README's "From Python" walk-through runs as written, and its claim holds: `hazy sql`
merges the states it wrote to the same number."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO, new_context


def walk_through() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## From Python", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_readme_walk_through_runs_and_the_cli_merges_its_states(tmp_path, cli):
    (tmp_path / "data").symlink_to(REPO / "data")
    done = subprocess.run(
        [sys.executable, "-c", walk_through()], cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "list<item: struct<item: string_view" in done.stdout
    states = tmp_path / "per_minute.parquet"
    assert states.exists()

    ctx = new_context()
    ctx.register_parquet("per_minute", str(states))
    ours = ctx.sql("SELECT hll_estimate(hll_merge(users)) AS n FROM per_minute").to_pydict()["n"]
    theirs = cli.check(f"SELECT hll_estimate(hll_merge(users)) AS n FROM '{states}'")
    assert theirs.splitlines() == ["n", str(ours[0])]
    assert str(ours[0]) in done.stdout, "the walk-through prints the merged estimate"
