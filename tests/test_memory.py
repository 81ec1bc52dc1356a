"""The malloc settings that keep long videos' memory flat are applied by the CLI."""

import platform

import pytest

from faceoff import cli
from faceoff.memory import limit_heap_growth


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc malloc settings")
def test_settings_apply_on_glibc():
    assert limit_heap_growth() is True


def test_cli_applies_them_before_any_command(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(cli, "limit_heap_growth", lambda: calls.append(True))
    assert cli.main(["schema", str(tmp_path / "s.json")]) == 0
    assert calls == [True]
