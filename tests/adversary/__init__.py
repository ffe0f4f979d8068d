"""Attacker-style tests: through the public API, WebSocket and command line only."""
