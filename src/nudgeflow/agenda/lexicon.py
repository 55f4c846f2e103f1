"""The words the grammar knows: numbers, days, months, parts of the day, zones, and the
nouns that make a time a meeting. Data only, so the patterns elsewhere stay readable."""

from __future__ import annotations

from datetime import timedelta

UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
HOUR_WORDS = [w for w, n in UNITS.items() if 1 <= n <= 12]

WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tues": 1, "tue": 1, "wednesday": 2, "weds": 2,
    "wed": 2, "thursday": 3, "thurs": 3, "thur": 3, "thu": 3, "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}  # fmt: skip
MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11,
    "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip

# Relative days, typos included: what people type on a phone.
TODAY = ("today", "2day", "tday")
TOMORROW = ("tomorrow", "tomorow", "tommorow", "tommorrow", "tomorro", "tmrw", "tmrow",
            "tmr", "tmw", "tomm", "2moro", "2morrow", "2mrw")  # fmt: skip
YESTERDAY = ("yesterday", "yday", "yest")

# Parts of the day: the hour a meeting "in the morning" gets, and how a bare hour reads in
# it ("at 8 tonight" is 20:00). The issue fixes morning 08:00, afternoon 14:00, evening 19:00.
PARTS: dict[str, tuple[int, int, str]] = {
    "early morning": (7, 0, "am"), "morning": (8, 0, "am"), "late morning": (10, 0, "am"),
    "first thing": (9, 0, "am"), "lunch": (12, 0, "lunch"), "lunchtime": (12, 0, "lunch"),
    "early afternoon": (13, 0, "pm"), "afternoon": (14, 0, "pm"),
    "late afternoon": (16, 0, "pm"), "end of day": (17, 0, "pm"), "eod": (17, 0, "pm"),
    "close of business": (17, 0, "pm"), "cob": (17, 0, "pm"),
    "early evening": (18, 0, "pm"), "evening": (19, 0, "pm"), "late evening": (21, 0, "pm"),
    "tonight": (19, 0, "pm"), "tonite": (19, 0, "pm"), "late tonight": (21, 0, "pm"),
    "night": (21, 0, "pm"), "late night": (22, 0, "pm"),
}  # fmt: skip

# Zones people write. Generic and standard-time names map to the real zone, so "3pm PT" in
# July is PDT: people write "EST" all year for New York time. Daylight-only names (EDT,
# CEST, BST, ...) are only ever meant as that offset, so they stay fixed.
ZONE_NAMES = {
    "pt": "America/Los_Angeles", "pst": "America/Los_Angeles", "pacific": "America/Los_Angeles",
    "mt": "America/Denver", "mst": "America/Denver", "mountain": "America/Denver",
    "ct": "America/Chicago", "cst": "America/Chicago", "central": "America/Chicago",
    "et": "America/New_York", "est": "America/New_York", "eastern": "America/New_York",
    "cet": "Europe/Berlin", "wet": "Europe/Lisbon", "eet": "Europe/Athens",
    "ist": "Asia/Kolkata", "jst": "Asia/Tokyo", "kst": "Asia/Seoul", "sgt": "Asia/Singapore",
    "hkt": "Asia/Hong_Kong", "aest": "Australia/Sydney", "nzst": "Pacific/Auckland",
    "msk": "Europe/Moscow", "gmt": "UTC", "utc": "UTC", "z": "UTC",
}  # fmt: skip
ZONE_OFFSETS = {
    "pdt": -7.0, "mdt": -6.0, "cdt": -5.0, "edt": -4.0, "bst": 1.0, "cest": 2.0, "west": 1.0,
    "eest": 3.0, "aedt": 11.0, "nzdt": 13.0,
}  # fmt: skip
CITY_ZONES = {
    "london": "Europe/London", "uk": "Europe/London", "berlin": "Europe/Berlin",
    "paris": "Europe/Paris", "madrid": "Europe/Madrid", "amsterdam": "Europe/Amsterdam",
    "new york": "America/New_York", "ny": "America/New_York", "nyc": "America/New_York",
    "la": "America/Los_Angeles", "sf": "America/Los_Angeles", "seattle": "America/Los_Angeles",
    "chicago": "America/Chicago", "denver": "America/Denver", "tokyo": "Asia/Tokyo",
    "sydney": "Australia/Sydney", "india": "Asia/Kolkata", "singapore": "Asia/Singapore",
    "lisbon": "Europe/Lisbon", "dublin": "Europe/Dublin", "rome": "Europe/Rome",
    "stockholm": "Europe/Stockholm", "warsaw": "Europe/Warsaw", "toronto": "America/Toronto",
    "vancouver": "America/Vancouver", "mexico city": "America/Mexico_City",
    "sao paulo": "America/Sao_Paulo", "dubai": "Asia/Dubai", "bangalore": "Asia/Kolkata",
    "shanghai": "Asia/Shanghai", "hong kong": "Asia/Hong_Kong", "seoul": "Asia/Seoul",
    "melbourne": "Australia/Melbourne", "auckland": "Pacific/Auckland",
}  # fmt: skip

UNIT_SECONDS = {
    "second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "mn": 60, "m": 60,
    "hour": 3600, "hr": 3600, "h": 3600, "day": 86400, "d": 86400, "week": 604800, "wk": 604800,
}  # fmt: skip
FUZZY_COUNTS = {"a": 1.0, "an": 1.0, "one": 1.0, "a couple of": 2.0, "a couple": 2.0,
                "couple of": 2.0, "a pair of": 2.0, "a few": 3.0, "few": 3.0,
                "half an": 0.5, "half a": 0.5, "a half": 0.5, "a quarter of an": 0.25,
                "three-quarters of an": 0.75, "three quarters of an": 0.75}  # fmt: skip


def unit_delta(unit: str, count: float) -> timedelta:
    """'mins' x 30 -> 30 minutes; plural and abbreviated units share one table."""
    word = unit.lower().rstrip(".")
    for key in (word, word.rstrip("s"), word[:3], word[:1]):
        if key in UNIT_SECONDS:
            return timedelta(seconds=UNIT_SECONDS[key] * count)
    raise KeyError(unit)


# What makes a time a meeting, and the title it gives. Longer forms first so that
# "sprint planning" wins over "planning". The value is the title's head word.
NOUNS = (
    "one-on-one", "one on one", "1-on-1", "1 on 1", "1on1", "1:1", "1-1", "1:1s",
    "all-hands", "all hands", "town hall", "stand-up", "standup", "stand up", "scrum",
    "meeting", "meetings", "mtg", "mtgs", "meetign", "meating", "meetup",
    "call", "calls", "phone call", "video call", "zoom", "teams call", "facetime", "hangout",
    "sync", "sync-up", "syncup", "check-in", "checkin", "catch-up", "catchup", "catch up",
    "chat", "huddle", "interview", "interviews", "appointment", "appt", "appt.",
    "dentist", "dentsit", "doctor", "doctor's", "dr", "gp", "vet", "physio", "therapy",
    "therapist", "pediatrician", "checkup", "check-up", "haircut",
    "review", "retro", "retrospective", "planning", "demo", "presentation", "kickoff",
    "kick-off", "workshop", "webinar", "session", "seminar", "training", "lecture", "class",
    "conference", "offsite", "standup meeting", "briefing", "debrief", "walkthrough",
    "lunch", "brunch", "dinner", "breakfast", "coffee", "drinks", "party", "reunion",
    "viewing", "inspection", "consultation", "reservation", "happy hour", "phone screen",
    "screening", "office hours", "date night", "playdate", "tutoring", "lesson",
)  # fmt: skip
# Nouns that only mean an event next to a time ("coffee at 10", not "coffee is cold").
WEAK_NOUNS = frozenset({"chat", "coffee", "drinks", "party", "class", "training", "review",
                        "planning", "session", "lunch", "dinner", "breakfast", "brunch",
                        "reservation", "viewing", "inspection", "conference"})  # fmt: skip
# A bare hour for these reads in their part of the day: "dinner at 7:45" is 19:45.
NOUN_PARTS = {"dinner": "evening", "drinks": "evening", "party": "evening",
              "happy hour": "evening", "date night": "evening", "breakfast": "morning",
              "brunch": "morning", "lunch": "lunch"}  # fmt: skip
CANONICAL = {"mtg": "meeting", "mtgs": "meeting", "meetings": "meeting", "meetign": "meeting",
             "meating": "meeting", "appt": "appointment", "appt.": "appointment",
             "dentsit": "dentist", "calls": "call", "interviews": "interview", "1:1s": "1:1",
             "stand-up": "standup", "stand up": "standup"}  # fmt: skip
