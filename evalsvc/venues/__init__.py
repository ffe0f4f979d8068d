"""The secondary-venue agent (副场): follows the primary's sessions over WebSockets.

- :mod:`~evalsvc.venues.mirror` — the durable local SQLite mirror of what the venue may see;
- :mod:`~evalsvc.venues.agent` — the ``websockets`` client: discovery, resume with
  backoff and jitter, the witness hook;
- :mod:`~evalsvc.venues.readonly` — the mirror served read-only over HTTP to the venue's
  operators (a venue keeps its records if the primary goes away);
- :mod:`~evalsvc.venues.cli` — ``evalsvc venue``.
"""
