"""Geometric DVS augmentation: invariants, one transform per sample across T, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from neuromoco import augment as A

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def clip(T=3, H=12, W=10, seed=0, density=0.2, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 4, (T, 2, H, W), generator=g).to(dtype)
    keep = torch.rand((T, 2, H, W), generator=g) < density
    return x * keep


def constant_in_time(N=6, T=4, H=16, W=16):
    """A batch whose time steps (and polarities) are all the same image, different per sample."""
    g = torch.Generator().manual_seed(1)
    img = (torch.rand(N, 1, 1, H, W, generator=g) < 0.3).float()
    return img.expand(N, T, 2, H, W).contiguous()


RANDOM_TRANSFORMS = [
    A.HFlip(0.5),
    A.Translate(3, 2),
    A.Roll(4),
    A.Rotate(30.0),
    A.ShearX(0.3),
    A.ShearY(0.3),
    A.Cutout(),
    A.RandomResizedCrop(),
    A.DVSAugment(),
    A.DVSAugment(ops=("roll", "rotate", "shear_x")),
    A.make_policy("nda_ncaltech101"),
    A.Compose((A.HFlip(), A.Rotate(10.0))),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.uint8])
@pytest.mark.parametrize("t", RANDOM_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_shape_dtype_device_preserved(t, dtype, device):
    x = clip(dtype=dtype).to(device)
    y = t(x, generator=A.seeded(0))
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    b = torch.stack([x, x, x])
    yb = t(b, generator=A.seeded(0))
    assert yb.shape == b.shape and yb.dtype == dtype and yb.device == b.device


@pytest.mark.parametrize("t", RANDOM_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_same_transform_for_every_time_step_and_different_per_sample(t):
    x = constant_in_time()
    y = t(x, generator=A.seeded(3))
    # every time step and polarity of a sample got the same spatial transform
    assert torch.equal(y, y[:, :1, :1].expand_as(y))
    # samples that start identical end up different (their own draws)
    same = constant_in_time()[:1].expand(8, -1, -1, -1, -1).contiguous()
    ys = t(same, generator=A.seeded(4))
    if not isinstance(t, A.Compose):
        assert any(not torch.equal(ys[0], ys[i]) for i in range(1, 8))


@pytest.mark.parametrize("t", RANDOM_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_deterministic_under_a_seed(t):
    x = torch.stack([clip(seed=s) for s in range(5)])
    a = t(x, generator=A.seeded(11))
    b = t(x, generator=A.seeded(11))
    assert torch.equal(a, b)
    outs = {t(x, generator=A.seeded(s)).sum().item() for s in range(12)}
    if not isinstance(t, A.HFlip | A.Roll):  # those two preserve the sum by design
        assert len(outs) > 1
    # the global RNG path works too
    torch.manual_seed(0)
    c = t(x)
    torch.manual_seed(0)
    assert torch.equal(c, t(x))


def test_same_seed_same_augmentation_in_every_process():
    """The draws must not depend on the per-process string hash (PYTHONHASHSEED): DVSAugment
    used to visit the chosen ops in a set's order, so a seeded training run was not
    reproducible from one process to the next (found comparing two identical finetuning runs)."""
    import subprocess
    import sys

    code = (
        "import torch, neuromoco.augment as A;"
        "x = torch.rand(16, 3, 2, 32, 32, generator=torch.Generator().manual_seed(0));"
        "y = A.POLICIES['neuromoco_gesture_polarity']()(x, generator=A.seeded(5));"
        "print(float(y.double().sum()), float((y.double() ** 2).sum()))"
    )
    outs = set()
    for hash_seed in ("1", "2", "3"):
        env = {**__import__("os").environ, "PYTHONHASHSEED": hash_seed}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        outs.add(r.stdout.strip())
    assert len(outs) == 1, outs


def test_hflip_exact():
    x = clip()
    assert torch.equal(A.hflip(x), x.flip(-1))
    assert torch.equal(A.hflip(A.hflip(x)), x)
    b = torch.stack([x, x])
    y = A.hflip(b, torch.tensor([True, False]))
    assert torch.equal(y[0], x.flip(-1)) and torch.equal(y[1], x)
    assert A.hflip(x).sum() == x.sum()
    assert torch.equal(A.HFlip(1.0)(x), x.flip(-1)) and torch.equal(A.HFlip(0.0)(x), x)


@pytest.mark.parametrize("dx, dy", [(0, 0), (3, -2), (-7, 5), (13, 25)])
def test_roll_matches_torch_roll_and_preserves_mass(dx, dy):
    x = clip()
    y = A.roll(x, dx, dy)
    assert torch.equal(y, torch.roll(x, shifts=(dy, dx), dims=(-2, -1)))
    assert y.sum() == x.sum()


def test_translate_within_bounds_preserves_mass_and_is_a_shift():
    x = torch.zeros(2, 2, 12, 10)
    x[:, :, 3:8, 2:6] = clip(T=2, H=5, W=4, density=1.0) + 1
    y = A.translate(x, 3, -2)
    assert y.sum() == x.sum()
    assert torch.equal(y[:, :, 1:6, 5:9], x[:, :, 3:8, 2:6])
    # content shifted off the image is lost, nothing else changes
    z = A.translate(x, 8, 0)
    assert z.sum() < x.sum() and torch.equal(z[..., 8:], x[..., :2])
    assert torch.equal(A.translate(x, 0.4, -0.4), x)  # rounds to the nearest pixel


@pytest.mark.parametrize("H, W", [(8, 8), (9, 9), (6, 6)])
def test_rotate_90_is_rot90(H, W):
    x = clip(H=H, W=W)
    assert torch.equal(A.rotate(x, 90.0), torch.rot90(x, 1, dims=(-2, -1)))  # counter-clockwise
    assert torch.equal(A.rotate(x, -90.0), torch.rot90(x, -1, dims=(-2, -1)))
    assert torch.equal(A.rotate(x, 180.0), x.flip(-1).flip(-2))
    assert torch.equal(A.rotate(x, 0.0), x) and torch.equal(A.rotate(x, 360.0), x)


def test_shear_moves_rows_proportionally():
    H = W = 21
    x = torch.zeros(1, 1, H, W)
    x[..., :, 10] = 1  # a vertical line through the centre column
    y = A.shear_x(x, 0.5)  # x' = x + 0.5 (y − 10)
    for r in range(H):
        cols = y[0, 0, r].nonzero().flatten().tolist()
        # nearest inverse mapping: output column c reads source column ⌊c − 0.5 (r − 10) + ½⌋
        want = [c for c in range(W) if math.floor(c - 0.5 * (r - 10) + 0.5) == 10]
        assert cols == want and len(want) == 1
        assert abs(cols[0] - (10 + 0.5 * (r - 10))) <= 0.5
    xh = x.transpose(-1, -2).contiguous()
    yh = A.shear_y(xh, 0.5)
    assert torch.equal(yh, y.transpose(-1, -2))
    assert torch.equal(A.shear_x(x, 0.0), x)


def test_cutout_box_same_for_all_steps():
    x = torch.ones(3, 2, 10, 12)
    y = A.cutout(x, [2, 3, 4, 5])
    assert y.sum() == x.sum() - 3 * 2 * 4 * 5
    assert (y[:, :, 3:8, 2:6] == 0).all() and y[:, :, :3].eq(1).all()
    c = A.Cutout((0.1, 0.1))(torch.ones(4, 3, 2, 20, 20), generator=A.seeded(0))
    removed = (c == 0).all(dim=(1, 2)).sum(dim=(1, 2))  # zero pixels, same at every step
    assert removed.tolist() == [36] * 4  # side round(sqrt(0.1·400)) = 6
    assert torch.equal((c == 0).all(dim=(1, 2)), (c == 0).any(dim=(1, 2)))


def test_resize_and_resized_crop():
    x = clip(H=6, W=8)
    up = A.resize(x, (16, 12))
    assert up.shape == (3, 2, 12, 16)
    assert torch.equal(up, x.repeat_interleave(2, -1).repeat_interleave(2, -2))
    assert up.sum() == 4 * x.sum()
    assert torch.equal(A.resize(up, (8, 6)), x)
    assert torch.equal(A.resized_crop(x, [0, 0, 8, 6]), x)
    crop = A.resized_crop(x, [2, 1, 4, 3], size=(4, 3))
    assert torch.equal(crop, x[..., 1:4, 2:6])
    r = A.RandomResizedCrop(size=(5, 7))(torch.stack([x, x]), generator=A.seeded(0))
    assert r.shape == (2, 3, 2, 7, 5)
    boxes = A.RandomResizedCrop().boxes(100, 8, 6, A.seeded(1))
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 8).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= 6).all()


def test_policy_translate_magnitudes_are_spikformer_integers():
    x = torch.zeros(200, 1, 1, 31, 31)
    x[..., 15, 15] = 1
    pol = A.DVSAugment(ops=("translate_x",), flip_p=0.0, translate=5)
    y = pol(x, generator=A.seeded(0))
    pos = y.flatten(1).argmax(1)
    dx = (pos % 31 - 15).tolist()
    assert set(dx) <= set(range(-5, 6)) and len(set(dx)) >= 8
    assert (pos // 31 == 15).all()  # y untouched
    assert y.sum() == 200  # integer translations lose nothing inside the image


def test_policy_flip_only_and_identity():
    x = torch.stack([clip(seed=s) for s in range(4)])
    assert torch.equal(A.DVSAugment(ops=("identity",), flip_p=0.0)(x), x)
    assert torch.equal(A.DVSAugment(ops=("identity",), flip_p=1.0)(x), x.flip(-1))


def test_two_views_differ_and_are_reproducible():
    x = clip(H=32, W=32, density=0.5)
    tv = A.TwoViews(A.DVSAugment())
    q, k = tv(x, generator=A.seeded(0))
    assert q.shape == k.shape == x.shape
    diffs = sum(not torch.equal(*tv(x, generator=A.seeded(s))) for s in range(10))
    assert diffs >= 8  # (identity, no flip) twice is possible but rare
    q2, k2 = tv(x, generator=A.seeded(0))
    assert torch.equal(q, q2) and torch.equal(k, k2)
    qb, kb = tv(torch.stack([x, x]), generator=A.seeded(1))
    assert qb.shape == (2, *x.shape)


def test_make_policy_and_bad_arguments():
    assert isinstance(A.make_policy(), A.DVSAugment)
    assert "shear_y" in A.make_policy("neuromoco").ops
    assert "shear_y" not in A.make_policy("spikformer").ops
    assert A.make_policy("neuromoco", rotate=15.0).rotate == 15.0
    with pytest.raises(ValueError, match="unknown augmentation policy"):
        A.make_policy("randaugment")
    with pytest.raises(ValueError, match="unknown DVSAugment parameter"):
        A.make_policy("neuromoco", brightness=0.2)
    with pytest.raises(ValueError, match="takes no parameters"):
        A.make_policy("none", rotate=3)
    with pytest.raises(ValueError, match="unknown augmentation op"):
        A.DVSAugment(ops=("solarize",))
    with pytest.raises(ValueError, match="flip_p"):
        A.DVSAugment(flip_p=1.5)
    with pytest.raises(ValueError, match="cutout scale"):
        A.Cutout((0.5, 0.1))
    with pytest.raises(ValueError, match=r"clip \[T, C, H, W\] or a batch"):
        A.hflip(torch.zeros(2, 8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        A.Rotate()([[0.0]])
    with pytest.raises(ValueError, match="one value per sample"):
        A.translate(torch.zeros(3, 1, 2, 4, 4), [1, 2], 0)
    with pytest.raises(ValueError, match="boxes"):
        A.cutout(torch.zeros(1, 2, 4, 4), [1, 2, 3])
    with pytest.raises(TypeError, match="torch.Generator"):
        A.DVSAugment()(torch.zeros(1, 2, 4, 4), generator=0)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="CPU torch.Generator"):
            A.Rotate()(torch.zeros(1, 2, 4, 4), generator=torch.Generator("cuda"))


def test_augment_module_does_not_import_torchvision():
    import sys

    assert "torchvision" not in sys.modules


def test_gesture_policy_never_mirrors():
    """A mirrored gesture is another class: the gesture policy must never flip."""
    from neuromoco.augment import make_policy, seeded

    pol = make_policy("neuromoco_gesture")
    assert pol.flip_p == 0.0 and pol.ops == make_policy("neuromoco").ops
    x = torch.zeros(64, 2, 2, 16, 16)
    x[..., 2:6, 1:3] = 1.0  # a blob on the left edge
    y = pol(x, generator=seeded(0))
    left, right = y[..., :, :8].sum(), y[..., :, 8:].sum()
    assert left > 0 and right == 0


def test_random_polarity_keeps_counts_and_halves_polarity():
    from neuromoco.augment import RandomPolarity, seeded

    g = seeded(0)
    x = torch.zeros(64, 4, 2, 8, 8)
    x[:, :, 1] = 20.0  # all ON
    out = RandomPolarity(p=1.0)(x, generator=g)
    assert torch.equal(out.sum(2), x.sum(2))  # every pixel keeps its event count
    on_frac = float(out[:, :, 1].sum() / out.sum())
    assert 0.47 < on_frac < 0.53  # Binomial(n, 0.5): about half ON
    # the per-pixel split is random, not a fixed half
    assert out[:, :, 1].std() > 1.0
    # p = 0: unchanged; p = 0.5: about half the samples touched
    assert torch.equal(RandomPolarity(p=0.0)(x, generator=g), x)
    half = RandomPolarity(p=0.5)(x, generator=seeded(1))
    touched = (half[:, :, 0].flatten(1).sum(1) > 0).float().mean()
    assert 0.25 < float(touched) < 0.75


def test_random_polarity_bad_input():
    from neuromoco.augment import RandomPolarity

    with pytest.raises(ValueError, match="p"):
        RandomPolarity(p=1.5)
    with pytest.raises(ValueError, match="2 polarity channels"):
        RandomPolarity(p=1.0)(torch.ones(2, 3, 3, 4, 4))


def test_random_placement_against_a_naive_resampling():
    """RandomPlacement = scale s about the centre then shift d, nearest pixel, zero fill:
    checked pixel by pixel against the formula, for the draws it made."""
    from neuromoco.augment import RandomPlacement, seeded

    x = torch.rand(6, 3, 2, 16, 20)
    aug = RandomPlacement(p=1.0, translate=4, scale=(0.6, 1.0))
    g = seeded(5)
    out = aug(x, generator=g)
    # the same draws, in the order the transform makes them
    g2 = seeded(5)
    torch.rand(6, generator=g2)
    s = 0.6 + 0.4 * torch.rand(6, generator=g2, dtype=torch.float64)
    d = torch.randint(-4, 5, (6, 2), generator=g2).to(torch.float64)
    cx, cy = 19 / 2, 15 / 2
    for n in range(6):
        for yo in range(16):
            for xo in range(20):
                sx = math.floor(cx + (xo - d[n, 0] - cx) / s[n] + 0.5)
                sy = math.floor(cy + (yo - d[n, 1] - cy) / s[n] + 0.5)
                want = x[n, :, :, sy, sx] if 0 <= sx < 20 and 0 <= sy < 16 else 0.0
                assert torch.equal(out[n, :, :, yo, xo], torch.as_tensor(want).expand(3, 2))
    assert torch.equal(RandomPlacement(p=0.0)(x, generator=seeded(0)), x)
    with pytest.raises(ValueError):
        RandomPlacement(scale=(0.0, 1.0))
