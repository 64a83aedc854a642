"""What the search benchmarks share: the real queries, a deterministic sample, percentiles."""

from __future__ import annotations

import random
from pathlib import Path

# CI and sessions keep a copy of the shared folder beside the repository
REAL_QUERIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "taobao-queries.tsv"


def real_queries(count: int, seed: int) -> list[str]:
    """A deterministic sample of the real Taobao queries; empty when the file is absent."""
    if not REAL_QUERIES.is_file():
        return []
    lines = REAL_QUERIES.read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1] for line in random.Random(seed).sample(lines, count)]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
