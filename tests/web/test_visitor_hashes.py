"""The /24 hash's string fast path agrees with ``ipaddress`` on every input.

Fraud counters key on these hashes, so a fast path that disagreed with the careful one
would split one network's clicks over two counters (or merge two networks).
"""

from __future__ import annotations

import ipaddress

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.web.visitors import hash_ip, hash_network

SALT = "salt"


def careful(salt: str, address: str) -> str:
    """The reference: what ``hash_network`` computed before the fast path."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return hash_ip(salt, address)
    prefix = 24 if parsed.version == 4 else 48
    return hash_ip(salt, f"net:{ipaddress.ip_network(f'{parsed}/{prefix}', strict=False)}")


octet = st.one_of(
    st.integers(0, 300).map(str),
    st.text("0123456789", min_size=1, max_size=4),
    st.sampled_from(["", "-1", "+1", " 1", "٣", "1e2", "0x1"]),
)


@settings(max_examples=500)
@given(st.lists(octet, min_size=1, max_size=6).map(".".join))
@example("1.2.3.4")
@example("01.2.3.4")
@example("1.2.3.004")
@example("255.255.255.255")
@example("256.0.0.1")
@example("::ffff:1.2.3.4")
@example("2001:db8::1")
@example("")
def test_fast_path_matches_ipaddress(address: str) -> None:
    assert hash_network(SALT, address) == careful(SALT, address)


@given(st.ip_addresses())
def test_real_addresses_match(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert hash_network(SALT, str(address)) == careful(SALT, str(address))


def test_one_network_one_hash() -> None:
    assert hash_network(SALT, "203.0.113.7") == hash_network(SALT, "203.0.113.200")
    assert hash_network(SALT, "203.0.113.7") != hash_network(SALT, "203.0.114.7")
