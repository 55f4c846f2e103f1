"""A timezone from what a person types: an IANA name ("Europe/Berlin", any case), a city
("Berlin", "new york", "I'm in São Paulo"), a common abbreviation ("PT", "EST": the place,
with its daylight saving), or an offset ("UTC+2", "GMT-5", "+05:30"). Pure:
`read_timezone(text)` is the IANA name or None.

Whole-hour offsets become `Etc/GMT∓N` (POSIX signs: UTC+2 is Etc/GMT-2), which never follows
daylight saving; half-hour offsets map to the one place that keeps them all year.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from zoneinfo import available_timezones

# Areas of current, geographic zone names; legacy ones (US/…, Etc/…, SystemV) lose ties.
AREAS = ("Europe", "America", "Asia", "Africa", "Australia", "Pacific", "Atlantic", "Indian")
# Big cities that are not the name of their zone.
ALIASES = {
    "san francisco": "America/Los_Angeles", "sf": "America/Los_Angeles",
    "seattle": "America/Los_Angeles", "nyc": "America/New_York",
    "washington": "America/New_York", "boston": "America/New_York",
    "miami": "America/New_York", "atlanta": "America/New_York",
    "austin": "America/Chicago", "dallas": "America/Chicago", "houston": "America/Chicago",
    "munich": "Europe/Berlin", "hamburg": "Europe/Berlin", "frankfurt": "Europe/Berlin",
    "barcelona": "Europe/Madrid", "milan": "Europe/Rome", "geneva": "Europe/Zurich",
    "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata", "bengaluru": "Asia/Kolkata", "beijing": "Asia/Shanghai",
    "melbourne": "Australia/Melbourne", "rio": "America/Sao_Paulo",
    # what people mean by these is the place, daylight saving included
    "et": "America/New_York", "est": "America/New_York", "edt": "America/New_York",
    "eastern": "America/New_York", "ct": "America/Chicago", "cst": "America/Chicago",
    "cdt": "America/Chicago", "central": "America/Chicago", "mt": "America/Denver",
    "mst": "America/Denver", "mdt": "America/Denver", "pt": "America/Los_Angeles",
    "pst": "America/Los_Angeles", "pdt": "America/Los_Angeles", "bst": "Europe/London",
    "ist": "Asia/Kolkata", "jst": "Asia/Tokyo", "aest": "Australia/Sydney",
}  # fmt: skip
# Offsets that are not whole hours, kept all year (no daylight saving) by one zone.
FRACTIONAL = {
    (1, 5, 30): "Asia/Kolkata", (1, 5, 45): "Asia/Kathmandu", (1, 4, 30): "Asia/Kabul",
    (1, 6, 30): "Asia/Yangon", (1, 9, 30): "Australia/Darwin", (1, 3, 30): "Asia/Tehran",
    (1, 8, 45): "Australia/Eucla", (-1, 9, 30): "Pacific/Marquesas",
}  # fmt: skip
UTC_WORDS = frozenset({"utc", "gmt", "z", "zulu", "utc+0", "gmt+0", "utc0", "+0", "0"})
OFFSET = re.compile(
    r"(?:utc|gmt)?\s*(?P<sign>[+\-−])\s*(?P<h>\d{1,2})(?:(?::|\.|h)?(?P<m>[0-5]\d))?(?:\s*h)?"
)
LEAD_IN = re.compile(
    r"^(?:(?:i'?m|i am|i live|we are|we're|based)\s+in|in|my time\s*zone is|time\s*zone:?|"
    r"it'?s|tz:?)\s+",
    re.IGNORECASE,
)


def read_timezone(text: str) -> str | None:
    """The IANA zone `text` names, or None when it names none."""
    said = " ".join(_plain(text).split()).strip(" .!?")
    if not said or len(said) > 64:
        return None
    said = LEAD_IN.sub("", said).strip(" .!?")
    lower = said.lower()
    city = lower.split(",")[0].strip()
    return ALIASES.get(city) or _by_offset(lower) or _by_name(lower) or _by_city(city)


def _plain(text: str) -> str:
    """Without accents ("São Paulo" → "Sao Paulo", as the zone is spelt), straight quotes."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def offset_label(name: str) -> str:
    """How to show a zone: `Etc/GMT-2` reads "UTC+2" (its POSIX sign is reversed)."""
    match = re.fullmatch(r"Etc/GMT([+-])(\d+)", name)
    if match is None:
        return name
    return f"UTC{'-' if match.group(1) == '+' else '+'}{match.group(2)}"


def _by_offset(lower: str) -> str | None:
    if lower in UTC_WORDS:
        return "UTC"
    match = OFFSET.fullmatch(lower)
    if match is None:
        return None
    sign = -1 if match.group("sign") in "-−" else 1
    hours, minutes = int(match.group("h")), int(match.group("m") or 0)
    if minutes:
        return FRACTIONAL.get((sign, hours, minutes))
    if hours == 0:
        return "UTC"
    if hours > (14 if sign > 0 else 12):
        return None
    return f"Etc/GMT{'-' if sign > 0 else '+'}{hours}"


def _by_name(lower: str) -> str | None:
    return _names().get(lower.replace(" ", "_"))


def _by_city(lower: str) -> str | None:
    return _cities().get(lower.replace("_", " "))


@cache
def _names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


@cache
def _cities() -> dict[str, str]:
    """The last part of each zone's name ("new york" → America/New_York); a city in two
    zones goes to the one in a current geographic area, then the first by name."""
    found: dict[str, str] = {}
    for name in sorted(available_timezones(), key=_preference):
        city = name.rsplit("/", 1)[-1].replace("_", " ").lower()
        found.setdefault(city, name)
    return found


def _preference(name: str) -> tuple[int, str]:
    area = name.split("/", 1)[0]
    return (0 if area in AREAS and "/" in name else 1, name)
