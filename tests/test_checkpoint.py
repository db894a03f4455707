"""Checkpoint format: round trip, atomic save, clear errors for every kind of bad file."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from neuromoco.framing import FramingSpec  # noqa: E402
from neuromoco.models.checkpoint import (  # noqa: E402
    FORMAT_VERSION,
    CheckpointError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from neuromoco.models.registry import create_model  # noqa: E402

FRAMING = FramingSpec(
    T=8, split_by="time", size=(32, 32), sensor_size=(128, 128), window_us=500_000
)
CLASSES = ["left", "right", "clap"]


def _model(**kw):
    return create_model("lif_convnet4", num_classes=3, img_size=32, **kw)


def _save(path, model=None, **kw):
    model = model or _model()
    plain = getattr(model, "module", model)
    args = dict(
        arch=plain.arch,
        model_kwargs=plain.model_kwargs,
        class_names=CLASSES,
        framing=FRAMING,
        meta={"recipe": "test", "metrics": {"top1": 0.5}, "epochs": 3},
    )
    args.update(kw)
    return save_checkpoint(path, model, **args)


def test_round_trip_bitwise(tmp_path):
    model = _model(widths=(8, 16, 16, 32))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
        model.body[0][1].running_mean.add_(0.5)  # a BN buffer too
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(2, 1, 2, 32, 32)).sum().backward()
    opt.step()
    extra = {
        "optimizer": opt.state_dict(),
        "rng": torch.get_rng_state(),
        "step": 7,
        "queue_ptr": torch.tensor(3),
    }
    path = _save(tmp_path / "sub" / "m.pt", model, extra=extra)
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temp file left behind
    loaded, ckpt = load_model(path)
    assert not loaded.training
    assert ckpt.arch == "lif_convnet4" and ckpt.num_classes == 3 and ckpt.class_names == CLASSES
    assert ckpt.framing == FRAMING
    assert ckpt.meta["metrics"]["top1"] == 0.5
    assert ckpt.model_kwargs["widths"] == [8, 16, 16, 32]
    assert ckpt.format_version == FORMAT_VERSION
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert torch.equal(ckpt.extra["rng"], extra["rng"])
    opt2 = torch.optim.SGD(loaded.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(ckpt.extra["optimizer"])
    assert ckpt.extra["step"] == 7
    x = torch.rand(4, 2, 2, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_save_refuses_unstorable_values_and_keeps_old_file(tmp_path):
    path = _save(tmp_path / "m.pt")
    before = path.read_bytes()

    class Foo:
        pass

    with pytest.raises(CheckpointError, match=r"m\.pt.*meta\['obj'\].*Foo"):
        _save(path, meta={"obj": Foo()})
    with pytest.raises(CheckpointError, match="3 class names"):
        _save(
            path,
            class_names=["a", "b", "c"],
            model_kwargs={**_model().model_kwargs, "num_classes": 4},
        )
    with pytest.raises(CheckpointError, match="framing must be a FramingSpec"):
        _save(path, framing={"T": 8})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_missing_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello, this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match=r"junk\.pt: not a NeuroMoCo checkpoint"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.pt"
    torch.save(_model().state_dict(), plain)  # a bare state_dict from somewhere else
    with pytest.raises(CheckpointError, match="not a NeuroMoCo checkpoint.*body"):
        load_checkpoint(plain)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated(tmp_path, keep):
    path = _save(tmp_path / "m.pt")
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=r"cut\.pt: truncated or corrupt"):
        load_checkpoint(cut)


def test_corrupt_pickle_record(tmp_path):
    path = _save(tmp_path / "m.pt")
    data = bytearray(path.read_bytes())
    start = data.find(b"data.pkl") + len(b"data.pkl")  # the pickle record follows its local header
    data[start + 64 : start + 96] = b"\x00garbage!" * 3 + b"\xff\xfe"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"bad\.pt: truncated or corrupt"):
        load_checkpoint(bad)


def _rewrite(path, out, **changes):
    obj = torch.load(path, weights_only=True)
    for k, v in changes.items():
        if v is None:
            obj.pop(k)
        else:
            obj[k] = v
    torch.save(obj, out)
    return out


def test_unknown_arch(tmp_path):
    p = _rewrite(_save(tmp_path / "m.pt"), tmp_path / "u.pt", arch="resnet9000")
    ckpt = load_checkpoint(p)  # readable ...
    with pytest.raises(
        CheckpointError, match=r"u\.pt: unknown architecture 'resnet9000'.*sew_resnet18"
    ):
        load_model(p)  # ... but not buildable
    assert ckpt.arch == "resnet9000"


def test_state_dict_mismatch_names_keys(tmp_path):
    path = _save(tmp_path / "m.pt")
    sd = torch.load(path, weights_only=True)["state_dict"]
    sd.pop("head.bias")
    sd["extra.weight"] = torch.zeros(1)
    sd["body.0.0.weight"] = torch.zeros(3, 3)
    p = _rewrite(path, tmp_path / "sd.pt", state_dict=sd)
    with pytest.raises(CheckpointError) as e:
        load_model(p)
    msg = str(e.value)
    assert "missing keys head.bias" in msg and "unexpected keys extra.weight" in msg
    assert "body.0.0.weight: checkpoint (3, 3) vs model (16, 2, 3, 3)" in msg


def test_class_count_mismatch(tmp_path):
    path = _save(tmp_path / "m.pt")
    p = _rewrite(path, tmp_path / "c.pt", class_names=["a", "b"])
    with pytest.raises(CheckpointError, match="2 class names but num_classes=3"):
        load_checkpoint(p)
    # stored kwargs say 5 classes while the head has 3
    kw = {**torch.load(path, weights_only=True)["model_kwargs"], "num_classes": 5}
    p = _rewrite(path, tmp_path / "k.pt", model_kwargs=kw)
    with pytest.raises(CheckpointError, match="class-count mismatch"):
        load_model(p)
    # saving a 3-class model with kwargs claiming 4 classes is refused up front
    with pytest.raises(CheckpointError, match="head has 3 classes"):
        _save(
            tmp_path / "x.pt",
            class_names=list("abcd"),
            model_kwargs={**_model().model_kwargs, "num_classes": 4},
        )


def test_newer_format_and_missing_fields(tmp_path):
    path = _save(tmp_path / "m.pt")
    p = _rewrite(path, tmp_path / "v.pt", format_version=FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match="newer than this NeuroMoCo supports"):
        load_checkpoint(p)
    p = _rewrite(path, tmp_path / "f.pt", framing=None)
    with pytest.raises(CheckpointError, match="'framing' missing"):
        load_checkpoint(p)
    p = _rewrite(path, tmp_path / "g.pt", framing={"T": 0})
    with pytest.raises(CheckpointError, match="bad framing spec"):
        load_checkpoint(p)


def test_weights_only_refuses_code(tmp_path):
    """A pickle that would run code is refused (weights_only), not executed."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "neuromoco-checkpoint", "x": Evil()}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="truncated or corrupt|Unsupported|weights_only"):
        load_checkpoint(path)


def test_wrapper_prefix_is_stripped(tmp_path):
    """A DDP-style wrapper (keys ``module.*``) saves a checkpoint that loads into the plain model."""
    model = _model()

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.module = m
            self.num_classes = m.num_classes

    path = _save(tmp_path / "w.pt", Wrapper(model))
    loaded, _ = load_model(path)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_sizes_are_width_height_and_version_1_checkpoints_are_converted(tmp_path):
    """create_model takes (width, height) like FramingSpec.size; a version-1 checkpoint stored
    (H, W) and loads as the same model."""
    model = create_model("lif_convnet4", num_classes=3, img_size=(48, 32), widths=(4, 4, 4, 4))
    from neuromoco.models.stateful import StatefulStep

    assert StatefulStep(model).frame_shape == (2, 32, 48)
    x = torch.zeros(2, 1, 2, 32, 48)  # [T, N, C, H=32, W=48]
    with torch.no_grad():
        assert model(x).shape == (2, 1, 3)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, arch="lif_convnet4", model_kwargs=model.model_kwargs,
                    class_names=["a", "b", "c"], framing=FramingSpec(T=2, size=(48, 32)))  # fmt: skip
    assert load_checkpoint(path).model_kwargs["img_size"] == [48, 32]
    old = _rewrite(path, tmp_path / "v1.pt", format_version=1,
                   model_kwargs={**model.model_kwargs, "img_size": [32, 48]})  # fmt: skip
    again, _ = load_model(old)
    with torch.no_grad():
        assert again(x).shape == (2, 1, 3)


def test_load_model_as_classifier_refuses_a_pretraining_checkpoint(tmp_path):
    """``classifier=True`` (evaluation): a backbone-only checkpoint (no classes) is refused with
    the file named; a classifier loads as without the flag."""
    enc = create_model("lif_convnet4", num_classes=0, img_size=32)
    path = _save(tmp_path / "enc.pt", enc, class_names=[])
    model, ck = load_model(path)  # loading it as an encoder is fine
    assert ck.num_classes == 0
    with pytest.raises(CheckpointError, match="enc.pt.*finetune it first"):
        load_model(path, classifier=True)
    _, ck = load_model(_save(tmp_path / "clf.pt"), classifier=True)
    assert ck.num_classes == 3
