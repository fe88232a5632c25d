import numpy as np
import pytest

from c3t.training.augment import apply_noise


def _ramp(b=4, t=100, c=2):
    x = np.tile(np.linspace(0, 1, t, dtype=np.float32)[None, :, None], (b, 1, c))
    return x, x.copy()


def test_crop_keeps_60_percent_at_the_original_speed_on_both():
    imu, vis = _ramp()
    ni, nv = apply_noise(imu, vis, "crop", seed=0)
    assert np.array_equal(ni, nv)  # same crop on both modalities
    for clip in ni[:, :, 0]:
        span = clip.max() - clip.min()
        assert 0.55 < span < 0.65  # 60% of the clip's content
        rising = np.diff(clip) > 0
        assert 0.55 < rising.mean() < 0.65  # at the original speed (one step per step)


def test_misalign_moves_the_imu_only_and_dilate_slows_both():
    imu, vis = _ramp()
    ni, nv = apply_noise(imu, vis, "misalign", seed=1)
    assert np.array_equal(nv, vis) and not np.array_equal(ni, imu)
    di, dv = apply_noise(imu, vis, "dilate", seed=1)
    assert np.array_equal(di, dv)
    span = di[:, :, 0].max(1) - di[:, :, 0].min(1)
    assert np.allclose(span, 0.5, atol=0.02)  # half the clip stretched over the window


def test_misalign_imu_shifts_the_gyroscope_against_the_accelerometer_and_is_not_a_crop():
    rng = np.random.default_rng(0)
    imu, vis = rng.normal(size=(6, 128, 6)).astype(np.float32), rng.normal(size=(6, 32, 8)).astype(np.float32)
    ni, nv = apply_noise(imu, vis, "misalign-imu", seed=2)
    assert np.array_equal(nv, vis) and np.array_equal(ni[:, :, :3], imu[:, :, :3])   # camera and accelerometer untouched
    for k in range(len(imu)):   # each clip's gyroscope: the same signal 13-38 steps (10-30%) later or earlier, edges held
        lags = [lag for lag in range(-40, 41) if lag and np.array_equal(
            ni[k, max(lag, 0):128 + min(lag, 0), 3:], imu[k, max(-lag, 0):128 - max(lag, 0), 3:])]
        assert len(lags) == 1 and 12 <= abs(lags[0]) <= 39
    assert not np.array_equal(ni, apply_noise(imu, vis, "crop", seed=2)[0])


def test_noise_is_seeded_and_validated():
    imu, vis = _ramp()
    a = apply_noise(imu, vis, "all", seed=3)
    b = apply_noise(imu, vis, "all", seed=3)
    c = apply_noise(imu, vis, "all", seed=4)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])
    assert apply_noise(imu, vis, "none", 0)[0] is imu
    with pytest.raises(ValueError, match="unknown noise"):
        apply_noise(imu, vis, "shake", 0)


def test_noise_augmentation_perturbs_the_chosen_share_alike_on_both_modalities():
    import torch

    from c3t.training.augment import augment_pair

    t = torch.arange(100, dtype=torch.float32)
    imu = t.view(1, 100, 1).repeat(400, 1, 6)
    vis = t.view(1, 100, 1).repeat(400, 1, 3)
    mild_v, mild_i = augment_pair(vis, imu, torch.Generator().manual_seed(0))
    v, i = augment_pair(vis, imu, torch.Generator().manual_seed(0), strong=0.5)
    span = lambda x: (x[:, :, 0].max(1).values - x[:, :, 0].min(1).values)  # noqa: E731  share of the clip seen
    assert (span(mild_v) >= 72).all()                         # mild crop: >= 80% of the clip (x 0.9-1.1 gain)
    strong = span(v) < 66                                     # 20-60% of the clip
    assert 0.4 < strong.float().mean() < 0.6
    rel = span(v) / span(i)                                   # the same segment on both modalities
    assert ((rel > 0.8) & (rel < 1.25)).all()
    held = (v[:, 1:, 0] == v[:, :-1, 0]).sum(1)               # shifted crops hold edge values
    assert (held[strong] > 30).float().mean() > 0.3


def test_flow_jitter_zooms_shifts_and_scales_each_clip_and_is_seeded():
    """augment.jitter_flow on motion input (B, T, 2, s, s): shapes kept, the same generator
    seed gives the same clips, every frame of a clip moved alike, displacements scaled within
    x0.7..1.3 (a uniform field keeps its direction), and clips differ from each other."""
    import torch

    from c3t.training.augment import augment_pair, jitter_flow

    b, t, s = 64, 4, 16
    uniform = torch.zeros(b, t, 2, s, s)
    uniform[:, :, 0] = 1.0                                    # everything moves right by 1
    a, again = jitter_flow(uniform, torch.Generator().manual_seed(3)), jitter_flow(uniform, torch.Generator().manual_seed(3))
    assert a.shape == uniform.shape and torch.equal(a, again)
    centre = a[:, :, :, s // 2, s // 2]                       # inside the field whatever the zoom and shift
    assert torch.allclose(centre[:, :, 1], torch.zeros(b, t)) and (centre[:, :, 0] > 0.69).all() and (centre[:, :, 0] < 1.31).all()
    assert torch.allclose(centre[:, :1, 0], centre[:, :, 0]) and centre[:, 0, 0].std() > 0.05
    blob = torch.zeros(b, t, 2, s, s)
    blob[:, :, :, 6:10, 6:10] = 1.0
    moved = jitter_flow(blob, torch.Generator().manual_seed(4))
    assert len({tuple((m[0, 0] > 0.3).nonzero().float().mean(0).round().tolist()) for m in moved}) > 3   # placed differently
    v, _ = augment_pair(blob, torch.zeros(b, 128, 6), torch.Generator().manual_seed(0), flow=True)
    assert v.shape == blob.shape and not torch.equal(v, blob)
