"""The C library's system calls that Python's `os` lacks: mount, umount2, setns, unshare and raw syscall(2).

One handle, found without `ctypes.util.find_library`: that runs `ldconfig -p` in a subprocess, a cost
paid at every berthd start, and a noticeable one in a machine under emulation. `CDLL(None)` is the
process's own symbol table, which holds the C library on glibc and musl alike.
"""

from __future__ import annotations

import ctypes
import os

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
