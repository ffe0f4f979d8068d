"""C2SP signed notes, checkpoints, cosignatures and tlog-proofs."""

from __future__ import annotations

import base64

import pytest

from evalsvc.audit.merkle import inclusion_proof, leaf_hash, root_hash
from evalsvc.audit.note import (
    COSIGNATURE_V1,
    Checkpoint,
    TlogProof,
    cosign_checkpoint,
    cosignature_vkey,
    format_checkpoint,
    format_tlog_proof,
    generate_key,
    key_id,
    open_note,
    parse_checkpoint,
    parse_tlog_proof,
    sign_checkpoint,
    sign_note,
    split_note,
    verified_cosignatures,
    verify_cosignature,
    verify_tlog_proof,
)
from evalsvc.errors import AuditLogInconsistent, InvalidInput, VerificationError

# --- Published vectors -------------------------------------------------------------------
# Provenance: golang.org/x/mod, sumdb/note/note_test.go (BSD-3-Clause, The Go Authors):
# TestNewSigner, TestSign, TestOpen.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)
# Provenance: github.com/transparency-dev/formats (Apache-2.0), note/note_cosigv1_test.go:
# TestCoSigV1NewVerifier (a real type-0x04 witness vkey and a type-0x01 vkey) and
# TestCosignatureTimestamp (a cosignature whose timestamp is 1727964367). No published
# Ed25519 cosignature/v1 vector with its key *and* signed checkpoint was found, so the
# signature itself is exercised by round trips below, not by a published value.
REMORA_COSIG_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
TEST_ED25519_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
COSIG_WITH_TIMESTAMP = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFi"
    "EBYJXORmnFBOBA=="
)
# Provenance: C2SP tlog-checkpoint / tlog-cosignature example checkpoint body.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_go_sign_vector() -> None:
    assert sign_note(GO_TEXT, [PETER_SKEY]) == GO_TEXT + "\n" + PETER_SIG


def test_go_open_vector_one_known_one_unknown_key() -> None:
    note = open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY])
    assert note.text == GO_TEXT
    assert [s.name for s in note.signatures] == ["PeterNeumann"]
    assert note.signatures[0].key_id.hex() == "c74f20a3"
    assert [s.name for s in note.unverified] == ["EnochRoot"]


def test_go_open_vector_both_keys() -> None:
    note = open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY, ENOCH_VKEY])
    assert [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]


def test_go_open_vector_no_known_key() -> None:
    with pytest.raises(VerificationError, match="no verifiable signatures"):
        open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_go_open_vector_bad_signature_by_known_key() -> None:
    bad = GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(VerificationError, match="invalid signature for key PeterNeumann"):
        open_note(bad, [PETER_VKEY])


@pytest.mark.parametrize(
    "msg",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        GO_TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFY"
        "C2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_go_malformed_notes(msg: str) -> None:
    with pytest.raises(VerificationError, match="malformed note"):
        open_note(msg, [PETER_VKEY])


def test_go_key_manglings_are_refused() -> None:
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(InvalidInput):
            open_note(GO_TEXT + "\n" + PETER_SIG, [mangled])
    for cut in (PETER_VKEY[:-1], PETER_VKEY[1:], PETER_VKEY + "A"):
        with pytest.raises(InvalidInput):
            open_note(GO_TEXT + "\n" + PETER_SIG, [cut])
    with pytest.raises(InvalidInput):
        sign_note(GO_TEXT, [PETER_SKEY[:-2]])


def test_published_vkeys_parse_and_key_ids_match() -> None:
    # Both parse only if the key id matches SHA-256(name || \n || type || key)[:4].
    cos = cosignature_vkey(TEST_ED25519_VKEY)
    assert cos.startswith("TEST+") and base64.b64decode(cos.split("+", 2)[2])[0] == COSIGNATURE_V1
    raw = base64.b64decode(REMORA_COSIG_VKEY.split("+", 2)[2])
    assert key_id("remora.n621.de", raw[0], raw[1:]).hex() == "da77ade7"
    assert cosignature_vkey(REMORA_COSIG_VKEY) == REMORA_COSIG_VKEY


def test_published_cosignature_timestamp_layout() -> None:
    raw = base64.b64decode(COSIG_WITH_TIMESTAMP)
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1727964367


def test_spec_checkpoint_parses_and_formats_back() -> None:
    cp = parse_checkpoint(SPEC_CHECKPOINT)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert format_checkpoint(cp) == SPEC_CHECKPOINT


# --- Behaviour ---------------------------------------------------------------------------

SEED = bytes(range(32))


def test_generate_key_round_trip_and_determinism() -> None:
    skey, vkey = generate_key("evalsvc.example/log", seed=SEED)
    assert generate_key("evalsvc.example/log", seed=SEED) == (skey, vkey)
    assert skey.startswith("PRIVATE+KEY+evalsvc.example/log+")
    note = sign_note("hello\n", [skey])
    assert open_note(note, [vkey]).text == "hello\n"
    _other_skey, other_vkey = generate_key("other")
    assert other_vkey != vkey
    with pytest.raises(InvalidInput):
        generate_key("bad name")


@pytest.mark.parametrize(
    "bad", ["", "a\nb", "1\n2\n", "o\n01\nAAAA\n", "o\n1\nnot-base64!\n", "o\n1\nAAAA\n"]
)
def test_malformed_checkpoints(bad: str) -> None:
    with pytest.raises(VerificationError, match="malformed checkpoint"):
        parse_checkpoint(bad)


def _cp(size: int = 3) -> Checkpoint:
    leaves = [leaf_hash(bytes([i])) for i in range(size)]
    return Checkpoint("evalsvc.example/s-1", size, root_hash(leaves), ("ext line",))


def test_cosignature_round_trip_and_rejections() -> None:
    log_skey, log_vkey = generate_key("evalsvc.example/s-1", seed=SEED)
    w_skey, w_vkey = generate_key("venue.hz.example/w1")
    signed = sign_checkpoint(_cp(), log_skey)
    line = cosign_checkpoint(signed, w_skey, timestamp=1_700_000_000)
    assert line.startswith("— venue.hz.example/w1 ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == key_id("venue.hz.example/w1", COSIGNATURE_V1, _pub(w_vkey))
    assert int.from_bytes(raw[4:12], "big") == 1_700_000_000
    assert verify_cosignature(signed, line, w_vkey) == 1_700_000_000
    cosigned = signed + line
    note = open_note(cosigned, [log_vkey, cosignature_vkey(w_vkey)])
    assert [s.timestamp for s in note.signatures] == [None, 1_700_000_000]
    assert [s.name for s in verified_cosignatures(cosigned, [w_vkey])] == ["venue.hz.example/w1"]
    # A cosignature is not a note signature: the type-0x01 vkey does not accept it.
    with pytest.raises(VerificationError, match="no verifiable"):
        open_note(split_note(signed)[0] + "\n" + line, [w_vkey])
    # The extension line is covered by the cosignature.
    other = format_checkpoint(Checkpoint("evalsvc.example/s-1", 3, _cp().root, ("ext linE",)))
    with pytest.raises(VerificationError, match="invalid cosignature"):
        verify_cosignature(other, line, w_vkey)
    # A changed timestamp breaks it.
    forged = base64.b64encode(raw[:4] + (1).to_bytes(8, "big") + raw[12:]).decode()
    with pytest.raises(VerificationError, match="invalid cosignature"):
        verify_cosignature(signed, f"— venue.hz.example/w1 {forged}\n", w_vkey)


def _pub(vkey: str) -> bytes:
    # name+hexid+base64: the base64 part may itself contain "+".
    return base64.b64decode(vkey.split("+", 2)[2])[1:]


def test_tlog_proof_round_trip_and_verification() -> None:
    entries = [f'{{"seq":{i}}}'.encode() for i in range(11)]
    leaves = [leaf_hash(e) for e in entries]
    log_skey, log_vkey = generate_key("evalsvc.example/s-1", seed=SEED)
    w1, w2 = generate_key("w1.example"), generate_key("w2.example")
    cp = Checkpoint("evalsvc.example/s-1", 11, root_hash(leaves))
    signed = sign_checkpoint(cp, log_skey)
    cosigned = signed + cosign_checkpoint(signed, w1[0], timestamp=5)
    text = format_tlog_proof(
        TlogProof(index=6, proof=tuple(inclusion_proof(6, leaves)), checkpoint=cosigned, extra=b"x")
    )
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra eA==\nindex 6\n")
    parsed = parse_tlog_proof(text)
    assert parsed.index == 6 and parsed.checkpoint == cosigned and parsed.extra == b"x"
    verify_tlog_proof(text, data=entries[6], log_vkey=log_vkey, witness_vkeys=[w1[1]], quorum=1)
    with pytest.raises(AuditLogInconsistent, match="entry 6"):
        verify_tlog_proof(text, data=entries[5], log_vkey=log_vkey)
    with pytest.raises(VerificationError, match="quorum not met: 1 of 2"):
        verify_tlog_proof(
            text, data=entries[6], log_vkey=log_vkey, witness_vkeys=[w1[1], w2[1]], quorum=2
        )
    with pytest.raises(VerificationError, match="no verifiable"):
        verify_tlog_proof(text, data=entries[6], log_vkey=w2[1])
