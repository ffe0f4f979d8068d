"""``evalsvc audit verify`` fed a bundle made to hurt the verifier — a file that is a
link to an endless device or to a file outside the bundle, a FIFO, a file far too big,
JSON nested beyond Python's recursion limit, bytes that are not UTF-8. The supervisor
gets a failed check naming the file, and at once: no traceback, no hang, no memory
blown (each run is a process of its own, with a timeout and an address-space cap)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

DEEP = b"[" * 100_000 + b"]" * 100_000
CAP = 1 << 30  # 1 GiB of address space: a verifier reading a 4 GiB file dies


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def _verify(bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalsvc", "audit", "verify", str(bundle)],
        capture_output=True, text=True, timeout=120, preexec_fn=_cap,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"}, check=False)


def _bundle(tmp_path: Path) -> Path:
    """The skeleton of a bundle: metadata, an empty log, a report directory."""
    b = tmp_path / "bundle"
    for sub in ("checkpoints", "draw", "certs", "crls", "proofs", "consistency"):
        (b / sub).mkdir(parents=True)
    (b / "bundle.json").write_text(json.dumps({"format": 1}), "utf-8")
    (b / "entries").write_bytes(b"")
    return b


def _link(target: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.symlink_to(target)
    return make


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _huge(path: Path) -> None:
    with open(path, "wb") as fh:
        fh.truncate(4 << 30)  # sparse: costs no disk


def _write(data: bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(data)
    return make


CASES = [
    ("entries", "entries → /dev/zero", _link("/dev/zero")),
    ("report.pdf", "report.pdf → /dev/urandom", _link("/dev/urandom")),
    ("session.json", "session.json → a file outside the bundle", _link("/etc/hostname")),
    ("entries", "entries a FIFO", _fifo),
    ("session.json", "session.json a FIFO", _fifo),
    ("session.json", "a 4 GiB session.json", _huge),
    ("report.pdf", "a 4 GiB report.pdf", _huge),
    ("bundle.json", "bundle.json nested 100 000 deep", _write(DEEP)),
    ("session.json", "session.json nested 100 000 deep", _write(DEEP)),
    ("draw/1.json", "a draw record nested 100 000 deep", _write(DEEP)),
    ("entries", "an entry nested 100 000 deep", _write(DEEP + b"\n")),
    ("session.json", "session.json not UTF-8", _write('{"title": "项目"}'.encode("gbk"))),
    ("policy", "policy not UTF-8", _write("log 日志".encode("gbk"))),
]


@pytest.mark.parametrize(("name", "what", "make"), CASES, ids=[c[1] for c in CASES])
def test_a_hostile_bundle_fails_by_name_at_once(tmp_path: Path, name: str, what: str,
                                                make: Callable[[Path], None]) -> None:
    bundle = _bundle(tmp_path)
    path = bundle / name
    path.unlink(missing_ok=True)
    make(path)
    run = _verify(bundle)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]
    assert "Traceback" not in out and "MemoryError" not in out, out[-3000:]
    assert Path(name).name in out, out[-3000:]


def _pdf(path: Path, attachments: dict[str, bytes | int]) -> None:
    """A one-page PDF embedding ``attachments``; an int stands for that many zero bytes,
    deflated chunk by chunk (a bomb, written without ever holding it)."""
    import zlib

    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles"
                         b" << /Names [" + b" ".join(
                             b"(%s) %d 0 R" % (n.encode(), 4 + 2 * i)
                             for i, n in enumerate(attachments)) + b"] >> >> >>",
                         b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                         b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    for i, (name, data) in enumerate(attachments.items()):
        if isinstance(data, int):
            z = zlib.compressobj(9)
            chunk = bytes(1 << 20)
            body = b"".join(z.compress(chunk) for _ in range(data >> 20)) + z.flush()
        else:
            body = zlib.compress(data)
        objs.append(b"<< /Type /Filespec /F (%s) /UF (%s) /EF << /F %d 0 R >> >>"
                    % (name.encode(), name.encode(), 5 + 2 * i))
        objs.append(b"<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d >>\nstream\n"
                    % len(body) + body + b"\nendstream")
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % x for x in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, xref)
    path.write_bytes(bytes(out))


PDFS: list[tuple[str, dict[str, bytes | int]]] = [
    ("report.json nested 100 000 deep", {"report.json": DEEP, "signatures.json": b"[]"}),
    ("signatures.json nested 100 000 deep", {"report.json": b"{}", "signatures.json": DEEP}),
    # 4 GiB of zeros, 4 MB deflated: a bomb for a reader that inflates it whole.
    ("a 4 GiB attachment", {"report.json": 4 << 30, "signatures.json": b"[]"}),
]


@pytest.mark.parametrize(("what", "files"), PDFS, ids=[c[0] for c in PDFS])
def test_a_hostile_report_pdf_fails_its_check(tmp_path: Path, what: str,
                                              files: dict[str, bytes | int]) -> None:
    """``evalsvc report verify`` (and the bundle's report check, which calls the same
    function) on a PDF whose attachments nest too deeply or inflate to gigabytes."""
    pdf = tmp_path / "report.pdf"
    _pdf(pdf, files)
    run = subprocess.run(
        [sys.executable, "-m", "evalsvc", "report", "verify", str(pdf)],
        capture_output=True, text=True, timeout=300, preexec_fn=_cap,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"}, check=False)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]
    assert "Traceback" not in out and "MemoryError" not in out, out[-3000:]
    assert "评标报告校验失败" in out, out[-3000:]
