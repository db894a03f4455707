"""The format registry is the one source of what the project knows about a format: every module
it names is a reader with the one probe signature, suffix lookups and detection agree with it,
every writable format round-trips, writers and the recorder pick formats by one rule, and one
sensor-size rule serves every reader that has to infer a size. Expectations are written out here
(naive tables and loops), not read back from the code under test."""

from __future__ import annotations

import inspect
import zipfile

import numpy as np
import pytest

from neuromoco.events import (
    FORMATS,
    WRITABLE_FORMATS,
    detect_format,
    make_events,
    read_recording,
    write_events,
)
from neuromoco.formats import registry
from neuromoco.formats.event_writer import EventWriter
from neuromoco.formats.sensor_size import camera_size, extent, infer_sensor_size
from neuromoco.formats.writer import open_writer
from neuromoco.streaming.recorder import check_record_target

# The suffix table detection used before the registry (a zero-byte file takes this format).
SUFFIX_HINTS = {
    ".aedat4": "aedat4",
    ".aedat": "aedat3",
    ".aedat3": "aedat3",
    ".aedat2": "aedat2",
    ".bin": "atis_bin",
    ".dat": "dat",
    ".raw": "evt3",
    ".npz": "npz",
    ".csv": "text",
    ".txt": "text",
}


def _events(n, size, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 5_000_000, n))
    return make_events(
        t, rng.integers(0, size[0], n), rng.integers(0, size[1], n), rng.integers(0, 2, n)
    )


# ---------------------------------------------------------------- one record per format


def test_events_api_lists_are_the_registry():
    assert FORMATS == tuple(f.name for f in registry.FORMATS)
    assert sorted(FORMATS) == sorted(
        ["aedat4", "aedat3", "aedat2", "atis_bin", "dat", "evt2", "evt3", "npz", "text"]
    )
    assert sorted(WRITABLE_FORMATS) == sorted(["aedat4", "aedat3", "evt2", "evt3", "dat", "npz"])
    assert sorted(registry.STREAM_WRITABLE) == sorted(["aedat4", "aedat3", "evt2", "evt3", "dat"])
    assert len(set(FORMATS)) == len(FORMATS)


@pytest.mark.parametrize("fmt", [f.name for f in registry.FORMATS])
def test_every_reader_module_has_the_one_probe_signature(fmt):
    spec = registry.get(fmt)
    mod = registry.reader_module(fmt)
    assert mod.__name__ == f"neuromoco.formats.{spec.module}"
    for name in ("probe", "iter_chunks", "read"):
        assert callable(getattr(mod, name, None)), f"{mod.__name__} has no {name}"
    params = list(inspect.signature(mod.probe).parameters.values())
    assert [p.name for p in params[:4]] == ["path", "fmt", "sensor_size", "head"]
    assert all(p.kind == p.POSITIONAL_OR_KEYWORD for p in params[:4])
    assert params[2].default is None and params[3].default is None
    # anything after the four common arguments is a reading option the registry declares
    extra = [p.name for p in params[4:]]
    assert all(p.kind == p.KEYWORD_ONLY for p in params[4:])
    assert tuple(extra) == spec.options
    assert not hasattr(mod, "PROBE_TAKES_HEAD") and not hasattr(mod, "DEFAULT_SENSOR_SIZE")
    assert spec.suffixes and all(s.startswith(".") and s == s.lower() for s in spec.suffixes)
    w, h = spec.default_sensor
    assert w > 0 and h > 0


@pytest.mark.parametrize("fmt", registry.STREAM_WRITABLE)
def test_every_streaming_writer_is_an_event_writer_of_its_format(fmt):
    cls = registry.writer_class(fmt)
    assert issubclass(cls, EventWriter) and cls.format == fmt


def test_unknown_format_is_refused_with_the_known_ones(tmp_path):
    p = tmp_path / "x.aedat4"
    p.write_bytes(b"")
    with pytest.raises(Exception, match=r"x\.aedat4: unknown event format 'mp4'; known: aedat4"):
        read_recording(p, format="mp4")


# ---------------------------------------------------------------- suffixes and detection


def test_suffix_hints_are_the_old_table():
    suffixes = {s for f in registry.FORMATS for s in f.suffixes}
    assert suffixes == set(SUFFIX_HINTS)
    for suffix, fmt in SUFFIX_HINTS.items():
        assert registry.suffix_hint(suffix) == fmt
        assert registry.suffix_hint(suffix.upper()) == fmt
        assert fmt in [f.name for f in registry.suffix_formats(suffix)]
    assert registry.suffix_hint(".mp4") is None and registry.suffix_formats(".mp4") == ()


@pytest.mark.parametrize("suffix", sorted(SUFFIX_HINTS))
def test_zero_byte_files_take_the_hint_and_the_default_size(suffix, tmp_path):
    p = tmp_path / f"empty{suffix}"
    p.write_bytes(b"")
    fmt = SUFFIX_HINTS[suffix]
    assert detect_format(p) == fmt
    rec = read_recording(p)
    assert rec.format == fmt and rec.events.shape == (0,)
    assert rec.sensor_size == registry.get(fmt).default_sensor


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("fmt", WRITABLE_FORMATS)
def test_every_writable_format_round_trips(fmt, tmp_path):
    size = (346, 260)
    ev = _events(3000, size, seed=len(fmt))
    path = tmp_path / f"rec{registry.get(fmt).suffixes[0]}"
    write_events(path, ev, size, format=fmt)
    rec = read_recording(path)
    assert rec.format == fmt and rec.sensor_size == size
    np.testing.assert_array_equal(rec.events, ev)


# (path, format) -> the format every writer picks, or the words of the refusal
CASES = [
    ("a.aedat4", None, "aedat4"),
    ("a.AEDAT4", None, "aedat4"),
    ("a.aedat", None, "aedat3"),
    ("a.aedat3", None, "aedat3"),
    ("a.dat", None, "dat"),
    ("a.raw", "evt2", "evt2"),
    ("a.raw", "EVT3", "evt3"),
    ("a.raw", None, r"a\.raw: a \.raw recording is EVT 2\.0 or EVT 3\.0"),
    ("a.mp4", None, r"a\.mp4: cannot \w+ to '\.mp4'"),
    ("noext", None, r"noext: cannot \w+ to 'a file without suffix'"),
    ("a.aedat2", None, r"cannot \w+ to '\.aedat2'"),  # readable, not writable
    ("a.csv", None, r"cannot \w+ to '\.csv'"),
    ("a.aedat4", "text", r"cannot \w+ format 'text'"),
]


@pytest.mark.parametrize("name,fmt,want", CASES)
def test_one_output_format_rule(name, fmt, want, tmp_path):
    """write_events' rule, open_writer's and the recorder's are one: same choice, same
    refusals (a given format must match the suffix only for a recording)."""
    path = tmp_path / name
    pickers = {
        "write": lambda: registry.output_format(path, fmt),
        "stream": lambda: registry.output_format(path, fmt, stream=True),
        "record": lambda: check_record_target(path, fmt),
    }
    for what, pick in pickers.items():
        if want in WRITABLE_FORMATS:
            assert pick() == want, what
        else:
            with pytest.raises(ValueError, match=want):
                pick()
    assert not list(tmp_path.iterdir())


def test_npz_is_written_whole_never_streamed(tmp_path):
    assert registry.output_format(tmp_path / "a.npz") == "npz"
    with pytest.raises(ValueError, match=r"a\.npz: npz cannot be written as a stream"):
        registry.output_format(tmp_path / "a.npz", stream=True)
    with pytest.raises(ValueError, match=r"a\.npz: npz cannot be written as a stream"):
        open_writer(tmp_path / "a.npz", (128, 128))
    with pytest.raises(ValueError, match=r"a\.npz: cannot record to \.npz"):
        check_record_target(tmp_path / "a.npz")


def test_whole_file_writers_name_any_format_but_a_recording_keeps_its_suffix(tmp_path):
    # write_events and convert write a temporary name first: a named format needs no suffix
    assert registry.output_format(tmp_path / ".x.tmp", "evt3", stream=True) == "evt3"
    with pytest.raises(ValueError, match=r"a\.aedat4: a evt3 file needs the suffix \.raw"):
        check_record_target(tmp_path / "a.aedat4", "evt3")


def test_open_writer_writes_no_file_under_a_suffix_that_names_no_format(tmp_path):
    with pytest.raises(ValueError, match=r"x\.bin: cannot stream to '\.bin'"):
        open_writer(tmp_path / "x.bin", (128, 128))
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- sensor size


def naive_infer(max_x, max_y):
    for w, h in [(128, 128), (240, 180), (346, 260), (640, 480), (1280, 720)]:
        if max_x <= w - 1 and max_y <= h - 1:
            return (w, h)
    return (max_x + 1, max_y + 1)


@pytest.mark.parametrize(
    "max_xy,want",
    [
        ((-1, -1), (128, 128)),
        ((0, 0), (128, 128)),
        ((127, 127), (128, 128)),
        ((128, 0), (240, 180)),
        ((239, 180), (346, 260)),
        ((345, 259), (346, 260)),
        ((100, 300), (640, 480)),
        ((1279, 719), (1280, 720)),
        ((1280, 0), (1281, 1)),
        ((5000, 10), (5001, 11)),
    ],
)
def test_infer_sensor_size(max_xy, want):
    assert infer_sensor_size(*max_xy) == want == naive_infer(*max_xy)


def test_infer_sensor_size_matches_the_naive_rule_everywhere():
    rng = np.random.default_rng(0)
    for x, y in rng.integers(-1, 1500, (500, 2)):
        assert infer_sensor_size(int(x), int(y)) == naive_infer(int(x), int(y))


def test_extent():
    chunks = [_events(10, (50, 40), seed=1), _events(0, (1, 1)), _events(7, (300, 20), seed=2)]
    want_x = max(int(c["x"].max()) for c in chunks if c.size)
    want_y = max(int(c["y"].max()) for c in chunks if c.size)
    assert extent(chunks) == (17, want_x, want_y)
    assert extent([]) == (0, -1, -1)


def test_camera_size_first_fragment_wins():
    cams = registry.get("dat").cameras
    assert camera_size("hal_plugin_gen41_evk3", cams) == (1280, 720)
    assert camera_size("hal_plugin_gen3_fx3", cams) == (640, 480)
    assert camera_size("Gen 31", cams) == (640, 480)  # case and spaces ignored
    assert camera_size("unknown", cams) is None and camera_size(None, cams) is None
    assert camera_size("DAVIS346", registry.get("aedat3").cameras) == (346, 260)
    assert camera_size("Davis346red", registry.get("aedat2").cameras) == (346, 260)


def _bare_npz(path, ev):
    """An npz like spikingjelly's: t, x, y, p and no sensor size."""
    with zipfile.ZipFile(path, "w") as zf:
        for k in "txyp":
            with zf.open(f"{k}.npy", "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(ev[k]))


@pytest.mark.parametrize("size", [(100, 100), (300, 200), (2000, 900)])
def test_text_and_npz_infer_the_same_size(size, tmp_path):
    """Files that store no size get one rule, also beyond the known cameras (npz used to
    refuse those)."""
    ev = _events(2000, size, seed=size[0])
    csv = tmp_path / "a.csv"
    csv.write_text("t,x,y,p\n" + "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in ev.tolist()))
    npz = tmp_path / "a.npz"
    _bare_npz(npz, ev)
    want = naive_infer(int(ev["x"].max()), int(ev["y"].max()))
    for p in (csv, npz):
        rec = read_recording(p)
        assert rec.sensor_size == want and rec.extra["sensor_size_inferred"] is True, p
        np.testing.assert_array_equal(rec.events, ev)


# ---------------------------------------------------------------- light imports


def test_the_registry_imports_no_reader():
    from conftest import fresh_modules

    from neuromoco.formats import registry

    loaded = fresh_modules(
        "import neuromoco.events\n"
        "from neuromoco.formats import registry\n"
        "registry.output_format('a.aedat4'); registry.suffix_hint('.raw')\n",
        "neuromoco.formats.",
    )
    assert not {f"neuromoco.formats.{f.module}" for f in registry.FORMATS} & set(loaded), loaded
