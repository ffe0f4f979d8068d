"""Salts (evalsvc/salts.py): fresh CSPRNG output, each handed out once, to every thread."""

from __future__ import annotations

import sys
import threading

from evalsvc.salts import SaltSource


def test_take_hands_out_fresh_salts_never_twice() -> None:
    source = SaltSource(size=16, batch=8)
    salts = [*source.take(3), source(), *source.take(8), *source.take(5), source()]
    assert [len(s) for s in salts] == [16] * len(salts)
    assert len(set(salts)) == len(salts)  # across refills too


def test_writer_threads_never_get_the_same_salt() -> None:
    # Several PostgreSQL writers seal events with one source: a salt handed to two of
    # them would let a role shown one field brute-force another's small hidden value.
    # A tiny switch interval makes an unlocked read-then-advance interleave at once.
    source = SaltSource(size=16, batch=64)
    got: list[list[bytes]] = [[] for _ in range(4)]

    def draw(out: list[bytes]) -> None:
        for i in range(20_000):
            if i % 2:
                out.append(source())
            else:
                out.extend(source.take(3))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=draw, args=(out,)) for out in got]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    salts = [s for out in got for s in out]
    assert len(salts) == 4 * 10_000 * 4
    assert len(set(salts)) == len(salts), f"{len(salts) - len(set(salts))} salts handed out twice"
