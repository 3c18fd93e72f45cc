"""Reading an untrusted ``.npz`` archive (a zip of ``.npy`` members) without trusting any byte of it.

What a reader built on ``open_regular`` and ``open_npz`` can rely on, whatever the file holds:

- Only a regular file is opened: never a symlink (refused, even one swapped in after the check:
  ``O_NOFOLLOW``), a FIFO (``O_NONBLOCK``: opening never hangs), a device or a folder. An empty file
  or one over ``max_bytes`` is refused before a byte of it is read.
- Nothing is ever unpickled: a member's ``.npy`` header is parsed with a bounded length, object,
  structured and sub-array dtypes are refused, and the data is read raw into a plain numeric array.
- Sizes are bounded before anything is decompressed: the sizes the zip directory declares must
  total at most ``max_bytes``; a member's header shape must need at most ``max_bytes`` and agree
  exactly with the size its directory entry declares; its data is read in chunks into an array
  allocated once, and a member longer or shorter than declared is refused.
- Members are stored or deflated, never encrypted, and no name appears twice.
- Every failure, zip, zlib and I/O errors included, is one ``NpzError`` whose message says why;
  the caller adds the path.
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import zipfile
import zlib
from pathlib import Path
from typing import IO, Iterator

import numpy as np

# longest .npy header read (numpy's own default bound)
_MAX_NPY_HEADER = 10_000


class NpzError(Exception):
    """A reason an archive cannot be read; the message says why, the caller adds the path."""


def open_regular(path: str | os.PathLike, max_bytes: int) -> IO[bytes]:
    """Open path for binary reading only if it is a regular, non-empty file of at most max_bytes.

    Raises NpzError for a symlink, anything but a regular file, an empty or too large file, or a
    file that cannot be opened.
    """
    path = Path(path)
    if os.path.islink(path):
        raise NpzError("is a symlink (only regular files are read)")
    try:
        # O_NOFOLLOW closes the race with a symlink swapped in; O_NONBLOCK keeps a FIFO from hanging us
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NpzError("is a symlink (only regular files are read)") from None
        raise NpzError(f"cannot open: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NpzError("not a regular file")
        if st.st_size == 0:
            raise NpzError("empty file")
        if st.st_size > max_bytes:
            raise NpzError(f"file too large: {st.st_size} bytes > max_bytes {max_bytes}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class NpzArchive:
    """An open archive whose zip directory passed the checks; members are read one at a time.

    members: the directory entries by member name, ".npy" dropped ("frames.npy" -> "frames"; a name
    without ".npy" is kept whole), in the archive's order.
    """

    def __init__(self, zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], max_bytes: int) -> None:
        self._zf = zf
        self._max_bytes = max_bytes
        self.members = members

    def read(self, name: str) -> np.ndarray:
        """The array of member `name` (a key of members), in native byte order and C order."""
        return _read_npy(self._zf, self.members[name], self._max_bytes)


@contextlib.contextmanager
def open_npz(f: IO[bytes], max_bytes: int) -> Iterator[NpzArchive]:
    """Open the npz archive in f, its directory checked, for reading members inside the with block.

    Zip, zlib and I/O errors raised inside the block (by NpzArchive.read) become NpzError too, so a
    caller can read its members in whatever order its own checks need. f stays open.
    """
    try:
        with zipfile.ZipFile(f) as zf:
            yield NpzArchive(zf, _check_directory(zf, max_bytes), max_bytes)
    except zipfile.BadZipFile as e:
        f.seek(0)
        if f.read(4) == b"PK\x03\x04":
            raise NpzError(f"truncated or corrupt zip archive ({e})") from None
        raise NpzError("not an npz archive (no zip signature)") from None
    except (zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as e:
        raise NpzError(f"corrupt zip archive ({type(e).__name__}: {e})") from None


def _check_directory(zf: zipfile.ZipFile, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    """The zip directory entries by member name (".npy" dropped), sizes within max_bytes."""
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if key in infos:
            raise NpzError(f"duplicate member {info.filename!r}")
        if info.flag_bits & 0x1:
            raise NpzError(f"member {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise NpzError(f"member {info.filename!r} uses unsupported compression {info.compress_type}")
        infos[key] = info
    total = sum(i.file_size for i in infos.values())
    if total > max_bytes:
        raise NpzError(f"uncompressed size too large: {total} bytes declared > max_bytes {max_bytes} (decompression bomb?)")
    return infos


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> np.ndarray:
    """One .npy member: header checked (no objects, size bounded and consistent), then the raw data read."""
    name = info.filename
    with zf.open(info) as fp:
        try:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=_MAX_NPY_HEADER)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=_MAX_NPY_HEADER)
            else:
                raise NpzError(f"member {name!r}: unsupported npy version {version}")
        except (ValueError, TypeError, SyntaxError) as e:
            raise NpzError(f"member {name!r}: bad npy header ({e})") from None
        if dtype.hasobject:
            raise NpzError(f"member {name!r} holds Python objects (pickle), which are never loaded")
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise NpzError(f"member {name!r}: wrong dtype {dtype} (plain numbers only)")
        count = math.prod(shape)  # Python ints: a hostile shape cannot overflow
        nbytes = count * dtype.itemsize
        if nbytes > max_bytes:
            raise NpzError(f"member {name!r}: array too large: shape {shape} needs {nbytes} bytes > max_bytes {max_bytes}")
        header_len = fp.tell()
        if header_len + nbytes != info.file_size:
            raise NpzError(f"member {name!r}: npy header (shape {shape}, {nbytes} bytes) disagrees with the "
                           f"zip entry's size {info.file_size - header_len} (truncated or corrupt)")
        data = np.empty(count, dtype=dtype)
        got = _read_into(fp, memoryview(data).cast("B"))
        if got != nbytes or fp.read(1):
            raise NpzError(f"member {name!r}: truncated data ({got} of {nbytes} bytes)")
    data = data.reshape(shape, order="F" if fortran else "C")
    return np.ascontiguousarray(data).astype(dtype.newbyteorder("="), copy=False)


def _read_into(fp: IO[bytes], buf: memoryview, chunk: int = 1 << 24) -> int:
    """Fill buf from fp in chunks (no second full-size copy); returns the bytes read."""
    got = 0
    while got < len(buf):
        piece = fp.read(min(chunk, len(buf) - got))
        if not piece:
            break
        buf[got:got + len(piece)] = piece
        got += len(piece)
    return got
