"""Remote cache settings: ``ACNBUILD_REMOTE_CACHE`` / ``--remote-cache`` and the mode; bad values exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from acnbuild import settings
from acnbuild.errors import UserError
from acnbuild.references import Reference


def test_environment_and_options() -> None:
    config = settings.resolve([], env={"ACNBUILD_REMOTE_CACHE": "127.0.0.1:5000/acn/cache"})
    assert config.remote_cache == Reference("127.0.0.1:5000", "acn/cache")
    assert config.remote_cache_mode == "readwrite"
    env = {"ACNBUILD_REMOTE_CACHE": "127.0.0.1:5000/x", "ACNBUILD_REMOTE_CACHE_MODE": "read"}
    config = settings.resolve(["--remote-cache", "myregistry.azurecr.io/cache", "--remote-cache-mode", "readwrite"],
                              env=env)  # fmt: skip
    assert config.remote_cache == Reference("myregistry.azurecr.io", "cache")
    assert config.remote_cache_mode == "readwrite"
    assert settings.resolve([], env=env).remote_cache_mode == "read"
    assert settings.resolve([], env={}).remote_cache is None


def test_report_and_profile_files() -> None:
    config = settings.resolve(["--report", "out/r.json", "--profile", "p.json"], env={})
    assert (config.report, config.profile) == (Path("out/r.json"), Path("p.json"))


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--remote-cache", "127.0.0.1:5000"], {}, "--remote-cache"),
        ([], {"ACNBUILD_REMOTE_CACHE": "https://r.io/cache"}, "ACNBUILD_REMOTE_CACHE"),
        ([], {"ACNBUILD_REMOTE_CACHE": "r.io/c", "ACNBUILD_REMOTE_CACHE_MODE": "write"}, "ACNBUILD_REMOTE_CACHE_MODE"),
        (["--remote-cache-mode", "all"], {}, "--remote-cache-mode"),
    ],
)
def test_bad_values_name_the_setting(args: list[str], env: dict[str, str], named: str) -> None:
    with pytest.raises(UserError) as raised:
        settings.resolve(args, env=env)
    assert named in str(raised.value) and raised.value.exit_code == 2
