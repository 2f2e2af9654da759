"""An OCI `linux.seccomp` section compiled to the classic BPF program the kernel loads, through
libseccomp (libseccomp.so.2, the library runc and crun use) called by ctypes.

The fast exec path (`engine/runtime/fastexec.py`) loads this program itself, so it must mean what
runc makes of the same section: the same default action and errno, the same architectures, a rule
per syscall name libseccomp knows (names it does not know are left out, as runc does), and runc's
reading of argument conditions (all of a rule's conditions must hold, unless two of them test the
same argument: then each is a rule of its own, since no value could pass both). What this module
cannot express the same way (a notify listener, filter flags) raises `Unsupported`, and the exec
takes the runtime's path instead.

As runc does, a stub before the program answers ENOSYS (not the default action's EPERM) to a native
syscall numbered above every syscall the profile names: a syscall newer than the profile, which a C
library probes and falls back from only on ENOSYS (glibc's fchmodat2, for one).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import os
import struct
from collections.abc import Mapping, Sequence
from typing import Any

EPERM = 1

_ACT_KILL_THREAD = 0x00000000
_ACT_KILL_PROCESS = 0x80000000
_ACT_TRAP = 0x00030000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000
_ACT_LOG = 0x7FFC0000
_ACT_ALLOW = 0x7FFF0000

_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_NR_SCMP_ERROR = -1
ENOSYS = 38
_X32_SYSCALL_BIT = 0x40000000
# classic BPF opcodes, and the offsets of struct seccomp_data's nr and arch
_LD_W_ABS, _JEQ_K, _JGE_K, _JGT_K, _RET_K = 0x20, 0x15, 0x35, 0x25, 0x06
_NR_OFFSET, _ARCH_OFFSET = 0, 4


class Unsupported(Exception):
    """The section asks for something this compiler does not reproduce exactly."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


@functools.cache
def _lib() -> ctypes.CDLL:
    # The soname first: find_library runs `ldconfig -p` in a subprocess (engine/libc.py avoids it too).
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so", use_errno=True)
        except OSError as e:
            raise Unsupported(f"libseccomp is not available: {e}") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.restype = None
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_add.restype = ctypes.c_int
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_arch_native.argtypes = []
    lib.seccomp_export_bpf.restype = ctypes.c_int
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def action_code(action: str, errno_ret: int | None, default_errno: int = EPERM) -> int:
    """libseccomp's 32-bit action for an OCI action name."""
    ret = (errno_ret if errno_ret is not None else default_errno) & 0xFFFF
    codes = {"SCMP_ACT_KILL": _ACT_KILL_THREAD, "SCMP_ACT_KILL_THREAD": _ACT_KILL_THREAD,
             "SCMP_ACT_KILL_PROCESS": _ACT_KILL_PROCESS, "SCMP_ACT_TRAP": _ACT_TRAP,
             "SCMP_ACT_ERRNO": _ACT_ERRNO | ret, "SCMP_ACT_TRACE": _ACT_TRACE | ret,
             "SCMP_ACT_LOG": _ACT_LOG, "SCMP_ACT_ALLOW": _ACT_ALLOW}
    if action not in codes:
        raise Unsupported(f"seccomp action {action} is not supported by the fast exec path")
    return codes[action]


def condition_groups(args: Sequence[Mapping[str, Any]]) -> list[list[tuple[int, int, int, int]]]:
    """A rule's conditions as (index, op, value, valueTwo) groups, one libseccomp rule per group:
    one group holding them all, or one per condition when two test the same argument."""
    conds = []
    for a in args:
        if a.get("op") not in _OPS:
            raise Unsupported(f"seccomp operator {a.get('op')!r} is not supported")
        conds.append((int(a["index"]), _OPS[a["op"]], int(a.get("value") or 0), int(a.get("valueTwo") or 0)))
    if not conds:
        return [[]]
    indexes = [c[0] for c in conds]
    if len(set(indexes)) != len(indexes):
        return [[c] for c in conds]
    return [conds]


def check(section: Mapping[str, Any]) -> None:
    """Raise `Unsupported` for what the compiled program could not mean exactly."""
    if section.get("listenerPath") or section.get("listenerMetadata"):
        raise Unsupported("a seccomp notify listener")
    if section.get("flags"):
        raise Unsupported(f"seccomp flags {section['flags']}")
    action_code(str(section.get("defaultAction")), section.get("defaultErrnoRet"))
    for rule in section.get("syscalls") or ():
        action_code(str(rule.get("action")), rule.get("errnoRet"))
        condition_groups(list(rule.get("args") or ()))


def compile_bpf(section: Mapping[str, Any]) -> bytes:
    """The BPF program (struct sock_filter[]) for an OCI seccomp section; cached by its content,
    so a container's execs compile its profile once."""
    return _compile(json.dumps(section, sort_keys=True))


@functools.lru_cache(maxsize=32)
def _compile(text: str) -> bytes:
    section = json.loads(text)
    check(section)
    lib = _lib()
    default_errno = section.get("defaultErrnoRet")
    default = action_code(section["defaultAction"], default_errno)
    highest = -1
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise Unsupported("seccomp_init failed")
    try:
        for arch in section.get("architectures") or ():
            token = lib.seccomp_arch_resolve_name(str(arch).removeprefix("SCMP_ARCH_").lower().encode())
            if token == 0:
                raise Unsupported(f"seccomp architecture {arch} unknown to libseccomp")
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -17:  # EEXIST: the native one is already there
                raise Unsupported(f"seccomp_arch_add({arch}) failed: {os.strerror(-rc)}")
        for rule in section.get("syscalls") or ():
            action = action_code(rule["action"], rule.get("errnoRet"))
            groups = condition_groups(list(rule.get("args") or ()))
            for name in rule.get("names") or ():
                nr = lib.seccomp_syscall_resolve_name(str(name).encode())
                if nr == _NR_SCMP_ERROR:
                    continue  # a syscall this libseccomp does not know (runc leaves it out too)
                highest = max(highest, nr)
                if action == default:
                    continue  # libseccomp refuses a rule that repeats the default; it means nothing
                for group in groups:
                    array = (_ArgCmp * max(1, len(group)))(*(_ArgCmp(i, op, a, b) for i, op, a, b in group))
                    rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), array)
                    if rc < 0:
                        raise Unsupported(f"seccomp rule for {name} refused: {os.strerror(-rc)}")
        fd = os.memfd_create("berth-seccomp", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise Unsupported(f"seccomp_export_bpf failed: {os.strerror(-rc)}")
            size = os.lseek(fd, 0, os.SEEK_END)
            program = os.pread(fd, size, 0)
        finally:
            os.close(fd)
        if highest < 0 or default in (_ACT_ALLOW, _ACT_LOG) or default == _ACT_ERRNO | ENOSYS:
            return program
        return enosys_stub(lib.seccomp_arch_native(), highest) + program
    finally:
        lib.seccomp_release(ctx)


def enosys_stub(arch: int, highest: int) -> bytes:
    """BPF answering ENOSYS to a syscall of `arch` (not x32's) numbered above `highest`, and
    falling through to the program after it for every other."""
    def insn(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    return b"".join((
        insn(_LD_W_ABS, 0, 0, _ARCH_OFFSET),
        insn(_JEQ_K, 0, 4, arch),  # another architecture: to the program
        insn(_LD_W_ABS, 0, 0, _NR_OFFSET),
        insn(_JGE_K, 2, 0, _X32_SYSCALL_BIT),  # x32's numbers: to the program
        insn(_JGT_K, 0, 1, highest),
        insn(_RET_K, 0, 0, _ACT_ERRNO | ENOSYS),
    ))

