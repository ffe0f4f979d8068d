"""The seed ceremony state machine the session service drives."""

from __future__ import annotations

import datetime as _dt

import pytest

from evalsvc.errors import Conflict, Forbidden, InvalidInput
from evalsvc.experts.ceremony import close, commit, is_ready, open_ceremony, reveal
from evalsvc.experts.seed import InsufficientContributions, commitment_digest, seed_from_reveals

T0 = _dt.datetime(2026, 12, 1, 1, 0, tzinfo=_dt.UTC)
COMMIT_BY = T0 + _dt.timedelta(minutes=10)
REVEAL_BY = T0 + _dt.timedelta(minutes=20)
S = "SH-1"
SECRET = {"shanghai": b"\x01" * 32, "suzhou": b"\x02" * 32, "supervisor": b"\x03" * 32}


def _digest(p: str) -> str:
    return commitment_digest(SECRET[p], party=p, session_id=S)


def test_full_ceremony_gives_the_seed_of_its_reveals() -> None:
    st = open_ceremony(S, list(SECRET), commit_deadline=COMMIT_BY, reveal_deadline=REVEAL_BY,
                       now=T0)
    for n, p in enumerate(SECRET):
        st, c = commit(st, p, _digest(p), now=T0 + _dt.timedelta(minutes=n))
        assert c.at == T0 + _dt.timedelta(minutes=n)
    assert not is_ready(st, now=COMMIT_BY)
    for p in SECRET:
        st, _ = reveal(st, p, SECRET[p], now=COMMIT_BY + _dt.timedelta(seconds=1))
    assert is_ready(st, now=COMMIT_BY + _dt.timedelta(seconds=2))
    result = close(st, now=COMMIT_BY + _dt.timedelta(seconds=2))
    assert result.seed == seed_from_reveals(S, SECRET)
    assert st.to_json()["commitments"][0]["party"] == "shanghai"


def test_a_silent_party_is_dropped_once_time_is_up() -> None:
    st = open_ceremony(S, list(SECRET), commit_deadline=COMMIT_BY, reveal_deadline=REVEAL_BY,
                       now=T0)
    for p in SECRET:
        st, _ = commit(st, p, _digest(p), now=T0)
    for p in ("shanghai", "suzhou"):
        st, _ = reveal(st, p, SECRET[p], now=COMMIT_BY + _dt.timedelta(minutes=1))
    with pytest.raises(Conflict, match="still open"):
        close(st, now=REVEAL_BY)
    result = close(st, now=REVEAL_BY + _dt.timedelta(seconds=1))
    assert [(d.party, d.reason) for d in result.dropped] == [("supervisor", "no_reveal")]


def test_refusals_are_typed_and_say_why() -> None:
    st = open_ceremony(S, list(SECRET), commit_deadline=COMMIT_BY, reveal_deadline=REVEAL_BY,
                       now=T0)
    with pytest.raises(Forbidden, match="hefei does not take part"):
        commit(st, "hefei", _digest("suzhou"), now=T0)
    with pytest.raises(InvalidInput, match="64 hex digits"):
        commit(st, "suzhou", "abc", now=T0)
    with pytest.raises(Conflict, match="commitments closed"):
        commit(st, "suzhou", _digest("suzhou"), now=COMMIT_BY + _dt.timedelta(seconds=1))
    st, _ = commit(st, "suzhou", _digest("suzhou"), now=T0)
    with pytest.raises(Conflict, match="already committed"):
        commit(st, "suzhou", _digest("suzhou"), now=T0)
    with pytest.raises(Conflict, match="reveals open after"):
        reveal(st, "suzhou", SECRET["suzhou"], now=COMMIT_BY)
    later = COMMIT_BY + _dt.timedelta(minutes=1)
    with pytest.raises(Conflict, match="did not commit"):
        reveal(st, "shanghai", SECRET["shanghai"], now=later)
    with pytest.raises(InvalidInput, match="does not open"):
        reveal(st, "suzhou", SECRET["shanghai"], now=later)
    st, _ = reveal(st, "suzhou", SECRET["suzhou"], now=later)
    with pytest.raises(Conflict, match="already revealed"):
        reveal(st, "suzhou", SECRET["suzhou"], now=later)
    with pytest.raises(Conflict, match="reveals closed"):
        reveal(st, "suzhou", SECRET["suzhou"], now=REVEAL_BY + _dt.timedelta(seconds=1))
    with pytest.raises(InsufficientContributions):
        close(st, now=REVEAL_BY + _dt.timedelta(seconds=1))


@pytest.mark.parametrize(
    ("parties", "kw", "field"),
    [
        (["a"], {}, "parties"),
        (["a", "a"], {}, "parties"),
        (["a", "b"], {"minimum": 3}, "minimum"),
        (["a", "b"], {"commit_deadline": REVEAL_BY, "reveal_deadline": COMMIT_BY},
         "commit_deadline"),
        (["a", "b"], {"now": COMMIT_BY}, "commit_deadline"),
    ],
)
def test_opening_checks_parties_and_deadlines(parties: list[str], kw: dict[str, object],
                                               field: str) -> None:
    args: dict[str, object] = {"commit_deadline": COMMIT_BY, "reveal_deadline": REVEAL_BY,
                               "now": T0}
    args.update(kw)
    with pytest.raises(InvalidInput) as info:
        open_ceremony(S, parties, **args)  # type: ignore[arg-type]
    assert info.value.field == field
