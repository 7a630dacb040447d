"""Counters for ``GET /metrics`` in the Prometheus text format (version 0.0.4).

Written by hand rather than with ``prometheus_client``: a handful of counters, one gauge
and one histogram do not justify a dependency and its process-global registry (tests run
several servers in one process).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

FLUSH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1


class Metrics:
    """One server's counters; ``render`` produces the exposition text."""

    def __init__(self) -> None:
        self.redirects: Counter[str] = Counter()
        self.clicks: Counter[str] = Counter()
        self.postbacks: Counter[str] = Counter()
        self.clicks_written = 0
        self.click_write_failures = 0
        self.rate_limited = 0
        self.flush_seconds = Histogram(FLUSH_BUCKETS)
        self.buffer_depth: Callable[[], int] = lambda: 0

    def render(self) -> str:
        lines: list[str] = []
        _counter(lines, "affbot_redirects_total", "Redirects answered, by outcome.", "outcome",
                 self.redirects)  # fmt: skip
        _counter(lines, "affbot_clicks_total", "Clicks seen, by whether they were counted.",
                 "kind", self.clicks)  # fmt: skip
        _counter(lines, "affbot_postbacks_total", "Conversion postbacks, by result.", "result",
                 self.postbacks)  # fmt: skip
        lines += [
            "# HELP affbot_clicks_written_total Clicks written to the database.",
            "# TYPE affbot_clicks_written_total counter",
            f"affbot_clicks_written_total {self.clicks_written}",
            "# HELP affbot_click_write_failures_total Click batches that failed to write.",
            "# TYPE affbot_click_write_failures_total counter",
            f"affbot_click_write_failures_total {self.click_write_failures}",
            "# HELP affbot_rate_limited_total Requests answered 429 by the per-address limits.",
            "# TYPE affbot_rate_limited_total counter",
            f"affbot_rate_limited_total {self.rate_limited}",
            "# HELP affbot_click_buffer_depth Clicks waiting in memory to be written.",
            "# TYPE affbot_click_buffer_depth gauge",
            f"affbot_click_buffer_depth {self.buffer_depth()}",
            "# HELP affbot_click_flush_seconds Time to write one batch of clicks.",
            "# TYPE affbot_click_flush_seconds histogram",
        ]
        histogram = self.flush_seconds
        for bound, count in zip(histogram.buckets, histogram.counts, strict=True):
            lines.append(f'affbot_click_flush_seconds_bucket{{le="{bound}"}} {count}')
        lines += [
            f'affbot_click_flush_seconds_bucket{{le="+Inf"}} {histogram.total}',
            f"affbot_click_flush_seconds_sum {histogram.sum:.6f}",
            f"affbot_click_flush_seconds_count {histogram.total}",
        ]
        return "\n".join(lines) + "\n"


def _counter(
    lines: list[str], name: str, description: str, label: str, values: Counter[str]
) -> None:
    lines.append(f"# HELP {name} {description}")
    lines.append(f"# TYPE {name} counter")
    for value, count in sorted(values.items()):
        lines.append(f'{name}{{{label}="{value}"}} {count}')
