"""core/streams/window.py's resample: shapes, ends kept, and an empty input refused with C3tError."""
from __future__ import annotations

import numpy as np
import pytest

from c3t.core.errors import C3tError
from c3t.core.streams.window import resample


def test_resample_keeps_both_ends_and_any_trailing_shape():
    x = np.arange(10, dtype=np.int64).reshape(5, 2)        # (T=5, C=2), integers come back as float32
    out = resample(x, 9)
    assert out.shape == (9, 2) and out.dtype == np.float32
    assert np.allclose(out[0], x[0]) and np.allclose(out[-1], x[-1]) and np.allclose(out[1], [1.0, 2.0])
    frames = np.ones((3, 4, 6))                             # (T, H, W) along axis 0
    assert resample(frames, 7).shape == (7, 4, 6)
    assert np.allclose(resample(np.array([[2.0, 3.0]]), 4), [[2.0, 3.0]] * 4)   # one sample: repeated


def test_resample_refuses_an_empty_sequence_with_c3t_error():
    with pytest.raises(C3tError, match="empty sequence .* holds no sample"):
        resample(np.zeros((0, 6)), 10)
