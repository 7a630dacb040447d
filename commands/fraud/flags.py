"""Raising fraud flags: store the flag once, and tell the managers privately.

A flag and its alert are written in the transaction that saw the evidence (a click batch,
a conversion), so an alert exists exactly when its flag does; the flag's dedupe key keeps
a rule that keeps firing on the same traffic from raising (and alerting) again. A rule
that fires again on other traffic of the same affiliate and program while its flag is open
joins that flag (counted, with first and last seen) and alerts nobody again: testing your
own link from your own check page once must not fill the review queue.

Every rule builds its flag with ``new_flag``, so every dedupe key is the rule's name and
then what it is about, joined by ``:`` (``too-fast:3:T-1``, ``ip-flood:7:ab12…:1763467200``).
Flags already stored deduplicate on those exact strings; ``test_dedupe_keys`` pins them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from commands.core.reply import Field, Reply, Visibility
from commands.fraud.rules import RULE_TEXT, FraudRules
from storage import Store
from storage.fraud import NewFlag
from storage.outbox import OutgoingMessage

log = logging.getLogger(__name__)


def new_flag(
    rule: str,
    /,
    *key_parts: object,
    program_id: int | None,
    affiliate_id: int | None,
    link_id: int | None = None,
    **evidence: object,
) -> NewFlag:
    """A flag of ``rule`` about ``key_parts`` (ids, a window, a hash prefix), with evidence.

    The dedupe key is ``rule:part:part…``, each part as ``str`` shows it (an empty part
    stays an empty field), so the same traffic always gives the same key.
    """
    return NewFlag(
        dedupe_key=":".join([rule, *map(str, key_parts)]),
        rule=rule,
        program_id=program_id,
        affiliate_id=affiliate_id,
        link_id=link_id,
        evidence=evidence,
    )


async def raise_flags(
    store: Store,
    flags: Iterable[NewFlag],
    *,
    rules: FraudRules,
    now: datetime,
    conversion_id: int | None = None,
    held: bool = False,
) -> list[int]:
    """Store new flags (ignoring ones already raised, counting repeats into the open flag
    of their rule and affiliate), attach the conversion, alert about new flags.

    Returns:
        The ids of flags that are new.
    """
    raised = []
    for flag in flags:
        result = await store.fraud.raise_flag(flag, now=now)
        if result is None:
            continue
        if conversion_id is not None:
            await store.fraud.attach(result.flag_id, conversion_id, held=held)
        if not result.new:
            log.info("fraud flag %s seen again: %s %s", result.flag_id, flag.rule, flag.dedupe_key)
            continue
        raised.append(result.flag_id)
        log.warning("fraud flag %s raised: %s %s", result.flag_id, flag.rule, flag.dedupe_key)
        await store.outbox.enqueue(_alerts(result.flag_id, flag, rules), now=now)
    return raised


def describe(flag_rule: str, evidence: dict[str, object]) -> str:
    """One line of evidence for managers: the rule in words, then the counts."""
    details = ", ".join(f"{key} {value}" for key, value in sorted(evidence.items()))
    return f"{RULE_TEXT.get(flag_rule, flag_rule)} ({details})"


def _alerts(flag_id: int, flag: NewFlag, rules: FraudRules) -> list[OutgoingMessage]:
    fields = [Field("Rule", flag.rule)]
    if flag.affiliate_id is not None:
        fields.append(Field("Affiliate", f"#{flag.affiliate_id}"))
    reply = Reply(
        title=f"Fraud flag #{flag_id}",
        text=(
            f"{describe(flag.rule, flag.evidence)}\n"
            f"Review it with /fraud review {flag_id} approve|reject."
        ),
        fields=tuple(fields),
        visibility=Visibility.PRIVATE,
    )
    return [
        OutgoingMessage(
            dedupe_key=f"fraud:{flag_id}:{platform}:{kind}:{target}",
            platform=platform,
            target_kind=kind,
            target_id=target,
            payload=reply.to_json(),
        )
        for platform, target, kind in rules.alert_targets
    ]
