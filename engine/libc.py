"""The C library's system calls that Python's `os` lacks: mount, umount2, setns, unshare, statx and raw
syscall(2).

One handle, found without `ctypes.util.find_library`: that runs `ldconfig -p` in a subprocess, a cost
paid at every berthd start, and a noticeable one in a machine under emulation. `CDLL(None)` is the
process's own symbol table, which holds the C library on glibc and musl alike.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
LIBC.mount.restype = ctypes.c_int
LIBC.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
LIBC.umount2.restype = ctypes.c_int
LIBC.setns.argtypes = [ctypes.c_int, ctypes.c_int]
LIBC.setns.restype = ctypes.c_int
LIBC.unshare.argtypes = [ctypes.c_int]
LIBC.unshare.restype = ctypes.c_int
LIBC.syscall.restype = ctypes.c_long


_MALLOC_TRIM = getattr(LIBC, "malloc_trim", None)  # glibc only
if _MALLOC_TRIM is not None:
    _MALLOC_TRIM.argtypes = [ctypes.c_size_t]
    _MALLOC_TRIM.restype = ctypes.c_int


def malloc_trim() -> bool:
    """glibc's malloc_trim(0): free pages anywhere in the heap go back to the system, not only at its
    top. False where the C library has none (musl)."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


def last_error(what: str) -> OSError:
    """The OSError for the call that just failed, its message prefixed with `what`."""
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None,
          what: str) -> None:
    if LIBC.mount(source, target, fstype, flags, data) != 0:
        raise last_error(what)


def umount2(target: bytes, flags: int) -> int:
    """0, or the errno: callers decide which failures mean "not mounted"."""
    return 0 if LIBC.umount2(target, flags) == 0 else ctypes.get_errno()


def setns(fd: int, nstype: int) -> None:
    if LIBC.setns(fd, nstype) != 0:
        raise last_error("setns")


def unshare(flags: int) -> None:
    """For the calling thread only, where the namespace kinds in `flags` are per-thread (network is)."""
    if LIBC.unshare(flags) != 0:
        raise last_error("unshare")


AT_FDCWD = -100
AT_NO_AUTOMOUNT = 0x800
STATX_ATTR_MOUNT_ROOT = 0x2000  # Linux 5.8
_STATX_SIZE = 256  # struct statx
_STATX = getattr(LIBC, "statx", None)  # glibc 2.28
if _STATX is not None:
    _STATX.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
    _STATX.restype = ctypes.c_int


def is_mount_root(path: bytes) -> bool | None:
    """Whether `path` (symlinks followed) is the root of a mount, from one statx; None where neither the
    C library nor the kernel can say, and the caller reads the mount table instead."""
    if _STATX is None:
        return None
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    if _STATX(AT_FDCWD, path, AT_NO_AUTOMOUNT, 0, buf) != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOENT, errno.ENOTDIR):
            return False
        return None
    # struct statx: u32 mask, u32 blksize, u64 attributes @8, ..., u64 attributes_mask @56
    attributes, = struct.unpack_from("=Q", buf, 8)
    supported, = struct.unpack_from("=Q", buf, 56)
    if not supported & STATX_ATTR_MOUNT_ROOT:
        return None
    return bool(attributes & STATX_ATTR_MOUNT_ROOT)
