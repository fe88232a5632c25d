"""`c3t --verbose`: c3t's loggers at DEBUG on stderr, the flag before or after the command; without
it only warnings are logged (a command's own output is unchanged)."""
from __future__ import annotations

import logging

import pytest

from c3t.app.cli import main

SPEC = "sim?width=64&height=48&camera=false"


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_logs_the_sources_and_the_files_written(tmp_path, capsys, where):
    args = ["record", "--imu", SPEC, "--duration", "1", "--out", str(tmp_path / "s"), "--quiet"]
    assert main(["--verbose", *args] if where == "before" else [*args, "--verbose"]) == 0
    err = capsys.readouterr().err
    assert "INFO c3t.devices.spec: sources: imu = sim" in err                        # the logger is named
    assert f"INFO c3t.core.session.writer: recording into {tmp_path / 's'}" in err
    assert f"INFO c3t.core.session.writer: session {tmp_path / 's'} closed (duration 1 s reached)" in err
    assert logging.getLogger("c3t").getEffectiveLevel() == logging.DEBUG


def test_without_verbose_only_warnings_are_logged(tmp_path, capsys):
    assert main(["record", "--imu", SPEC, "--duration", "1", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "recording unlabelled to" in err and " INFO " not in err and " DEBUG " not in err
    assert logging.getLogger("c3t").getEffectiveLevel() == logging.WARNING


def test_verbose_after_a_double_dash_is_not_taken():
    from c3t.app.cli import _take_verbose

    assert _take_verbose(["info", "x", "--verbose"]) == (["info", "x"], True)
    assert _take_verbose(["info", "--", "--verbose"]) == (["info", "--", "--verbose"], False)
