"""Latency histograms with geometric buckets: mergeable, and percentiles within 2%.

Bucket `i` (i >= 1) holds durations in (MIN_MS * RATIO**(i-1), MIN_MS * RATIO**i]; bucket 0
holds everything up to MIN_MS. A percentile is the upper bound of the bucket holding the
nearest-rank sample, so it is never below the true value and at most RATIO - 1 (2%) above
it. Histograms are stored as {"<bucket>": count} JSON, sparse.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

MIN_MS = 0.01
RATIO = 1.02
_LOG_RATIO = math.log(RATIO)


def bucket_of(ms: float) -> int:
    if ms <= MIN_MS:
        return 0
    index = math.ceil(math.log(ms / MIN_MS) / _LOG_RATIO)
    # Guard the float edge: the bucket's upper bound must not be below the value.
    return index + 1 if MIN_MS * RATIO**index < ms else index


def upper_bound(bucket: int) -> float:
    return MIN_MS * RATIO**bucket


def histogram(durations_ms: Iterable[float]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ms in durations_ms:
        key = str(bucket_of(ms))
        counts[key] = counts.get(key, 0) + 1
    return counts


def merge(into: dict[str, int], other: Mapping[str, int]) -> dict[str, int]:
    for key, count in other.items():
        into[key] = into.get(key, 0) + int(count)
    return into


def percentile(counts: Mapping[str, int], q: float) -> float | None:
    """The nearest-rank q-quantile (0 < q <= 1) of a histogram, as its bucket's upper bound
    rounded to 0.01 ms; None when empty."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(int(k) for k in counts):
        seen += counts[str(bucket)]
        if seen >= rank:
            return round(upper_bound(bucket), 2)
    return round(upper_bound(max(int(k) for k in counts)), 2)


def exact_percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank q-quantile of raw values (what `percentile` approximates)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]
