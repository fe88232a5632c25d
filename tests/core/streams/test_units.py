"""core/streams/units.py: which unit each channel is in, and the one conversion to g and deg/s."""
from __future__ import annotations

import numpy as np
import pytest

from c3t.core.streams.units import RAD_TO_DEG, plan_units, unit_texts
from c3t.core.streams.units import STANDARD_GRAVITY as G
from c3t.devices.lineformat import parse_line

REST_SI = np.tile([0.1, -0.2, 9.79, 0.01, 0.0, -0.02], (50, 1))


def shapes(*lines: str) -> list[tuple]:
    return [parse_line(line).shape for line in lines]


@pytest.mark.parametrize("lines, want", [
    (("Acceleration X: 0.39, Y: -0.21, Z: 9.59 m/s^2",), ["m/s^2"] * 3),
    (("Accel: 0.1 m/s^2, 0.2 m/s², 9.8 m/s^2 25.3°C",), ["m/s^2", "m/s²", "m/s^2", None]),
    (("ax: 12 mg ay: -3 mg az: 998 mg gx: 1.5 dps gy: 0 dps gz: -2 dps",), ["mg"] * 3 + ["dps"] * 3),
    (("Acceleration X: 0.39, Y: -0.21, Z: 9.59 m/s^2", "Rotation X: -0.06, Y: -0.01, Z: -0.01 rad/s",
      "Temperature: 26.64 degC"), ["m/s^2"] * 3 + ["rad/s"] * 3 + [None]),
    (("0.01,-0.98,0.12,1.5,-0.3,0.2",), [None] * 6),
])
def test_unit_text_is_read_per_number(lines, want):
    assert unit_texts(shapes(*lines)) == want


def test_written_units_are_converted_and_the_gyroscope_follows_the_accelerations_system():
    plan = plan_units(6, texts=["m/s^2"] * 3 + [None] * 3, samples=REST_SI)
    np.testing.assert_allclose(plan.scale, [1 / G] * 3 + [RAD_TO_DEG] * 3)
    assert plan.units == ["g"] * 3 + ["deg/s"] * 3 and plan.note is None
    mg = plan_units(6, texts=["mg"] * 3 + ["dps"] * 3)
    np.testing.assert_allclose(mg.scale, [1e-3] * 3 + [1] * 3)


def test_a_magnitude_near_9_8_is_read_as_si_and_said():
    plan = plan_units(6, samples=REST_SI, source="tcp:5555")
    np.testing.assert_allclose(plan.apply(REST_SI)[0], [0.1 / G, -0.2 / G, 9.79 / G, 0.01 * RAD_TO_DEG, 0, -0.02 * RAD_TO_DEG],
                               rtol=1e-6)
    assert plan.note.startswith("tcp:5555: acceleration magnitude at rest 9.79: read as m/s^2")


def test_g_data_stays_and_raw_counts_or_contradictions_are_said():
    g = plan_units(6, samples=REST_SI / [G, G, G, 1, 1, 1])
    assert np.all(g.scale == 1) and g.note is None
    raw = plan_units(6, samples=np.tile([-1787, -511, 15147, 12, 3, -8], (20, 1)))
    assert raw.units[:3] == ["raw"] * 3 and "neither about 1 (g) nor about 9.8" in raw.note
    told = plan_units(6, declared="g", samples=REST_SI)
    assert np.all(told.scale == 1) and "units=g was set" in told.note


def test_channels_are_read_by_name_before_position():
    plan = plan_units(6, names=["gyro_x", "gyro_y", "gyro_z", "acc_x", "acc_y", "acc_z"], declared="si")
    np.testing.assert_allclose(plan.scale, [RAD_TO_DEG] * 3 + [1 / G] * 3)
    nine = plan_units(9, declared="si")
    assert nine.units[6:] == ["uT"] * 3 and np.all(nine.scale[6:] == 1)
    with pytest.raises(ValueError, match="units='m/s'"):
        plan_units(6, declared="m/s")
