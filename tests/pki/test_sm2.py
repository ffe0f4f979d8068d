"""SM2 key and signature encodings (GM/T 0009-2012)."""

from __future__ import annotations

import pytest

from evalsvc.pki import der
from evalsvc.pki.devpki import load_private_key, private_key_pem
from evalsvc.pki.sm2 import DEFAULT_SIGNER_ID, Sm2PrivateKey, Sm2PublicKey, sm2_key_from_spki


def test_signature_is_der_sequence_of_two_integers() -> None:
    key = Sm2PrivateKey.generate()
    sig = key.sign(b"abc")
    items = der.parse(sig).children()
    assert [i.tag for i in items] == [der.INTEGER, der.INTEGER]
    assert key.public_key().verify(sig, b"abc")
    assert key.public_key().verify(sig, b"abc", signer_id=DEFAULT_SIGNER_ID)
    assert not key.public_key().verify(sig, b"abc", signer_id=b"ALICE123@YAHOO.COM")


def test_spki_and_pem_round_trip() -> None:
    key = Sm2PrivateKey.generate()
    pub = key.public_key()
    assert sm2_key_from_spki(pub.spki_der()) == pub
    again = load_private_key(private_key_pem(key))
    assert isinstance(again, Sm2PrivateKey) and again.secret == key.secret


def test_invalid_points_and_scalars() -> None:
    with pytest.raises(ValueError):
        Sm2PublicKey(b"\x04" + b"\x01" * 64)
    with pytest.raises(ValueError):
        Sm2PrivateKey(b"\x00" * 32)


def test_der_oid_round_trip() -> None:
    for dotted in ["1.2.156.10197.1.501", "2.5.29.19", "1.2.840.113549.1.1.11", "2.999.1"]:
        assert der.decode_oid(der.parse(der.oid(dotted))) == dotted
    for n in [0, 1, 127, 128, 255, 256, 2**255, -1]:
        assert der.decode_integer(der.parse(der.integer(n))) == n
