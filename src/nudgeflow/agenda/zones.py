"""Zones named in the text: PT, ET, CET, UTC+2, GMT-5, "London time", "pacific time".
Real IANA zones where the name means a place, so daylight saving comes out right."""

from __future__ import annotations

import re
from datetime import timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

from nudgeflow.agenda.clock import Rule
from nudgeflow.agenda.lexicon import CITY_ZONES, ZONE_NAMES, ZONE_OFFSETS
from nudgeflow.agenda.values import Atom

ABBREVIATIONS = "|".join(sorted((k for k in {**ZONE_NAMES, **ZONE_OFFSETS} if len(k) > 1), key=len, reverse=True))  # fmt: skip
CITIES = "|".join(sorted((re.escape(c) for c in CITY_ZONES), key=len, reverse=True))


@cache
def real_zone(name: str) -> ZoneInfo:
    """Zones kept alive: ZoneInfo's own cache lets unused zones go, and reading one back
    from disk costs milliseconds."""
    return ZoneInfo(name)


def fixed(hours: float) -> tzinfo:
    return timezone(timedelta(hours=hours))


def abbreviation(m: re.Match[str], text: str) -> Atom | None:
    name = m["z"].lower()
    if m["off"]:
        if name not in ("utc", "gmt"):
            return None
        sign = -1 if m["off"].lstrip().startswith("-") else 1
        digits = re.sub(r"[^\d]", "", m["off"])
        hours = int(digits[:-2] or 0) + int(digits[-2:]) / 60 if len(digits) > 2 else int(digits)
        if hours > 14:
            return None
        return Atom("zone", m.start(), m.end(), zone=fixed(sign * hours))
    if name in ZONE_OFFSETS:
        return Atom("zone", m.start(), m.end(), zone=fixed(ZONE_OFFSETS[name]))
    return Atom("zone", m.start(), m.end(), zone=real_zone(ZONE_NAMES[name]))


def place(m: re.Match[str], text: str) -> Atom | None:
    key = " ".join((m["city"] or m["region"]).lower().split())
    return Atom("zone", m.start(), m.end(), zone=real_zone(CITY_ZONES.get(key) or ZONE_NAMES[key]))


RULES: list[tuple[str, Rule]] = [
    (rf"\(?(?<![\w])(?P<z>{ABBREVIATIONS})\b(?P<off>\s?[+-]\s?\d{{1,2}}(?::?\d{{2}})?)?\)?", abbreviation),
    (rf"\b(?:(?P<city>{CITIES})|(?P<region>pacific|eastern|central|mountain))"
     r"(?:\s+(?:standard|daylight))?\s+time\b", place),
    (r"\b(?P<region>pacific|eastern)\b", place),
]  # fmt: skip
