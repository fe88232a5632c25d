"""Nothing left behind by a command that failed (issue #29, point 6): a recording that recorded
nothing removes what it created (only that), its hints name only flags the command has, and a
stub session in a folder is skipped with a warning instead of refusing the whole folder."""
from __future__ import annotations

import argparse
import re
import time

import pytest

from c3t.app.cli import build_parser, main
from c3t.core.errors import C3tError
from c3t.core.session.format import find_sessions
from c3t.core.session.writer import Recorder, RecorderConfig, StreamSpec
from c3t.training.session_dataset import trainable_sessions
from tests.conftest import REPO
from tests.core.session.test_session import feed, new_recorder
from tests.devices.test_devices_serial import record_while


def test_a_port_that_does_not_exist_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "X" / "deep" / "s1"
    assert main(["record", "--imu", f"serial:{tmp_path / 'ttyACM7'}", "--out", str(out), "--duration", "2"]) == 2
    assert "cannot open serial port" in capsys.readouterr().err
    assert not (tmp_path / "X").exists()                 # the session and the folders made for it
    given = tmp_path / "given"
    given.mkdir()                                        # an empty folder the user made: kept, still empty
    assert main(["record", "--imu", f"serial:{tmp_path / 'ttyACM7'}", "--out", str(given), "--duration", "2"]) == 2
    assert given.is_dir() and not list(given.iterdir())


def test_a_board_that_sends_garbage_records_nothing_and_keeps_nothing(tmp_path, capsys):
    def garbage(dev, stop):
        while not stop.is_set():
            dev.write("\xe3\x9f\xfe\x81" * 5)
            time.sleep(0.02)

    code = record_while(tmp_path, garbage, 2.5)         # `c3t record --out tmp_path/s` from a pty
    err = capsys.readouterr().err
    assert code == 1 and "bytes arrive but are not text" in err
    assert f"error: nothing was recorded; {tmp_path / 's'} was not kept" in err
    assert not (tmp_path / "s").exists()


def test_record_refuses_an_existing_session_without_naming_a_flag_it_lacks(tmp_path, capsys):
    rec = new_recorder(tmp_path / "s")
    feed(rec, 0.2)
    rec.close()
    assert main(["record", "--imu", "sim", "--out", str(tmp_path / "s"), "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty; give a new folder" in err and "--force" not in err


def test_a_stub_session_is_skipped_with_a_warning_not_a_refusal_of_the_folder(tmp_path, capsys):
    root = tmp_path / "sessions"
    good = new_recorder(root / "a-good")
    feed(good, 0.5)
    good.close()
    imu_only = Recorder(root / "b-imu-only", [StreamSpec("imu", "imu", 100.0)], config=RecorderConfig(fsync=False))
    imu_only.close()                                     # what a failed `c3t record --imu ...` used to leave
    empty = new_recorder(root / "c-empty")
    empty.close()
    kept = trainable_sessions(root, find_sessions(root))
    assert [s.name for s in kept] == ["a-good"]
    err = capsys.readouterr().err
    assert "warning: skipped session" in err and "b-imu-only: it has no camera stream (it has imu)" in err
    assert "c-empty: its IMU stream has no samples" in err
    with pytest.raises(C3tError, match="cannot be trained on: it has no camera stream"):
        trainable_sessions(root / "b-imu-only", find_sessions(root / "b-imu-only"))
    with pytest.raises(C3tError, match="holds no session to train on"):
        trainable_sessions(root, [root / "b-imu-only", root / "c-empty"])


# Flags of other programs that c3t's messages name on purpose.
OTHER_PROGRAMS = {"--nproc-per-node": "torchrun", "--head": "ray start"}


def test_every_flag_a_message_names_exists():
    """A hint may only name a flag a c3t command has (record's "... or --force" named one it lacked)."""
    flags = set()

    def walk(parser):
        for action in parser._actions:
            flags.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    named = {}
    for package in ("app", "core", "devices", "training"):
        for path in (REPO / package).rglob("*.py"):
            for m in re.finditer(r"(?<![\w-])(--[a-z][a-z0-9-]+)", path.read_text()):
                named.setdefault(m.group(1), path.relative_to(REPO))
    unknown = {f: str(p) for f, p in named.items() if f not in flags and f not in OTHER_PROGRAMS}
    assert not unknown, unknown


def test_a_window_recording_stopped_before_any_sample_leaves_no_stub(tmp_path):
    """The Record tab's Stop right after Start (or a device gone silent): the same rule as c3t record."""
    from c3t.core.session.record_loop import LabelledRecording, NothingRecorded
    from c3t.devices.simulated import SimulatedSource

    sim = SimulatedSource(realtime=False, camera=False)
    rec = LabelledRecording(tmp_path / "sessions" / "s1", [(sim, "imu", 100.0)], label="wave")
    with pytest.raises(NothingRecorded, match="nothing was recorded"):
        rec.close("stopped")
    assert not (tmp_path / "sessions").exists()
