"""Counters for ``GET /metrics``, exposed through ``prometheus_client``.

The handlers bump plain integers and ``collections.Counter`` entries: the redirect is the
hottest path in the product, and ``prometheus_client``'s own ``Counter.inc`` takes a lock
on every call. ``Metrics`` is instead a custom collector that turns those numbers into
metric families only when ``/metrics`` is scraped. Each ``Metrics`` has its own
``CollectorRegistry``, never the process-global default one: tests run several tracking
servers in one process, and each must report only its own counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

FLUSH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    """Cumulative bucket counts, kept as plain numbers until a scrape reads them."""

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


class Metrics(Collector):
    """One server's counters; ``render`` produces the exposition text of its registry."""

    def __init__(self) -> None:
        self.redirects: Counter[str] = Counter()
        self.clicks: Counter[str] = Counter()
        self.postbacks: Counter[str] = Counter()
        self.clicks_written = 0
        self.click_write_failures = 0
        self.clicks_quarantined: Counter[str] = Counter()  # refused rows set aside, by kind
        self.click_backpressure_waits = 0
        self.click_backpressure_timeouts = 0
        self.rate_limited = 0
        self.flush_seconds = Histogram(FLUSH_BUCKETS)
        self.buffer_depth: Callable[[], int] = lambda: 0
        self.buffer_oldest_seconds: Callable[[], float] = lambda: 0.0
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def render(self) -> bytes:
        """The text format that ``prometheus_client.CONTENT_TYPE_LATEST`` names."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        yield _labelled(
            "affbot_redirects_total", "Redirects answered, by outcome.", "outcome", self.redirects
        )
        yield _labelled(
            "affbot_clicks_total",
            "Clicks seen, by whether they were counted.",
            "kind",
            self.clicks,
        )
        yield _labelled(
            "affbot_postbacks_total", "Conversion postbacks, by result.", "result", self.postbacks
        )
        yield CounterMetricFamily(
            "affbot_clicks_written_total",
            "Clicks written to the database.",
            value=self.clicks_written,
        )
        yield CounterMetricFamily(
            "affbot_click_write_failures_total",
            "Click batches that failed to write.",
            value=self.click_write_failures,
        )
        yield _labelled(
            "affbot_clicks_quarantined_total",
            "Clicks the database refused, set aside so the rest of their batch is written.",
            "kind",
            self.clicks_quarantined,
        )
        yield CounterMetricFamily(
            "affbot_click_backpressure_waits_total",
            "Redirects that waited for the click writer to catch up before answering.",
            value=self.click_backpressure_waits,
        )
        yield CounterMetricFamily(
            "affbot_click_backpressure_timeouts_total",
            "Redirects answered after a flush window of waiting for a stalled click writer.",
            value=self.click_backpressure_timeouts,
        )
        yield CounterMetricFamily(
            "affbot_rate_limited_total",
            "Requests answered 429 by the per-address limits.",
            value=self.rate_limited,
        )
        yield GaugeMetricFamily(
            "affbot_click_buffer_depth",
            "Clicks waiting in memory to be written.",
            value=self.buffer_depth(),
        )
        yield GaugeMetricFamily(
            "affbot_click_buffer_oldest_seconds",
            "Age of the oldest click not yet written (what a kill -9 would lose).",
            value=self.buffer_oldest_seconds(),
        )
        histogram = self.flush_seconds
        buckets = [
            (str(bound), count)
            for bound, count in zip(histogram.buckets, histogram.counts, strict=True)
        ]
        buckets.append(("+Inf", histogram.total))
        yield HistogramMetricFamily(
            "affbot_click_flush_seconds",
            "Time to write one batch of clicks.",
            buckets=buckets,
            sum_value=histogram.sum,
        )


def _labelled(name: str, description: str, label: str, values: Counter[str]) -> Metric:
    family = CounterMetricFamily(name, description, labels=[label])
    for value, count in sorted(values.items()):
        family.add_metric([value], count)
    return family
