"""Our own AEDAT 4.0 packet reader (neuromoco/formats/aedat4.py) on packets shaped every way the
format allows, against a naive reader written here from the format description (walk the packet
headers, decompress each LZ4 frame, follow the flatbuffer offsets, read every 16-byte Event
struct on its own) and against ``aedat`` (Rust, an independent decoder). The real DV files are
compared with dv-processing in test_formats_peers.py.

Packets covered: DV's one-block LZ4 frames (FLG 0x40, 64 KiB blocks), our writer's (FLG 0x60,
4 MiB blocks), multi-block linked frames and frames with checksums (through lz4.frame), stored
(uncompressed) LZ4 blocks, uncompressed files, flatbuffers without the size prefix and with an
unusual vtable, packets of zero events, other streams' packets (skipped unread), Zstandard files
(through ``aedat``), and the corruptions each of those can carry.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import lz4.block
import lz4.frame
import numpy as np
import pytest

from neuromoco.events import EventFormatError, iter_events, read_events, read_recording
from neuromoco.formats.aedat4_writer import io_header
from neuromoco.types import EVENT_DTYPE, make_events

SIZE = (64, 48)


def _events(n: int, seed: int = 0, t0: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = t0 + np.cumsum(rng.integers(0, 4, n))
    return make_events(
        t, rng.integers(0, SIZE[0], n), rng.integers(0, SIZE[1], n), rng.integers(0, 2, n)
    )


def _structs(ev: np.ndarray) -> bytes:
    out = np.zeros((ev.shape[0], 16), dtype=np.uint8)
    out[:, 0:8] = ev["t"].astype("<i8").view(np.uint8).reshape(-1, 8)
    out[:, 8:10] = ev["x"].astype("<i2").view(np.uint8).reshape(-1, 2)
    out[:, 10:12] = ev["y"].astype("<i2").view(np.uint8).reshape(-1, 2)
    out[:, 12] = ev["p"]
    return out.tobytes()


def evts(ev: np.ndarray, prefixed: bool = True, odd_vtable: bool = False) -> bytes:
    """An EVTS EventPacket flatbuffer built by hand: DV's layout (root table at 16, a 6-byte
    vtable, the vector right after the table), or (``odd_vtable``) a two-field vtable whose
    vector field comes second in the table and points past 8 bytes of padding."""
    n = ev.shape[0]
    if not odd_vtable:
        body = struct.pack("<I4s", 16, b"EVTS") + bytes(2) + struct.pack("<HHH", 6, 8, 4)
        body += struct.pack("<iI", 6, 4) + struct.pack("<I", n) + _structs(ev)
    else:
        body = struct.pack("<I4s", 20, b"EVTS") + struct.pack("<HHHH", 8, 12, 8, 4) + bytes(4)
        body += struct.pack("<iII", 12, 0, 12) + bytes(8) + struct.pack("<I", n) + _structs(ev)
    assert len(body) % 4 == 0
    return struct.pack("<I", len(body)) + body if prefixed else body


def _frame(raw: bytes, kind: str) -> bytes:
    if kind == "dv":  # FLG 0x40, BD 0x40 (64 KiB), header checksum as python-lz4 makes it
        return lz4.frame.compress(
            raw,
            block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            block_linked=True,
            content_checksum=False,
            store_size=False,
        )
    if kind == "linked":  # several linked 64 KiB blocks (only for > 64 KiB packets)
        return lz4.frame.compress(
            raw, block_size=lz4.frame.BLOCKSIZE_MAX64KB, block_linked=True, store_size=False
        )
    if kind == "checksums":  # content checksum and content size in the frame
        return lz4.frame.compress(raw, content_checksum=True, store_size=True)
    if kind == "stored":  # one block stored uncompressed (high bit of the block size)
        hdr = lz4.frame.compress(
            b"",
            block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            block_linked=True,
            content_checksum=False,
            store_size=False,
        )[:7]
        return hdr + struct.pack("<I", len(raw) | 0x80000000) + raw + bytes(4)
    raise ValueError(kind)


def aedat4_file(path: Path, packets: list[tuple[int, bytes]], compression: str = "lz4") -> Path:
    """A file with our IOHeader (stream 0: events, ``SIZE``) and these (stream id, body) packets;
    no file data table (readers then scan to the end of the file)."""
    data = bytearray(io_header(SIZE, "test", compression))
    for sid, body in packets:
        data += struct.pack("<ii", sid, len(body)) + body
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------- naive reader, from the spec


def naive_read(path: Path) -> np.ndarray:
    """Every event of stream 0, decoded one struct at a time (no code shared with the reader)."""
    data = path.read_bytes()
    (hsize,) = struct.unpack_from("<I", data, 14)
    pos = 18 + hsize
    rows = []
    compressed = b"LZ4" in data[:pos]
    while pos + 8 <= len(data):
        sid, size = struct.unpack_from("<ii", data, pos)
        body = data[pos + 8 : pos + 8 + size]
        pos += 8 + size
        if sid != 0:
            continue
        if compressed:
            body = lz4.frame.decompress(body)
        base = 4 if body[8:12] == b"EVTS" else 0
        table = base + struct.unpack_from("<I", body, base)[0]
        vtable = table - struct.unpack_from("<i", body, table)[0]
        field = struct.unpack_from("<H", body, vtable + 4)[0]
        vec = table + field + struct.unpack_from("<I", body, table + field)[0]
        (n,) = struct.unpack_from("<I", body, vec)
        for i in range(n):
            t, x, y, p = struct.unpack_from("<qhh?", body, vec + 4 + 16 * i)
            rows.append((t, x, y, int(p)))
    return np.array(rows, dtype=EVENT_DTYPE)


def _chunked(path: Path, chunk: int) -> np.ndarray:
    with iter_events(path, chunk_events=chunk) as it:
        parts = list(it)
    assert all(len(c) <= chunk for c in parts)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=EVENT_DTYPE)


def _check_all_ways(path: Path, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(naive_read(path), expected)  # the test's own file is right
    rec = read_recording(path)
    assert rec.sensor_size == SIZE and rec.camera == "test" and rec.n_reordered == 0
    np.testing.assert_array_equal(rec.events, expected)
    for chunk in (1, 7, 250, 1 << 20):
        np.testing.assert_array_equal(_chunked(path, chunk), expected)


# -------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("kind", ["dv", "checksums", "stored"])
@pytest.mark.parametrize("prefixed", [True, False])
def test_frame_kinds_and_layouts(tmp_path: Path, kind: str, prefixed: bool) -> None:
    parts = [_events(n, seed=i, t0=10_000 * i) for i, n in enumerate([300, 0, 1, 257, 40])]
    packets = [(0, _frame(evts(ev, prefixed=prefixed), kind)) for ev in parts]
    f = aedat4_file(tmp_path / f"{kind}.aedat4", packets)
    _check_all_ways(f, np.concatenate(parts))


def test_multi_block_linked_frames(tmp_path: Path) -> None:
    """A 10,000-event packet (160 kB) in linked 64 KiB blocks: the lz4.frame path."""
    parts = [_events(10_000, seed=1), _events(300, seed=2, t0=10**6)]
    packets = [(0, _frame(evts(parts[0]), "linked")), (0, _frame(evts(parts[1]), "dv"))]
    f = aedat4_file(tmp_path / "linked.aedat4", packets)
    _check_all_ways(f, np.concatenate(parts))


def test_odd_vtable_and_other_streams(tmp_path: Path) -> None:
    """A flatbuffer laid out differently (the general offset path) between DV-style packets,
    and packets of other streams holding bytes that are no LZ4 at all (never decompressed)."""
    a, b, c = _events(100, 1), _events(50, 2, t0=10**6), _events(70, 3, t0=2 * 10**6)
    packets = [
        (0, _frame(evts(a), "dv")),
        (1, b"not an lz4 frame"),
        (0, _frame(evts(b, odd_vtable=True), "dv")),
        (3, bytes(5)),
        (0, _frame(evts(c), "dv")),
    ]
    f = aedat4_file(tmp_path / "mixed.aedat4", packets)
    _check_all_ways(f, np.concatenate([a, b, c]))


def test_uncompressed_file(tmp_path: Path) -> None:
    parts = [_events(120, 1), _events(3, 2, t0=10**6)]
    f = aedat4_file(tmp_path / "none.aedat4", [(0, evts(ev)) for ev in parts], "none")
    _check_all_ways(f, np.concatenate(parts))


def test_matches_aedat_on_written_and_dv_shaped_files(tmp_path: Path) -> None:
    """``aedat`` (Rust) reads the same events from DV-shaped packets and from our writer's."""
    import aedat

    from neuromoco.formats.writer import open_writer

    ev = _events(5000, seed=4)
    dv = aedat4_file(
        tmp_path / "dv.aedat4",
        [(0, _frame(evts(ev[i : i + 300]), "dv")) for i in range(0, 5000, 300)],
    )
    ours = tmp_path / "ours.aedat4"
    with open_writer(ours, SIZE, packet_events=333) as w:
        w.write(ev)
    for f in (dv, ours):
        ref = np.concatenate([p["events"] for p in aedat.Decoder(str(f)) if "events" in p])
        got = read_recording(f).events
        for k, r in (("t", "t"), ("x", "x"), ("y", "y"), ("p", "on")):
            np.testing.assert_array_equal(got[k].astype(np.int64), ref[r].astype(np.int64))


@pytest.mark.skipif(shutil.which("zstd") is None, reason="no zstd command to make a Zstandard file")
def test_zstd_file_goes_through_aedat(tmp_path: Path) -> None:
    """DV's Zstandard option (IOHeader compression 3): read through ``aedat``, same events."""
    parts = [_events(200, 1), _events(90, 2, t0=10**6)]
    packets = []
    for ev in parts:
        raw = tmp_path / "raw.bin"
        raw.write_bytes(evts(ev))
        subprocess.run(["zstd", "-q", "-f", str(raw), "-o", str(tmp_path / "raw.zst")], check=True)
        packets.append((0, (tmp_path / "raw.zst").read_bytes()))
    f = aedat4_file(tmp_path / "zstd.aedat4", packets, "lz4")
    data = bytearray(f.read_bytes())
    # IOHeader.compression (the first table field, int32) from 1 (LZ4) to 3 (ZSTD)
    (hsize,) = struct.unpack_from("<I", data, 14)
    head = bytes(data[18 : 18 + hsize])
    table = struct.unpack_from("<I", head, 0)[0]
    assert struct.unpack_from("<i", head, table + 4)[0] == 1
    struct.pack_into("<i", data, 18 + table + 4, 3)
    f.write_bytes(bytes(data))
    rec = read_recording(f)
    np.testing.assert_array_equal(rec.events, np.concatenate(parts))
    np.testing.assert_array_equal(_chunked(f, 64), np.concatenate(parts))


# ------------------------------------------------------------------------------- bad input


def _bad(tmp_path: Path, packets, match: str, compression: str = "lz4") -> None:
    f = aedat4_file(tmp_path / "bad.aedat4", packets, compression)
    for read in (lambda p: read_recording(p).events, lambda p: _chunked(p, 64)):
        with pytest.raises(EventFormatError, match=match) as e:
            read(f)
        assert "bad.aedat4" in str(e.value)


def test_corrupt_lz4_block(tmp_path: Path) -> None:
    good = _frame(evts(_events(300)), "dv")
    broken = good[:11] + bytes([0xF0]) * (len(good) - 15) + bytes(4)
    _bad(tmp_path, [(0, good), (0, broken)], r"packet at byte \d+: LZ4")


def test_not_an_lz4_frame(tmp_path: Path) -> None:
    _bad(tmp_path, [(0, b"\x00" * 40)], "LZ4")


def test_packet_runs_past_the_end(tmp_path: Path) -> None:
    good = _frame(evts(_events(300)), "dv")
    f = aedat4_file(tmp_path / "bad.aedat4", [(0, good)])
    f.write_bytes(f.read_bytes()[:-10])  # a recording cut mid-packet
    for read in (lambda p: read_recording(p).events, lambda p: _chunked(p, 64)):
        with pytest.raises(EventFormatError, match="runs past the end"):
            read(f)


def test_cut_packet_header(tmp_path: Path) -> None:
    f = aedat4_file(tmp_path / "bad.aedat4", [(0, _frame(evts(_events(10)), "dv"))])
    f.write_bytes(f.read_bytes() + b"\x00\x00\x00")
    with pytest.raises(EventFormatError, match="packet header cut|truncated"):
        read_recording(f)


@pytest.mark.parametrize(
    "patch, match",
    [
        (lambda b: b[:28] + struct.pack("<I", 10**6) + b[32:], "do not fit"),  # event count
        (lambda b: b[:8] + b"XXXX" + b[12:], "no EVTS identifier"),
        (lambda b: b[:4] + struct.pack("<I", 10**6) + b[8:], "outside its"),  # root offset
    ],
)
def test_bad_flatbuffer_offsets(tmp_path: Path, patch, match: str) -> None:
    body = patch(bytearray(evts(_events(20))))
    _bad(tmp_path, [(0, bytes(body))], match, compression="none")


def test_coordinates_outside_the_sensor_and_negative(tmp_path: Path) -> None:
    ev = _events(20)
    ev["x"][5] = SIZE[0]
    _bad(tmp_path, [(0, _frame(evts(ev), "dv"))], "outside the 64x48 sensor")
    raw = bytearray(evts(_events(20)))
    struct.pack_into("<h", raw, 32 + 16 * 3 + 8, -1)  # x of event 3 negative (int16)
    _bad(tmp_path, [(0, _frame(bytes(raw), "dv"))], "outside the 64x48 sensor")


def test_polarity_other_than_0_1_and_negative_time(tmp_path: Path) -> None:
    raw = bytearray(evts(_events(20)))
    raw[32 + 16 * 2 + 12] = 7
    _bad(tmp_path, [(0, _frame(bytes(raw), "dv"))], "polarity")
    raw = bytearray(evts(_events(20)))
    struct.pack_into("<q", raw, 32, -5)
    _bad(tmp_path, [(0, _frame(bytes(raw), "dv"))], "negative timestamp")


def test_out_of_order_events_are_sorted_and_counted(tmp_path: Path) -> None:
    ev = _events(300)
    ev["t"][100], ev["t"][101] = ev["t"][101] + 5, ev["t"][100]
    f = aedat4_file(tmp_path / "order.aedat4", [(0, _frame(evts(ev), "dv"))])
    rec = read_recording(f)
    assert rec.n_reordered >= 1
    assert (np.diff(rec.events["t"]) >= 0).all()
    np.testing.assert_array_equal(np.sort(rec.events["t"]), np.sort(ev["t"]))


@pytest.mark.parametrize("damage", ["lz4", "evts", "cut"])
def test_events_before_the_damage_come_first(tmp_path: Path, damage: str) -> None:
    """A live view or a recorder reading a damaged file gets every event before the damage,
    then the error (the packets of a block are decoded together: none may be dropped)."""
    parts = [_events(300, i, t0=10**6 * i) for i in range(5)]
    packets = [(0, _frame(evts(ev), "dv")) for ev in parts]
    tail = _frame(evts(_events(50, 9, t0=10**8)), "dv")
    if damage == "lz4":
        packets += [(0, tail[:11] + bytes([0xF0]) * (len(tail) - 15) + bytes(4)), (0, tail)]
    elif damage == "evts":
        bad = bytearray(evts(_events(50, 9, t0=10**8)))
        struct.pack_into("<I", bad, 28, 10**6)
        packets += [(0, _frame(bytes(bad), "dv")), (0, tail)]
    else:
        packets += [(0, tail)]
    f = aedat4_file(tmp_path / "damaged.aedat4", packets)
    if damage == "cut":
        f.write_bytes(f.read_bytes()[:-20])
    got = []
    with pytest.raises(EventFormatError, match="damaged.aedat4"):
        with iter_events(f, chunk_events=100) as it:
            for c in it:
                got.append(c)
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(parts))


# ------------------------------------------------------------- other writers, other frame paths


def test_faery_written_file_reads_back_what_faery_was_given(tmp_path: Path) -> None:
    """faery writes its own AEDAT 4.0 layout (packets of 4096 events, each an LZ4 frame of
    linked 64 KiB blocks with block and content checksums: the liblz4 path)."""
    faery = pytest.importorskip("faery", reason="faery (a dev dependency) writes the file")
    ev = _events(20_000, seed=5, t0=1000)
    arr = np.empty(ev.shape[0], dtype=faery.EVENTS_DTYPE)
    arr["t"], arr["x"], arr["y"], arr["on"] = ev["t"], ev["x"], ev["y"], ev["p"].astype(bool)
    f = tmp_path / "faery.aedat4"
    faery.events_stream_from_array(arr, dimensions=SIZE).to_file(str(f), zero_t0=False)
    rec = read_recording(f)
    assert rec.sensor_size == SIZE and rec.n_reordered == 0
    np.testing.assert_array_equal(rec.events, ev)
    for chunk in (7, 4096, 5000, 1 << 20):
        np.testing.assert_array_equal(_chunked(f, chunk), ev)


def _checksum_file(tmp_path: Path, parts: list[np.ndarray], name: str = "sums.aedat4") -> Path:
    """Packets as LZ4 frames with block and content checksums, linked 64 KiB blocks."""
    packets = []
    for ev in parts:
        raw = evts(ev)
        frame = lz4.frame.compress(
            raw,
            block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            block_linked=True,
            block_checksum=True,
            content_checksum=True,
            store_size=False,
        )
        packets.append((0, frame))
    return aedat4_file(tmp_path / name, packets)


@pytest.mark.parametrize("liblz4", [True, False])
def test_checksummed_frames_with_and_without_liblz4(
    tmp_path: Path, monkeypatch, liblz4: bool
) -> None:
    """The frames that are not plain one-block ones go through liblz4 (ctypes) into one buffer,
    or, where liblz4 is not found, through lz4.frame: the same events either way, and a
    checksum that does not match is an error either way."""
    from neuromoco.formats import aedat4_lz4

    if liblz4:
        if aedat4_lz4.liblz4() is None:
            pytest.skip("no shared liblz4 on this machine")
    else:
        monkeypatch.setattr(aedat4_lz4, "liblz4", lambda: None)
    parts = [_events(n, seed=i, t0=10**6 * i) for i, n in enumerate([6000, 0, 1, 300, 4500])]
    f = _checksum_file(tmp_path, parts)
    _check_all_ways(f, np.concatenate(parts))
    # flip the last byte of the last packet (its content checksum): the data decode fine
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(EventFormatError, match=r"packet at byte \d+: LZ4 .*[Cc]hecksum"):
        read_recording(f)


def test_order_is_counted_across_pieces(tmp_path: Path, monkeypatch) -> None:
    """Pieces decoded one by one are joined into chunks: an event older than the one before it
    counts the same whether the two lie in one piece or on the seam between two."""
    from neuromoco.formats import aedat4

    parts = [_events(700, seed=i, t0=1000 * (5 - i)) for i in range(5)]  # each starts earlier
    ev = np.concatenate(parts)
    expected = int(np.count_nonzero(ev["t"][1:] < ev["t"][:-1]))
    assert expected >= 4
    f = _checksum_file(tmp_path, parts)
    counts = []
    for read_bytes in (1 << 21, 64):  # one piece; one piece per packet
        monkeypatch.setattr(aedat4, "_READ_BYTES", read_bytes)
        rec = read_recording(f)
        counts.append(rec.n_reordered)
        in_order = ev[np.argsort(ev["t"], kind="stable")]
        np.testing.assert_array_equal(rec.events, in_order)
        np.testing.assert_array_equal(_chunked(f, 1 << 20), in_order)  # one chunk, sorted
    assert counts == [expected, expected]


def test_frame_of_many_tiny_blocks_is_an_error_not_a_huge_buffer(tmp_path: Path) -> None:
    """A corrupt frame of 200,000 one-byte blocks of 4 MiB maximum size: the buffer it may
    need is bounded by what its bytes can decode to (not 200,000 x 4 MiB: a MemoryError), and
    it reads as a corrupt packet (its blocks decode to nothing: no EVTS flatbuffer)."""
    hdr = lz4.frame.compress(
        b"x", block_size=lz4.frame.BLOCKSIZE_MAX4MB, block_linked=False, store_size=False
    )[:7]
    frame = hdr + (struct.pack("<I", 1) + b"\x00") * 200_000 + bytes(4)
    _bad(tmp_path, [(0, _frame(evts(_events(20)), "checksums")), (0, frame)], "corrupt AEDAT 4.0")


def _packet_ends(path: Path) -> list[int]:
    """The file offset just past each packet (the walk of naive_read)."""
    data = path.read_bytes()
    pos = 18 + struct.unpack_from("<I", data, 14)[0]
    ends = []
    while pos + 8 <= len(data):
        pos += 8 + struct.unpack_from("<ii", data, pos)[1]
        ends.append(pos)
    return ends


def _read_until_error(path: Path, chunk: int) -> tuple[list[np.ndarray], str | None]:
    got: list[np.ndarray] = []
    try:
        with iter_events(path, chunk_events=chunk) as it:
            for c in it:
                got.append(c)
    except EventFormatError as e:
        return got, str(e)
    return got, None


def _count_pooled(monkeypatch) -> list[int]:
    """Make the reader use its worker threads whatever the CPUs here; count the reads that do."""
    from neuromoco.formats import aedat4

    calls = [0]
    pooled = aedat4._pooled

    def counted(*args):
        calls[0] += 1
        return pooled(*args)

    monkeypatch.setattr(aedat4, "_cpus", lambda: 2)
    monkeypatch.delenv(aedat4.THREADS_ENV, raising=False)
    monkeypatch.setattr(aedat4, "_pooled", counted)
    return calls


@pytest.mark.parametrize("writer", ["faery", "checksums", "dv"])
def test_worker_threads_give_what_one_thread_gives(tmp_path: Path, monkeypatch, writer) -> None:
    """Big files are decompressed by two worker threads, a few pieces ahead (aedat4._pooled):
    the same chunks as in one thread (aedat4._serial), on faery's frames (liblz4), checksummed
    ones and DV's plain ones, and a bad content checksum in the middle raises the same error
    after the same events, with the pieces after it decompressed (and dropped) meanwhile."""
    from neuromoco.formats import aedat4

    ev = _events(40_000, seed=3, t0=500)
    f = tmp_path / f"{writer}.aedat4"
    if writer == "faery":
        faery = pytest.importorskip("faery", reason="faery (a dev dependency) writes the file")
        arr = np.empty(ev.shape[0], dtype=faery.EVENTS_DTYPE)
        arr["t"], arr["x"], arr["y"], arr["on"] = ev["t"], ev["x"], ev["y"], ev["p"]
        faery.events_stream_from_array(arr, dimensions=SIZE).to_file(str(f), zero_t0=False)
    elif writer == "checksums":
        _checksum_file(tmp_path, [ev[i : i + 3000] for i in range(0, 40_000, 3000)], f.name)
    else:
        packets = [(0, _frame(evts(ev[i : i + 700]), "dv")) for i in range(0, 40_000, 700)]
        aedat4_file(f, packets)
    monkeypatch.setattr(aedat4, "_READ_BYTES", 20_000)  # pieces of one or a few packets
    pooled = _count_pooled(monkeypatch)
    runs = {}
    for threads in (False, True):
        monkeypatch.setattr(aedat4, "_PIPELINE_BYTES", 0 if threads else 1 << 62)
        runs[threads] = [_read_until_error(f, chunk) for chunk in (999, 1 << 20)]
    for got, err in runs[True] + runs[False]:
        assert err is None
        np.testing.assert_array_equal(np.concatenate(got), ev)
    for (a, _), (b, _) in zip(runs[True], runs[False], strict=True):
        assert [len(c) for c in a] == [len(c) for c in b]
    assert pooled == [2]  # the threaded runs went through the pool, the others not

    ends = _packet_ends(f)
    data = bytearray(f.read_bytes())
    middle = ends[len(ends) // 2] - 1
    data[middle] ^= 0xFF  # faery / checksums: the content checksum; dv: the end mark
    f.write_bytes(bytes(data))
    for chunk in (999, 1 << 20):
        results = []
        for threads in (False, True):
            monkeypatch.setattr(aedat4, "_PIPELINE_BYTES", 0 if threads else 1 << 62)
            results.append(_read_until_error(f, chunk))
        (a, err_a), (b, err_b) = results
        assert err_a is not None and err_a == err_b and f.name in err_a
        assert [len(c) for c in a] == [len(c) for c in b]
        if a:
            np.testing.assert_array_equal(np.concatenate(a), np.concatenate(b))
            np.testing.assert_array_equal(np.concatenate(a), ev[: sum(map(len, a))])


def test_worker_threads_stop_when_the_reader_stops_early(tmp_path: Path, monkeypatch) -> None:
    """A consumer that stops after the first chunk: the workers are stopped and joined, none
    is left running (nor blocked on the pieces no one will take)."""
    import threading

    from neuromoco.formats import aedat4

    parts = [_events(3000, seed=i, t0=10**6 * i) for i in range(12)]
    f = _checksum_file(tmp_path, parts)
    monkeypatch.setattr(aedat4, "_READ_BYTES", 20_000)
    monkeypatch.setattr(aedat4, "_PIPELINE_BYTES", 0)
    pooled = _count_pooled(monkeypatch)
    before = threading.active_count()
    with iter_events(f, chunk_events=100) as it:
        first = next(iter(it))
    np.testing.assert_array_equal(first, parts[0][:100])
    assert pooled == [1]
    assert not [t for t in threading.enumerate() if t.name.startswith("aedat4-lz4")]
    assert threading.active_count() == before


def test_worker_threads_can_be_declined(tmp_path: Path, monkeypatch) -> None:
    """NEUROMOCO_READ_THREADS=0, one CPU, or a worker process of a pool (its siblings read in
    parallel already): big files are read in the calling thread, with the same events."""
    import multiprocessing

    from neuromoco.formats import aedat4

    parts = [_events(3000, seed=i, t0=10**6 * i) for i in range(6)]
    f = _checksum_file(tmp_path, parts)
    monkeypatch.setattr(aedat4, "_READ_BYTES", 20_000)
    monkeypatch.setattr(aedat4, "_PIPELINE_BYTES", 0)
    pooled = _count_pooled(monkeypatch)
    want = np.concatenate(parts)
    np.testing.assert_array_equal(read_events(f), want)
    assert pooled == [1]  # the default: threads
    monkeypatch.setenv(aedat4.THREADS_ENV, "0")
    np.testing.assert_array_equal(read_events(f), want)
    monkeypatch.delenv(aedat4.THREADS_ENV)
    monkeypatch.setattr(aedat4, "_cpus", lambda: 1)
    np.testing.assert_array_equal(read_events(f), want)
    monkeypatch.setattr(aedat4, "_cpus", lambda: 2)
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    np.testing.assert_array_equal(read_events(f), want)
    assert pooled == [1]


def test_frame_bounds_all_at_once_match_frame_by_frame() -> None:
    """aedat4_lz4.frame_bounds (numpy, all frames of a piece at once) gives frame_bound's value
    for every frame, and None (the caller then goes frame by frame, for the error) when any
    frame is malformed or has more blocks than it follows."""
    from neuromoco.formats.aedat4_lz4 import _VECTOR_BLOCKS, frame_bound, frame_bounds

    raw = evts(_events(9000, seed=2))  # > 64 KiB: two linked blocks
    frames = [_frame(raw, "linked"), _frame(raw[:500], "dv"), _frame(raw[:300], "stored")]
    frames += [_frame(raw, "checksums"), lz4.frame.compress(b"", store_size=False)]
    frames.append(
        lz4.frame.compress(raw, block_size=lz4.frame.BLOCKSIZE_MAX64KB, block_checksum=True)
    )
    buf = b"".join(frames)
    sizes = [len(f) for f in frames]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    want = [frame_bound(memoryview(f)) for f in frames]
    assert frame_bounds(buf, starts, sizes).tolist() == want
    assert want[0] >= len(raw) and want[4] == 0
    cut = frames[0][:-4]  # no end mark
    bad_flg = frames[1][:4] + b"\x80" + frames[1][5:]
    many = lz4.frame.compress(b"", store_size=False)[:7]
    many += (struct.pack("<I", 0x80000001) + b"x") * (_VECTOR_BLOCKS + 1) + bytes(4)
    assert frame_bound(memoryview(many)) == _VECTOR_BLOCKS + 1
    for odd in (cut, bad_flg, b"\x00" * 20, many, b"\x04\x22"):
        buf2 = buf + odd
        assert frame_bounds(buf2, [*starts, len(buf)], [*sizes, len(odd)]) is None


@pytest.mark.parametrize(
    "rel", ["aedat4/dvSave-2024_06_20_16_13_00.aedat4", "aedat4/dvxplorer_sample.aedat4"]
)
def test_worker_threads_on_real_dv_files(monkeypatch, rel: str) -> None:
    """Real DV recordings (all under 16 MiB: one thread by default) read through the worker
    threads, in pieces of a few packets: the same chunks and checks as in one thread."""
    from neuromoco.formats import aedat4
    from tests.conftest import shared_file

    f = shared_file(rel)
    monkeypatch.setattr(aedat4, "_READ_BYTES", 50_000)
    pooled = _count_pooled(monkeypatch)
    got = {}
    for threads in (False, True):
        monkeypatch.setattr(aedat4, "_PIPELINE_BYTES", 0 if threads else 1 << 62)
        chunks, err = _read_until_error(f, 10_000)
        assert err is None
        got[threads] = (chunks, read_recording(f).n_reordered)
    assert pooled == [2]
    (a, na), (b, nb) = got[False], got[True]
    assert na == nb and [len(c) for c in a] == [len(c) for c in b]
    np.testing.assert_array_equal(np.concatenate(a), np.concatenate(b))
