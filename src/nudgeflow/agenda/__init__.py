"""The agenda: meetings read from what users write, kept as schedule entries and reminded
by the agenda playbook. `extract` is the grammar's entry point; it loads on first use."""

from __future__ import annotations

from nudgeflow.agenda.expression import parse_time_expression
from nudgeflow.agenda.extract import Meeting, extract

__all__ = ["Meeting", "extract", "parse_time_expression"]
