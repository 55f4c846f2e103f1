"""Built-in playbooks."""

from __future__ import annotations

from nudgeflow.rules import Playbook


def default_playbooks() -> list[Playbook]:
    from nudgeflow.playbooks.career import career

    return [career]
