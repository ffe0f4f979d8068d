"""The payload of a commit notification between PostgreSQL instances (pure functions)."""

from __future__ import annotations

from evalsvc.sessions.pgnotify import MAX_PAYLOAD_BYTES, notification, parse_notification
from evalsvc.sessions.store import StoredEvent


def _sheet(seq: int, **payload: object) -> StoredEvent:
    body = {"seat": 2, "stage": "scoring", "version": 3, "sha256": "ab" * 32, **payload}
    return StoredEvent("s-0123456789ab", seq, "sheet.submitted", body, "expert:E-1", "js", 17)


def test_the_committed_rows_ride_along_and_come_back_equal() -> None:
    events = [_sheet(41), _sheet(42, note="评标 ✓")]
    payload = notification("s-0123456789ab", 42, events)
    assert payload.startswith("s-0123456789ab 42\n")
    assert parse_notification(payload) == ("s-0123456789ab", 42, events)


def test_a_commit_without_rows_or_too_large_is_a_bare_hint() -> None:
    assert notification("s-1", 7) == "s-1 7"
    assert parse_notification("s-1 7") == ("s-1", 7, None)
    big = _sheet(8, signature={"chain": "x" * MAX_PAYLOAD_BYTES})
    assert notification("s-1", 8, [big]) == "s-1 8"
    assert notification("s-1", 9, [("not", "a", "stored", "event")]) == "s-1 9"


def test_anything_else_is_ignored_or_read_from_the_table() -> None:
    assert parse_notification("") is None
    assert parse_notification("s-1 x") is None
    # Unreadable rows: still a wake-up, and the hub reads the table.
    assert parse_notification("s-1 9\n[[1, 2]]") == ("s-1", 9, None)
    assert parse_notification("s-1 9\nnot json") == ("s-1", 9, None)
