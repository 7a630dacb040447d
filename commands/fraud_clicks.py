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

from commands.fraud_flags import raise_flags
from commands.fraud_rules import RULE_IP_FLOOD, RULE_NET_FLOOD, RULE_RATE_SPIKE, FraudRules
from storage import Store
from storage.clicks import NewClick
from storage.fraud import CounterKey, NewFlag


async def screen_clicks(
    store: Store, batch: Sequence[NewClick], *, rules: FraudRules, now: datetime
) -> list[int]:
    """Count a batch and flag floods; returns the ids of new flags."""
    if not rules.enabled or not batch:
        return []
    counts: Counter[CounterKey] = Counter()
    for click in batch:
        window = int(click.occurred_at.timestamp()) // rules.window_seconds
        start = window * rules.window_seconds
        counts[CounterKey(click.link_id, "ip", click.ip_hash, start)] += 1
        if click.net_hash:
            counts[CounterKey(click.link_id, "net", click.net_hash, start)] += 1
        counts[CounterKey(click.link_id, "link", "", start)] += 1
    await store.fraud.add_clicks(counts)
    totals = await store.fraud.counters(counts)
    flags: list[tuple[CounterKey, str, int, int]] = []
    for key, total in totals.items():
        if key.scope == "ip" and total >= rules.clicks_per_ip:
            flags.append((key, RULE_IP_FLOOD, total, rules.clicks_per_ip))
        elif key.scope == "net" and total >= rules.clicks_per_network:
            flags.append((key, RULE_NET_FLOOD, total, rules.clicks_per_network))
        elif key.scope == "link" and total >= rules.spike_min_clicks:
            history = await store.fraud.link_history(
                key.link_id, key.window_start, rules.baseline_windows
            )
            baseline = sum(history) / len(history) if history else 0
            if history and total >= baseline * rules.spike_factor:
                flags.append((key, RULE_RATE_SPIKE, total, round(baseline)))
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
            NewFlag(
                dedupe_key=f"{rule}:{key.link_id}:{key.key_hash[:16]}:{key.window_start}",
                rule=rule,
                program_id=program_id,
                affiliate_id=affiliate_id,
                link_id=key.link_id,
                evidence=evidence,
            )
        )
    return await raise_flags(store, new_flags, rules=rules, now=now)
