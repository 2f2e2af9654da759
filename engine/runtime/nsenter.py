"""The exec zygote: a small single-threaded process that starts exec processes inside running
containers without the OCI runtime (`python -m engine.runtime.nsenter <socket fd>`).

berthd is multi-threaded, and a multi-threaded process cannot join a mount namespace, so berthd
starts this process once and sends it requests over a SOCK_SEQPACKET socket: one JSON message
(built by `engine/runtime/fastexec.py`, which decides everything) with its file descriptors passed
by SCM_RIGHTS: stdin, stdout, stderr, the exec error pipe, the status socket, then the namespace
files to join. This module only carries a plan out; it imports nothing of berthd's.

For each request the zygote forks a first child, which joins the container's PID namespace (that
only applies to its children) and forks the exec process, reports its pid and exits. The exec
process joins the container's cgroups (paths on the host, so before the mount namespace), its other
namespaces (the mount namespace last, which also puts it at the container's root), sets rlimits,
umask, stdio, the bounding set, groups, gid and uid, cwd, capabilities, no_new_privs and the
seccomp filter, as runc's exec does and in its order (the filter while still privileged unless
no_new_privs is asked for, else last), then execs the command. A failure before execve is written
to the error pipe, which closes unread on a successful exec (it is close-on-exec).

The zygote is a child subreaper, so the exec process becomes its child when the first child exits:
it reaps it and writes {"exit": n} (128+n for a signal, as docker reports it) to the status socket.
It exits when berthd closes the socket; execs still running are left to run.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import json
import os
import resource
import selectors
import signal
import socket
import sys
from typing import Any

CLONE_NEWPID = 0x20000000
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
_CAP_VERSION_3 = 0x20080522
MAX_MESSAGE = 1 << 20
MAX_FDS = 64

# the order of the fds every request carries before its namespace files
STDIN, STDOUT, STDERR, ERRPIPE, STATUS = range(5)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise _Failure(f"{what}: {os.strerror(ctypes.get_errno()).lower()}")


def prctl(option: int, arg2: int = 0, arg3: int = 0, what: str = "prctl") -> None:
    _check(_libc.prctl(option, arg2, arg3, 0, 0), what)


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), f"setns({nstype:#x})")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)(
        _CapData(effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF),
        _CapData(effective >> 32, permitted >> 32, inheritable >> 32))
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def load_seccomp(program: bytes) -> None:
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), "loading the seccomp filter")


def exit_code(status: int) -> int:
    """A wait status as docker reports it: the exit code, or 128 + the signal that killed it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        sock.send(json.dumps(message).encode())


def _become_exec(req: dict[str, Any], fds: list[int]) -> None:
    """In the exec process: enter the container and exec the command. Never returns."""
    errfd = fds[ERRPIPE]
    try:
        # Until execve this process is the zygote (its memory, its binary) inside the container: not
        # dumpable, so the container's processes cannot open its /proc files or trace it, and
        # holding no fd but this request's (not the zygote's socket, nor other execs')
        prctl(PR_SET_DUMPABLE, 0, what="making the exec process undumpable")
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)  # Python ignores SIGPIPE and SIGXFSZ: not the command's
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        _close_all_but(fds)
        os.setsid()
        for path in req["cgroups"]:  # host paths: before the mount namespace
            with open(path, "w") as f:
                f.write("0")
        if req.get("oom_score_adj") is not None:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(req["oom_score_adj"]))
        for nstype, index in req["namespaces"]:
            setns(fds[index], nstype)
        for kind, soft, hard in req["rlimits"]:
            resource.setrlimit(kind, (soft, hard))
        os.umask(req["umask"])
        os.set_inheritable(errfd, False)  # it must close at execve: that is how berthd learns it happened
        for target in (STDIN, STDOUT, STDERR):
            os.dup2(fds[target], target)
        _close_all_but([errfd])
        program = bytes.fromhex(req["seccomp"]) if req.get("seccomp") else b""
        if program and not req["no_new_privs"]:
            load_seccomp(program)  # a privileged step without no_new_privs: while root still may
        caps = req["caps"]
        for cap in range(req["last_cap"] + 1):
            if not caps["bounding"] >> cap & 1:
                prctl(PR_CAPBSET_DROP, cap, what=f"dropping capability {cap} from the bounding set")
        prctl(PR_SET_KEEPCAPS, 1)
        cwd = req["cwd"]
        early = _try_chdir(cwd)  # as runc: a directory only root may enter still works
        os.setgroups(req["groups"])
        os.setgid(req["gid"])
        os.setuid(req["uid"])
        if not _try_chdir(cwd) and not early:
            raise _Failure(f'chdir to cwd ("{cwd}") set in config.json failed')
        prctl(PR_SET_KEEPCAPS, 0)
        capset(caps["effective"], caps["permitted"], caps["inheritable"])
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="clearing ambient capabilities")
        for cap in range(req["last_cap"] + 1):
            if caps["ambient"] >> cap & 1:
                prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, what=f"raising ambient capability {cap}")
        if req["no_new_privs"]:
            prctl(PR_SET_NO_NEW_PRIVS, 1, what="setting no_new_privs")
            if program:
                load_seccomp(program)
        args = req["args"]
        env = dict(e.partition("=")[::2] for e in req["env"])
        try:
            os.execvpe(args[0], args, env)
        except FileNotFoundError:
            where = "no such file or directory" if "/" in args[0] else "executable file not found in $PATH"
            raise _Failure(f'exec: "{args[0]}": {where}') from None
        except OSError as e:
            raise _Failure(f'exec: "{args[0]}": {(e.strerror or str(e)).lower()}') from None
    except BaseException as e:  # the exec process must never return into the zygote
        with contextlib.suppress(BaseException):
            os.write(errfd, describe(e).encode())
        os._exit(127)
    os._exit(127)


class _Failure(Exception):
    """A step that failed, already in words."""


def describe(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror.lower()}" if e.filename else e.strerror.lower()
    return str(e) or repr(e)


def _close_all_but(keep: list[int]) -> None:
    low = 3
    for fd in sorted(set(keep)):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)


def _try_chdir(path: str) -> bool:
    try:
        os.chdir(path)
    except OSError:
        return False
    return True


def _first_child(req: dict[str, Any], fds: list[int], report: int) -> None:
    """Join the PID namespace (for children only), fork the exec process, say its pid, exit."""
    try:
        if req.get("pid_namespace") is not None:
            setns(fds[req["pid_namespace"]], CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            os.close(report)
            _become_exec(req, fds)
        os.write(report, f"pid {pid}".encode())
    except BaseException as e:
        with contextlib.suppress(BaseException):
            os.write(report, f"error {describe(e)}".encode())
    os._exit(0)


class Zygote:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.running: dict[int, socket.socket] = {}

    def handle(self, payload: bytes, fds: list[int]) -> None:
        try:
            req = json.loads(payload)
            status = socket.socket(fileno=os.dup(fds[STATUS]))
        except (ValueError, IndexError, OSError):
            for fd in fds:
                os.close(fd)
            return
        read_end, write_end = os.pipe()
        try:
            child = os.fork()
        except OSError as e:
            child = -1
            _send(status, {"error": f"fork: {e}"})
        if child == 0:
            os.close(read_end)
            _first_child(req, fds, write_end)
        os.close(write_end)
        for fd in fds:
            os.close(fd)
        if child < 0:
            os.close(read_end)
            status.close()
            return
        chunks = []
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
        os.close(read_end)
        os.waitpid(child, 0)
        word, _, rest = b"".join(chunks).decode(errors="replace").partition(" ")
        if word == "pid" and rest.isdigit():
            self.running[int(rest)] = status
            _send(status, {"pid": int(rest)})
        else:
            _send(status, {"error": rest or "the exec process could not be started"})
            status.close()

    def reap(self) -> None:
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            status = self.running.pop(pid, None)
            if status is not None:
                _send(status, {"exit": exit_code(wait_status)})
                status.close()

    def serve(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        prctl(PR_SET_CHILD_SUBREAPER, 1, what="becoming a child subreaper")
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ)
        selector.register(wake_r, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is self.control:
                    try:
                        payload, fds = receive(self.control)
                    except ConnectionError:
                        payload, fds = b"", []
                    if not payload:
                        return  # berthd has gone
                    self.handle(payload, fds)
                else:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(wake_r, 512):
                            pass
            self.reap()


def receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One request and its fds, close-on-exec (socket.recv_fds drops its flags argument)."""
    payload, ancillary, _, _ = sock.recvmsg(MAX_MESSAGE, socket.CMSG_LEN(MAX_FDS * 4), socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return payload, list(fds)


def main(argv: list[str]) -> None:
    control = socket.socket(fileno=int(argv[1]))
    control.setblocking(True)
    Zygote(control).serve()


if __name__ == "__main__":
    main(sys.argv)
