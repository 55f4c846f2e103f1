"""Identifiers made by the client: sortable by creation time, so nudges can be written in bulk
with their deliveries in the same statement batch, and listed with cursor pagination."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str) -> str:
    """`prefix_` + 26 characters: 48 bits of milliseconds then 80 random bits (a ULID)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return prefix + "_" + "".join(reversed(chars))
