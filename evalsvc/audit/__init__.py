"""Signed transparency audit log: Merkle tree, signed notes, storage, bundles, verifier.

Pure modules (no I/O): :mod:`.ranges`, :mod:`.merkle`, :mod:`.note`, :mod:`.verify`.
Adapters: :mod:`.tables`, :mod:`.log`, :mod:`.bundle` (export), :mod:`.cli`.
"""
