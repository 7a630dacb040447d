"""Who clicked: link-preview bots versus people, browser families, hashed visitors.

Chat apps fetch every link posted in a chat to draw a preview (Telegram, Discord, Slack,
X, Facebook, WhatsApp, …); those fetches are redirected like anyone else but never counted,
or posting a link would inflate its own stats. Visitors are identified by a salted SHA-256
of their IP address: enough to count unique visitors, useless for finding anyone.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

from commands.core.text import cleaned
from commands.tracking.ip_hashes import hash_address

MAX_HOST_LENGTH = 255  # clicks.referer_host; a DNS name is at most 253

# Preview fetchers by name, then generic crawler words; matched on the lowercased agent
# with plain substring tests, which costs a few microseconds per click instead of a regex.
_BOT_WORDS = (
    "telegrambot",
    "discordbot",
    "slackbot",
    "slack-imgproxy",
    "twitterbot",
    "facebookexternalhit",
    "facebot",
    "whatsapp",
    "linkedinbot",
    "skypeuripreview",
    "embedly",
    "pinterest",
    "redditbot",
    "vkshare",
    "viber",
    "applebot",
    "googlebot",
    "bingbot",
    "yandex",
    "baiduspider",
    "duckduckbot",
    "mastodon",
    "bluesky",
    "iframely",
    "headlesschrome",
    "crawler",
    "spider",
    "preview",
    "scraper",
)
# "bot" as a word of its own (SomeBot/1.0, my-bot, a_bot) but not inside a name like Cubot.
_GENERIC_BOT = re.compile(r"(?:^|[^a-z])bot(?:[^a-z]|$)|[a-z]bot/")
# Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
_FAMILIES = (
    ("edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("opera", re.compile(r"OPR/|Opera")),
    ("samsung", re.compile(r"SamsungBrowser/")),
    ("firefox", re.compile(r"Firefox/|FxiOS/")),
    ("chrome", re.compile(r"Chrome/|CriOS/")),
    ("safari", re.compile(r"Safari/")),
)


@lru_cache(maxsize=4096)
def classify(user_agent: str) -> tuple[bool, str]:
    """(is a preview bot, browser family), cached: most clicks repeat a few agents."""
    return is_preview_bot(user_agent), user_agent_family(user_agent)


def is_preview_bot(user_agent: str) -> bool:
    """Whether a request comes from a link-preview fetcher or a crawler."""
    if not user_agent:
        return True
    lowered = user_agent.lower()
    if any(word in lowered for word in _BOT_WORDS):
        return True
    return "bot" in lowered and _GENERIC_BOT.search(lowered) is not None


def user_agent_family(user_agent: str) -> str:
    """A coarse browser family (``chrome``, ``safari``, …, ``other``) for stats."""
    for family, pattern in _FAMILIES:
        if pattern.search(user_agent):
            return family
    return "other"


def referer_host(referer: str | None) -> str | None:
    """Only the host of the referring page: paths can carry personal data."""
    if not referer:
        return None
    try:
        host = urlsplit(referer).hostname
    except ValueError:
        return None
    # The header's bytes need not be UTF-8 (aiohttp keeps them as surrogates): what is
    # stored is the host made storable, or nothing.
    return (cleaned(host, MAX_HOST_LENGTH) if host else "") or None


# One definition of the visitor hash, shared with postbacks' customer IPs and the link
# check page's sightings: they must hash an address alike to be compared.
hash_ip = hash_address


def hash_network(salt: str, address: str) -> str:
    """The salted SHA-256 of the address's network (/24 for IPv4, /48 for IPv6), hex.

    Fraud rules count clicks per network as well as per address: a flood spread over a
    block of addresses is still one source. Anything that is not an address hashes as is.
    Dotted-quad IPv4, nearly every click, takes a string fast path: parsing it with
    ``ipaddress`` cost 10 µs, a third of a whole redirect.
    """
    network = _ipv4_network(address)
    if network is None:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return hash_ip(salt, address)
        prefix = 24 if parsed.version == 4 else 48
        network = str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))
    return hash_ip(salt, f"net:{network}")


def _ipv4_network(address: str) -> str | None:
    """``a.b.c.0/24`` for a canonical dotted-quad IPv4 address, else ``None`` (the caller
    then lets ``ipaddress`` decide, so both paths agree on every input)."""
    parts = address.split(".")
    if len(parts) != 4:
        return None
    for part in parts:
        if not (part.isascii() and part.isdigit()) or len(part) > 3:
            return None
        if (part[0] == "0" and len(part) > 1) or int(part) > 255:
            return None
    return f"{parts[0]}.{parts[1]}.{parts[2]}.0/24"
