"""The Go unit tests of every component, through the pinned toolchain (`go test ./...`)."""

from __future__ import annotations

from acnbuild.go import checks as gotools

from tests.conftest import REPO_ROOT


def test_go_modules_pass_their_tests() -> None:
    output = gotools.test(REPO_ROOT)
    assert "FAIL" not in output
