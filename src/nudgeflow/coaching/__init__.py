"""Coaching messages: when each user's next one is due (`cadence`), and what it says
(`base` holds the interfaces and records; `templates` and `llm` are the two generators)."""
