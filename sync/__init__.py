"""The connector core: sync engine, store and the one service layer.

Nothing in this package imports Flask or Slack (DESIGN.md §1)."""

__version__ = "0.1.0"
