"""Region folders load into immutable trust configs; bad configs say what is wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from evalsvc.errors import ConfigError
from evalsvc.pki.devpki import DevPki, write_dev_pki
from evalsvc.pki.trust import load_trust


@pytest.fixture(scope="module")
def written(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    write_dev_pki(pki, out)
    return out


def test_dev_pki_folders_load(pki: DevPki, written: Path) -> None:
    trust = load_trust(written)
    assert [r.code for r in trust.regions] == ["AH", "JS", "SH", "ZJ"]
    assert trust.region("ZJ").name == "浙江"
    sh = trust.region("SH")
    assert len(sh.anchors) == 1 and len(sh.intermediates) == 2 and len(sh.crls) == 2  # + cross-cert
    assert trust.anchor_region(pki.regions["JS"].root.cert) == "JS"
    assert trust.anchor_region(pki.regions["JS"].intermediate.cert) is None


def test_trust_is_immutable_and_reload_builds_a_new_object(written: Path) -> None:
    first = load_trust(written)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.regions = ()  # type: ignore[misc]
    second = load_trust(written)
    assert second is not first and [r.code for r in second.regions] == [
        r.code for r in first.regions
    ]


def _region(tmp_path: Path, written: Path, toml: str) -> Path:
    root = tmp_path / "certs"
    (root / "SH" / "anchors").mkdir(parents=True)
    (root / "SH" / "anchors" / "root.pem").write_bytes(
        (written / "SH" / "anchors" / "root.pem").read_bytes()
    )
    (root / "SH" / "region.toml").write_text(toml, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('colour = "red"\n', "unknown keys"),
        ('algorithms = ["dsa"]\n', "algorithms"),
        ('identity_oids = ["not-an-oid"]\n', "identity_oids"),
        ("name = [\n", "region.toml"),
    ],
)
def test_bad_region_toml(tmp_path: Path, written: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_trust(_region(tmp_path, written, toml))


def test_region_without_anchors(tmp_path: Path) -> None:
    (tmp_path / "SH").mkdir()
    (tmp_path / "SH" / "region.toml").write_text('name = "上海"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="no trust anchors"):
        load_trust(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_trust(tmp_path / "nope")


@pytest.mark.parametrize("code", ["SH", "JS", "ZJ", "AH"])
def test_shipped_region_toml_loads(tmp_path: Path, written: Path, code: str) -> None:
    shipped = Path(__file__).resolve().parents[2] / "certs" / code / "region.toml"
    root = _region(tmp_path, written, shipped.read_text(encoding="utf-8"))
    (root / "SH").rename(root / code)
    region = load_trust(root).region(code)
    assert region.identity_oids[-1] == "subject.serialNumber"


def test_summary_for_the_audit_event(pki: DevPki, written: Path) -> None:
    from cryptography.hazmat.primitives import hashes

    from evalsvc.canonical import canonical_bytes

    summary = load_trust(written).summary()
    canonical_bytes(summary)  # JSON-able, hashable into the audit log
    regions = {r["code"]: r for r in summary["regions"]}  # type: ignore[attr-defined]
    assert regions["ZJ"]["anchors"] == [
        pki.regions["ZJ"].root.cert.fingerprint(hashes.SHA256()).hex()
    ]
