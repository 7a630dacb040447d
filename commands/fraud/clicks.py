"""Click flood rules, run once per click batch inside the batch's transaction.

Each batch adds its clicks to per-window counters (per visitor hash, per /24 hash and per
link) with one upsert, then reads back only the counters it touched. A counter at or over
its ceiling raises a flag whose key names the link, the hash and the window, so the flag
is raised once per window. The link's own baseline is the mean of its previous windows,
read from the same counters: no rule ever rescans ``clicks``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from commands.fraud.flags import new_flag, raise_flags
from commands.fraud.rules import RULE_IP_FLOOD, RULE_NET_FLOOD, RULE_RATE_SPIKE, FraudRules
from storage import Store
from storage.clicks import MICROS_PER_SECOND, NewClick
from storage.fraud import CounterKey


class ScreeningMemory:
    """What one click writer remembers between batches.

    Each link's click baseline per window: the mean of the windows *before* the current
    one, which no longer change, so one read per link and window is enough however many
    batches arrive. And the oldest window whose visitor counters are still kept, so they
    are pruned once per window, not once per batch.
    """

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._known: dict[tuple[int, int], list[int]] = {}
        self.pruned_before = 0

    async def history(
        self, store: Store, link_id: int, window_start: int, windows: int
    ) -> list[int]:
        key = (link_id, window_start)
        found = self._known.get(key)
        if found is None:
            found = await store.fraud.link_history(link_id, window_start, windows)
            if len(self._known) >= self.MAX_ENTRIES:
                self._known.clear()
            self._known[key] = found
        return found


# Counters key visitors and networks by the first 64 bits of their hash: enough to tell
# apart every visitor of a link in a window, and an index a quarter the size of one on
# the whole hash, which made SQLite's counter upsert 40 % cheaper per counter. Flags
# already name the hash by these 16 characters.
COUNTER_HASH_CHARS = 16

Crossing = tuple[CounterKey, str, int, int]  # counter, rule, total, threshold or baseline


async def screen_clicks(
    store: Store,
    batch: Sequence[NewClick],
    *,
    rules: FraudRules,
    now: datetime,
    memory: ScreeningMemory | None = None,
) -> list[int]:
    """Count a batch and flag floods; returns the ids of new flags.

    A rule is judged only when this batch carried a counter across its threshold, so a
    flood already flagged in this window costs nothing more on each later batch. Once a
    new window begins, the visitor counters of the windows before the last are deleted.
    """
    if not rules.enabled or not batch:
        return []
    memory = memory or ScreeningMemory()
    counts = _count(batch, rules.window_seconds)
    totals = await store.fraud.add_clicks(counts)
    flags: list[Crossing] = []
    for key, total in totals.items():
        before = total - counts[key]
        if key.scope == "link":
            crossing = await _spike(store, key, before, total, rules, memory)
        else:
            crossing = _flood(key, before, total, rules)
        if crossing is not None:
            flags.append(crossing)
    await _prune(store, max(key.window_start for key in counts), rules, memory)
    if not flags:
        return []
    owners = await store.fraud.link_owners(key.link_id for key, *_ in flags)
    new_flags = []
    for key, rule, total, limit in flags:
        affiliate_id, program_id = owners.get(key.link_id, (None, None))
        evidence: dict[str, object] = {
            "clicks": total,
            "threshold" if rule != RULE_RATE_SPIKE else "baseline": limit,
            "window_start": datetime.fromtimestamp(key.window_start, now.tzinfo).isoformat(),
            "window_seconds": rules.window_seconds,
        }
        if key.key_hash:
            evidence["hash"] = key.key_hash[:16]
        new_flags.append(
            new_flag(
                rule,
                key.link_id,
                key.key_hash[:16],
                key.window_start,
                program_id=program_id,
                affiliate_id=affiliate_id,
                link_id=key.link_id,
                **evidence,
            )
        )
    return await raise_flags(store, new_flags, rules=rules, now=now)


def _count(batch: Sequence[NewClick], window_seconds: int) -> Counter[CounterKey]:
    """The batch's clicks per (link, visitor), (link, /24) and link, per window.

    Tallied on plain tuples first and turned into counter keys once per distinct visitor:
    building three keys per click cost a third of the screening.
    """
    visits: Counter[tuple[int, str, str | None, int]] = Counter()
    window_micros = window_seconds * MICROS_PER_SECOND
    for click in batch:
        start = click.micros // window_micros * window_seconds
        visits[click.link_id, click.ip_hash, click.net_hash, start] += 1
    counts: Counter[CounterKey] = Counter()
    for (link_id, ip_hash, net_hash, start), n in visits.items():
        counts[CounterKey(link_id, "ip", ip_hash[:COUNTER_HASH_CHARS], start)] += n
        if net_hash:
            counts[CounterKey(link_id, "net", net_hash[:COUNTER_HASH_CHARS], start)] += n
        counts[CounterKey(link_id, "link", "", start)] += n
    return counts


def _flood(key: CounterKey, before: int, total: int, rules: FraudRules) -> Crossing | None:
    """The flood rule a visitor or network counter's step from ``before`` to ``total``
    crossed, if any (no await: a busy batch has one or two such counters per visitor)."""
    if key.scope == "ip":
        if before < rules.clicks_per_ip <= total:
            return key, RULE_IP_FLOOD, total, rules.clicks_per_ip
    elif key.scope == "net" and before < rules.clicks_per_network <= total:
        return key, RULE_NET_FLOOD, total, rules.clicks_per_network
    return None


async def _spike(
    store: Store,
    key: CounterKey,
    before: int,
    total: int,
    rules: FraudRules,
    memory: ScreeningMemory,
) -> Crossing | None:
    """The spike a link counter's step crossed: far above the link's own baseline."""
    if total < rules.spike_min_clicks:
        return None
    history = await memory.history(store, key.link_id, key.window_start, rules.baseline_windows)
    if history:  # a new link has no baseline to be far above
        baseline = sum(history) / len(history)
        threshold = max(rules.spike_min_clicks, baseline * rules.spike_factor)
        if before < threshold <= total:
            return key, RULE_RATE_SPIKE, total, round(baseline)
    return None


async def _prune(store: Store, newest: int, rules: FraudRules, memory: ScreeningMemory) -> None:
    """Delete visitor counters older than the previous window, once per window.

    The previous window's stay: a batch flushed just after the hour still carries some
    clicks from the hour before, and those must add to that window's counters.
    """
    keep_from = newest - rules.window_seconds
    if keep_from > memory.pruned_before:
        await store.fraud.prune_visitor_counters(keep_from)
        memory.pruned_before = keep_from
