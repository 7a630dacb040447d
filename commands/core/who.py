"""Resolving ``<who>`` in manager commands to one affiliate, across platforms.

Adapters pass whatever the platform gives them as text, and these forms are understood:

- ``<@123>`` or ``<@!123>``: a Discord mention (the Discord adapter passes user options so);
- ``telegram:42``, ``discord:123``, ``console:alice``: an account on a named platform;
- ``#17``: an affiliate id, as shown by /affiliates;
- ``@name``: an account user name or display name, or an alias;
- a bare number: a platform user id (the caller's platform first, then any);
- anything else: an alias, then an account display name.

A name that fits several affiliates is refused with the candidates, never guessed.
"""

from __future__ import annotations

import re

from commands.core.errors import NotFound, Refused
from commands.core.registry import Param, ParamKind
from storage import Store
from storage.affiliates import Affiliate

PLATFORMS = ("discord", "telegram", "console")
_MENTION = re.compile(r"^<@!?(\d{1,20})>$")
_AFFILIATE_ID = re.compile(r"^#(\d{1,12})$")


def who_param(
    description: str = "The affiliate: a mention, platform user id, alias or #id",
) -> Param:
    """The shared ``<who>`` parameter of manager commands."""
    return Param("who", description, kind=ParamKind.USER, max_length=100, autocomplete="affiliate")


def label(affiliate: Affiliate) -> str:
    """How managers see an affiliate: ``#7 Ann (alias ann_deals)``."""
    alias = f" (alias {affiliate.alias})" if affiliate.alias else ""
    return f"#{affiliate.id} {affiliate.display_name}{alias}"


async def resolve(store: Store, text: str, *, platform: str) -> Affiliate:
    """The one affiliate ``text`` names.

    Raises:
        NotFound: nobody matches.
        Refused: several affiliates match; the message lists them.
    """
    raw = text.strip()
    return await _single(store, raw, await _candidates(store, raw, platform))


async def _candidates(store: Store, raw: str, platform: str) -> list[Affiliate]:
    """Affiliates ``raw`` could mean, trying the forms from most to least specific."""
    if match := _MENTION.match(raw):
        return await _by_account(store, "discord", match.group(1))
    if match := _AFFILIATE_ID.match(raw):
        return await _by_id(store, int(match.group(1)))
    prefix, colon, rest = raw.partition(":")
    if colon and prefix.lower() in PLATFORMS and rest:
        return await _by_account(store, prefix.lower(), rest)
    name = raw.removeprefix("@")
    if raw.isdigit() or raw.startswith("@"):
        own = await _by_account(store, platform, name)
        if own:
            return own
        if raw.isdigit():
            return await _by_user_id(store, raw)
    alias = await store.affiliates.by_alias(name)
    matches = [alias] if alias is not None else []
    if not matches and raw.startswith("@"):
        matches = await _by_user_id(store, name)
    if not matches:
        for identity in await store.affiliates.find_identities(display_name=name):
            matches += await _by_id(store, identity.affiliate_id)
    return matches


async def _by_id(store: Store, affiliate_id: int) -> list[Affiliate]:
    found = await store.affiliates.get(affiliate_id)
    return [found] if found else []


async def _by_account(store: Store, platform: str, user_id: str) -> list[Affiliate]:
    found = await store.affiliates.by_identity(platform, user_id)
    return [found] if found else []


async def _by_user_id(store: Store, user_id: str) -> list[Affiliate]:
    matches = []
    for identity in await store.affiliates.find_identities(platform_user_id=user_id):
        affiliate = await store.affiliates.get(identity.affiliate_id)
        if affiliate is not None:
            matches.append(affiliate)
    return matches


async def _single(store: Store, raw: str, matches: list[Affiliate]) -> Affiliate:
    unique = {affiliate.id: affiliate for affiliate in matches}
    if not unique:
        raise NotFound(
            f"No affiliate matches {raw!r}. Name them by mention, platform user id "
            "(telegram:42), alias or #id; /affiliates lists them."
        )
    if len(unique) > 1:
        candidates = []
        for affiliate in unique.values():
            platforms = sorted(
                {i.platform for i in await store.affiliates.identities_of(affiliate.id)}
            )
            candidates.append(f"{label(affiliate)} on {', '.join(platforms) or 'no platform'}")
        raise Refused(
            f"Several affiliates match {raw!r}: "
            + "; ".join(candidates)
            + ". Use the #id to pick one."
        )
    return next(iter(unique.values()))
