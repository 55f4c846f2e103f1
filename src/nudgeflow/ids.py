"""Identifiers made by the client: sortable by creation time, so nudges can be written in bulk
with their deliveries in the same statement batch, and listed with cursor pagination."""

from __future__ import annotations

import base64
import random
import time

# Base32 in an alphabet that sorts as the values do (Crockford's, lower case).
_SORTABLE = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz"
)


def new_id(prefix: str) -> str:
    """`prefix_` + 24 characters: 48 bits of milliseconds then 72 random bits, so ids sort by
    creation time and two made in the same millisecond still differ. Not secret: what grants
    access is a signed token, never knowing an id."""
    raw = (time.time_ns() // 1_000_000 << 72 | random.getrandbits(72)).to_bytes(15, "big")
    return prefix + "_" + base64.b32encode(raw).translate(_SORTABLE).decode()
