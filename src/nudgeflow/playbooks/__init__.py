"""Playbooks: the built-in ones, and loading the configured ones by import path."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from nudgeflow.errors import ConfigError
from nudgeflow.rules import Playbook


def load_playbooks(paths: Sequence[str]) -> list[Playbook]:
    """The playbooks named `module:attribute`, as the `playbooks` setting lists them."""
    return [_load(path) for path in paths]


def _load(path: str) -> Playbook:
    module_name, _, attribute = path.partition(":")
    try:
        found = getattr(import_module(module_name), attribute)
    except ImportError as exc:
        raise ConfigError("playbooks", f"cannot import {module_name}: {exc}") from None
    except AttributeError:
        raise ConfigError("playbooks", f"{module_name} has no {attribute}") from None
    if not isinstance(found, Playbook):
        raise ConfigError("playbooks", f"{path} is a {type(found).__name__}, not a Playbook")
    return found
