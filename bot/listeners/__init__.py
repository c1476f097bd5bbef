"""Bolt listeners; each module's register(app) wires its part. Listeners find the
connector's dependencies in context["connector"] (bot.deps.BotDeps)."""
from __future__ import annotations

from . import actions, commands, events, views


def register_listeners(app) -> None:
    for module in (commands, events, actions, views):
        module.register(app)
