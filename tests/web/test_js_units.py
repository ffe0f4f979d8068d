"""The browser modules' units, run by Node's own test runner (``node --test``).

``evalsvc/web`` is buildless ES modules; their pure parts (the sheet rules, drafts and the
outbox, the audit verifier) are tested in ``tests/web/*.test.mjs``. Skipped with the reason
where Node is missing (``apt-get install nodejs``), a failure in CI.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import skip_or_fail
from make_fixtures import OUT, render

HERE = Path(__file__).parent


def test_the_verifier_fixture_is_what_evalsvc_signs_today() -> None:
    # Provenance: the JS verifier is tested against bytes from evalsvc's own audit code.
    assert OUT.read_text(encoding="utf-8") == render(), (
        "tests/web/fixtures/audit.json is stale: run tests/web/make_fixtures.py"
    )


def test_node_units_pass() -> None:
    node = shutil.which("node")
    if node is None:
        skip_or_fail("Node.js is not installed (apt-get install nodejs)")
        return
    files = sorted(str(p) for p in HERE.glob("*.test.mjs"))
    assert len(files) >= 3
    run = subprocess.run(
        [node, "--test", *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout
