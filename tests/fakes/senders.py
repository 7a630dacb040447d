"""An in-memory ``Sender`` for dispatcher tests: records deliveries, fails on script."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from bot.adapters.delivery import DeliveryError, TargetKind
from commands.core.reply import Reply


@dataclass
class RecordingSender:
    """Records every delivery; ``script[target_id]`` lists errors to raise first, in order
    (``None`` in the list means succeed that time); ``always`` errors never stop."""

    platform: str = "telegram"
    delay: float = 0.0
    script: dict[str, list[DeliveryError | None]] = field(default_factory=dict)
    always: dict[str, DeliveryError] = field(default_factory=dict)
    delivered: list[tuple[TargetKind, str, Reply, str]] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)

    async def send(
        self, target_kind: TargetKind, target_id: str, reply: Reply, *, dedupe_key: str
    ) -> None:
        self.requests[target_id] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if target_id in self.always:
            raise self.always[target_id]
        planned = self.script.get(target_id)
        if planned:
            error = planned.pop(0)
            if error is not None:
                raise error
        self.delivered.append((target_kind, target_id, reply, dedupe_key))

    @property
    def keys(self) -> Counter[str]:
        return Counter(key for *_, key in self.delivered)
