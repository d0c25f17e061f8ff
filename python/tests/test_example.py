"""The Python example (examples/python/uniques_from_states.py) draws its picture."""

from __future__ import annotations

import re
import struct
import subprocess
import sys

from conftest import EVENTS, REPO

EXAMPLE = REPO / "examples" / "python" / "uniques_from_states.py"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def test_example_draws_a_png_of_merged_states_against_exact(tmp_path):
    png = tmp_path / "uniques.png"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(EVENTS), str(png)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    data = png.read_bytes()
    width, height = png_size(data)
    assert (width, height) == (1100, 770)
    assert data.endswith(b"IEND\xaeB`\x82"), "a complete PNG"
    assert len(data) > 40_000, "a drawn figure, not an empty canvas"
    # The states answer within HyperLogLog's error: the largest of 202 estimates within four
    # standard errors (at p = 14, 4 x 0.81%).
    worst = float(re.search(r"largest relative error ([\d.]+)%", done.stdout).group(1))
    assert worst < 4 * 104 / 128, done.stdout
    assert "101 states" in done.stdout
