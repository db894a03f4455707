"""The LZ4 frames of an AEDAT 4.0 file's packets, decompressed (each packet of an LZ4 file is one
LZ4 frame: https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md). Used by the reader,
:mod:`neuromoco.formats.aedat4`, one batch of packets (2 MiB of file) at a time.

Two kinds of frame, two paths:

* **plain frames**: one block, no checksums, no content size, no dictionary. DV writes these
  (FLG 0x40, 64 KiB blocks, packets of a few hundred events), and so does our writer (FLG 0x60,
  4 MiB blocks). They are recognised for a whole batch at once with numpy
  (:func:`plain_block_sizes`) and go straight to ``lz4.block.decompress``, one call and one
  bytes object per packet (:func:`decompress_plain`): on DV's small packets the per-packet
  Python work sets the reader's speed, and ``lz4.frame.decompress`` sets up a context per call
  and allocates the frame's whole block size (5x slower on 4 MiB-block frames).
* **any other frame** (several blocks, linked blocks, block or content checksums, a content
  size). faery writes FLG 0x54: linked 64 KiB blocks with both checksums, 4096 events a packet.
  :class:`FrameDecoder` hands them to liblz4's own frame decoder, ``LZ4F_decompress``, through
  ctypes, writing every frame of the batch straight after the previous one into one buffer.
  The batch then needs no join, and no bytes object is made per packet. The checksums are
  verified, as ``lz4.frame`` and faery verify them. Chunked reads of faery's 15 M-event file
  in one thread: 0.63-0.66x faery's speed through ``lz4.frame``, 0.75-0.82x now, the checksums
  most of the rest; the reader passes faery by decompressing big files in two worker threads
  (docs/benchmarks.md, "AEDAT 4.0 as faery writes it"). Each thread has its own decoder. After
  a bad frame the decoder makes a fresh context for the next frame. Where liblz4 cannot be
  loaded (no shared library found), the frames go through ``lz4.frame.decompress`` and are
  copied into the buffer: the same bytes, slower.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import struct
from pathlib import Path

import numpy as np

from neuromoco.types import EventFormatError

LZ4_MAGIC = 0x184D2204
_U32 = struct.Struct("<I")


def _u32_at(b: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Little-endian uint32 at each byte offset ``pos`` of ``b`` (uint8), as int64."""
    v = b[pos + 3].astype(np.int64) << 24
    v |= b[pos + 2].astype(np.int64) << 16
    v |= b[pos + 1].astype(np.int64) << 8
    v |= b[pos]
    return v


def plain_block_sizes(buf, starts: list[int], sizes: list[int]) -> np.ndarray:
    """For each frame at ``starts`` (byte offsets in ``buf``) of ``sizes`` bytes: its maximum
    block size (bytes) when it is a plain frame (LZ4 magic, FLG 0x40 or 0x60, BD 64 KiB..4 MiB,
    one block filling the frame, the zero end mark), else 0. int64 array."""
    b = np.frombuffer(buf, dtype=np.uint8)
    s = np.asarray(starts, dtype=np.int64)
    z = np.asarray(sizes, dtype=np.int64)
    fast = z >= 15
    sf, zf = s[fast], z[fast]
    flg, bd = b[sf + 4], b[sf + 5]
    ok = (_u32_at(b, sf) == LZ4_MAGIC) & ((flg == 0x40) | (flg == 0x60))
    ok &= (bd >= 0x40) & (bd <= 0x70) & (bd & 0x8F == 0)
    ok &= (_u32_at(b, sf + 7) + 15 == zf) & (_u32_at(b, sf + zf - 4) == 0)
    fast[fast] = ok
    bound = np.zeros(s.shape[0], dtype=np.int64)
    bound[fast] = 1 << (8 + 2 * (bd[ok].astype(np.int64) >> 4))  # BD 4..7: 64 KiB..4 MiB
    return bound


def decompress_plain(
    buf, starts: list[int], sizes: list[int], block_sizes: np.ndarray, path: Path, base: int
) -> tuple[list[bytes], Exception | None]:
    """The plain frames at ``starts`` (all of them plain: ``block_sizes`` from
    :func:`plain_block_sizes`, none 0) decompressed, one bytes object each, and the error that
    stopped it early (None: all of them), so the packets before the damage are still delivered.
    ``base``: the file offset of ``buf`` (for the message)."""
    import lz4.block

    mv = memoryview(buf)
    block = lz4.block.decompress
    out: list[bytes] = []
    try:
        for a, n, m in zip(starts, sizes, block_sizes.tolist(), strict=True):
            out.append(block(mv[a + 11 : a + n - 4], m))
    except lz4.block.LZ4BlockError as e:
        return out, _failed(path, base + starts[len(out)] - 8, str(e))
    return out, None


def _failed(path: Path, at: int, why: str) -> EventFormatError:
    """The error for the packet whose 8-byte header is at file byte ``at``."""
    return EventFormatError(path, f"corrupt AEDAT 4.0 packet at byte {at}: LZ4 ({why})")


def frame_bound(frame: memoryview) -> int:
    """The most bytes the LZ4 frame ``frame`` can decompress to, from its header and block
    sizes: per block its maximum block size, or less for a short block (a stored one holds its
    own size; a compressed one of ``c`` bytes at most 255 ``c`` + 15, the LZ4 format's largest
    expansion), so a corrupt frame of many tiny blocks cannot ask for a huge buffer. ValueError
    when the frame is malformed (not an LZ4 frame, no end mark inside it)."""
    n = len(frame)
    if n < 7 or _U32.unpack_from(frame)[0] != LZ4_MAGIC:
        raise ValueError("the packet is not an LZ4 frame")
    flg, bd = frame[4], frame[5]
    if flg >> 6 != 1 or not 4 <= (bd >> 4) & 7 <= 7:
        raise ValueError(f"unsupported LZ4 frame descriptor {flg:02x} {bd:02x}")
    block_max = 1 << (8 + 2 * ((bd >> 4) & 7))
    pos = 7 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0)
    tail = 4 if flg & 0x10 else 0  # a block checksum after each block
    bound = 0
    while True:
        if pos + 4 > n:
            raise ValueError("frame incomplete (no end mark)")
        word = _U32.unpack_from(frame, pos)[0]
        size = word & 0x7FFFFFFF
        if size == 0:
            return bound
        bound += min(block_max, size if word >> 31 else 255 * size + 15)
        pos += 4 + size + tail


_VECTOR_BLOCKS = 8
"""Blocks per frame :func:`frame_bounds` follows (faery's frames have 2, plus the end mark)."""


def frame_bounds(buf, starts: list[int], sizes: list[int]) -> np.ndarray | None:
    """:func:`frame_bound` of every frame at ``starts`` (byte offsets in ``buf``) of ``sizes``
    bytes at once (int64): numpy, block by block across the frames, instead of a Python loop
    per frame and block (~3 µs a frame: 10 ms on faery's 15 M-event file). None when a frame
    is malformed or has more than :data:`_VECTOR_BLOCKS` blocks: the caller then follows the
    frames one by one (same values, and the error of the first malformed frame)."""
    b = np.frombuffer(buf, dtype=np.uint8)
    s = np.asarray(starts, dtype=np.int64)
    end = s + np.asarray(sizes, dtype=np.int64)
    if s.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    if (end - s < 7).any() or (_u32_at(b, s) != LZ4_MAGIC).any():
        return None
    flg, bd = b[s + 4].astype(np.int64), b[s + 5].astype(np.int64)
    code = (bd >> 4) & 7
    if (flg >> 6 != 1).any() or (code < 4).any():
        return None
    block_max = 1 << (8 + 2 * code)
    pos = s + 7 + (flg & 0x08) + ((flg & 0x01) << 2)  # content size 8 bytes, dictionary id 4
    tail = (flg & 0x10) >> 2  # a block checksum after each block: 4 bytes
    bound = np.zeros(s.shape[0], dtype=np.int64)
    live = np.arange(s.shape[0])
    for _ in range(_VECTOR_BLOCKS + 1):
        p = pos[live]
        if (p + 4 > end[live]).any():
            return None
        word = _u32_at(b, p)
        size = word & 0x7FFFFFFF
        more = size != 0
        live, word, size, p = live[more], word[more], size[more], p[more]
        if live.shape[0] == 0:
            return bound
        bound[live] += np.minimum(block_max[live], np.where(word >> 31, size, 255 * size + 15))
        pos[live] = p + 4 + size + tail[live]
    return None


class _DecompressOptions(ctypes.Structure):
    """``LZ4F_decompressOptions_t`` (lz4frame.h; the same four unsigned ints since liblz4 1.8)."""

    _fields_ = [
        ("stableDst", ctypes.c_uint),
        ("skipChecksums", ctypes.c_uint),
        ("reserved1", ctypes.c_uint),
        ("reserved0", ctypes.c_uint),
    ]


_LZ4F_VERSION = 100  # LZ4F_VERSION: the frame API version a decompression context is made for


@functools.cache
def liblz4() -> ctypes.CDLL | None:
    """The shared liblz4 with its frame decoder's functions typed, or None where none is found
    (the caller then uses ``lz4.frame``). Looked up once per process."""
    name = ctypes.util.find_library("lz4")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        if lib.LZ4F_getVersion() < 100:
            return None
    except (OSError, AttributeError):
        return None
    size_p = ctypes.POINTER(ctypes.c_size_t)
    lib.LZ4F_createDecompressionContext.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint]
    lib.LZ4F_createDecompressionContext.restype = ctypes.c_size_t
    lib.LZ4F_freeDecompressionContext.argtypes = [ctypes.c_void_p]
    lib.LZ4F_freeDecompressionContext.restype = ctypes.c_size_t
    lib.LZ4F_decompress.argtypes = [
        ctypes.c_void_p, ctypes.c_void_p, size_p, ctypes.c_void_p, size_p, ctypes.c_void_p,
    ]  # fmt: skip
    lib.LZ4F_decompress.restype = ctypes.c_size_t
    lib.LZ4F_isError.argtypes = [ctypes.c_size_t]
    lib.LZ4F_isError.restype = ctypes.c_uint
    lib.LZ4F_getErrorName.argtypes = [ctypes.c_size_t]
    lib.LZ4F_getErrorName.restype = ctypes.c_char_p
    return lib


class FrameDecoder:
    """Decompresses LZ4 frames back to back into a numpy buffer (see the module docstring).

    One per read: use it as a context manager. liblz4 is looked up and a decompression context
    made on the first frame (a file of plain frames never needs them).
    """

    def __init__(self, path: Path):
        self.path = path
        self._lib: ctypes.CDLL | None = None
        self._ctx = ctypes.c_void_p()
        self._options = _DecompressOptions(stableDst=1)  # the buffer stays put during a frame
        self._dst_size = ctypes.c_size_t()
        self._src_size = ctypes.c_size_t()

    def __enter__(self) -> FrameDecoder:
        return self

    def __exit__(self, *exc) -> None:
        if self._ctx:
            self._lib.LZ4F_freeDecompressionContext(self._ctx)
            self._ctx = ctypes.c_void_p()

    def bounds(
        self, buf, starts: list[int], sizes: list[int], base: int
    ) -> tuple[list[int], Exception | None]:
        """:func:`frame_bound` of each frame, up to the first malformed one (its error second)."""
        fast = frame_bounds(buf, starts, sizes)
        if fast is not None:
            return fast.tolist(), None
        mv = memoryview(buf)
        out: list[int] = []
        for a, n in zip(starts, sizes, strict=True):
            try:
                out.append(frame_bound(mv[a : a + n]))
            except ValueError as e:
                return out, _failed(self.path, base + a - 8, str(e))
        return out, None

    def decompress_into(
        self, out: np.ndarray, buf, starts: list[int], sizes: list[int], base: int
    ) -> tuple[list[int], Exception | None]:
        """Decompress the frames at ``starts`` in ``buf`` into ``out`` (uint8, contiguous), one
        after the other from its start; ``out`` must hold their :meth:`bounds`. Returns each
        frame's decompressed size, up to the first corrupt frame, and its error."""
        if not self._ctx:
            self._lib = liblz4()
            if self._lib is None:
                return self._lz4_frame_into(out, buf, starts, sizes, base)
            code = self._lib.LZ4F_createDecompressionContext(ctypes.byref(self._ctx), _LZ4F_VERSION)
            if self._lib.LZ4F_isError(code):
                raise MemoryError("liblz4 could not make a decompression context")
        src = np.frombuffer(buf, dtype=np.uint8)
        src_p = src.ctypes.data
        dst_p = out.ctypes.data
        end = out.shape[0]
        decompress = self._lib.LZ4F_decompress
        ctx, opts = self._ctx, ctypes.byref(self._options)
        dst_size, src_size = self._dst_size, self._src_size
        dst_ref, src_ref = ctypes.byref(dst_size), ctypes.byref(src_size)
        lens: list[int] = []
        at = 0
        for a, n in zip(starts, sizes, strict=True):
            dst_size.value = end - at
            src_size.value = n
            code = decompress(ctx, dst_p + at, dst_ref, src_p + a, src_ref, opts)
            if code != 0:  # an error, or the frame not complete within the packet
                return lens, self._error(code, base + a - 8)
            # bytes after the frame's end inside the packet are ignored (as lz4.frame does)
            lens.append(dst_size.value)
            at += dst_size.value
        return lens, None

    def _error(self, code: int, at: int) -> EventFormatError:
        lib = self._lib
        if lib.LZ4F_isError(code):
            why = lib.LZ4F_getErrorName(code).decode("ascii", "replace")
        else:
            why = f"frame incomplete, {code} more bytes expected"
        # the context is left inside the bad frame: a fresh one for the next call (the
        # reader's worker threads may still decompress later pieces with this decoder)
        lib.LZ4F_freeDecompressionContext(self._ctx)
        self._ctx = ctypes.c_void_p()
        return _failed(self.path, at, why)

    def _lz4_frame_into(self, out, buf, starts, sizes, base):
        """Without liblz4: ``lz4.frame.decompress`` each frame, copied into ``out``."""
        import lz4.frame

        mv = memoryview(buf)
        lens: list[int] = []
        at = 0
        for a, n in zip(starts, sizes, strict=True):
            try:
                raw = lz4.frame.decompress(mv[a : a + n])
            except (RuntimeError, ValueError) as e:
                return lens, _failed(self.path, base + a - 8, str(e))
            if len(raw) > out.shape[0] - at:  # cannot happen within frame_bound
                return lens, _failed(self.path, base + a - 8, "more data than its blocks hold")
            out[at : at + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
            lens.append(len(raw))
            at += len(raw)
        return lens, None
