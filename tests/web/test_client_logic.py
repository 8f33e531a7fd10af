"""The dashboard's client-side logic (web/tests/*.test.ts, vitest): the ttyd codec, the instance
event reducer and what its buttons allow, the close-code messages, the chat transcript, the clone
form's checks. Run here so ``make test`` runs them; ``cd web && npm test`` runs them alone."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from devstack.engine import ROOT

WEB = ROOT / "web"

pytestmark = pytest.mark.e2e  # a Node.js process, no server


def test_the_client_logic_passes_its_unit_tests() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: make test-tools installs Node.js and npm")
    if not (WEB / "node_modules" / ".package-lock.json").is_file():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    result = subprocess.run(
        [npm, "test", "--silent"], cwd=WEB, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout, result.stdout
    assert " failed" not in result.stdout, result.stdout
