"""The exec fast path's pure parts: what it refuses, the plan it sends the zygote, the cgroup files
it joins, the seccomp program it compiles (and that the kernel enforces it as meant)."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import signal
from typing import Any

import pytest

from engine import mountinfo
from engine.runtime import libseccomp, seccomp
from engine.runtime.fastexec import Unsupported, build_request, cgroup_procs_files, refusal
from engine.runtime.nsenter import exit_code, load_seccomp, prctl
from engine.runtime.spec import capability_mask, capability_set

pytestmark = pytest.mark.unit

HYBRID_MOUNTS = mountinfo.parse("""\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 /outer /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
44 31 0:40 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
""")


def process(**extra: Any) -> dict[str, Any]:
    return {"args": ["sh"], "env": ["PATH=/bin"], "cwd": "/tmp", "user": {"uid": 1000, "gid": 100},
            "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": [], "permitted": []},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 18446744073709551615}], **extra}


def test_what_the_fast_path_leaves_to_the_runtime() -> None:
    plain: dict[str, Any] = {"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}}}
    assert refusal(plain, process()) is None
    assert refusal(plain, process(terminal=True)) == "a terminal"
    assert refusal(plain, process(apparmorProfile="docker-default")) == "process.apparmorProfile"
    assert refusal(plain, process(selinuxLabel="system_u:system_r:container_t:s0")) == "process.selinuxLabel"
    assert refusal({"linux": {"mountLabel": "x"}}, process()) == "linux.mountLabel"
    notify = {"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"}}}
    assert refusal(notify, process()) == "a seccomp notify listener"
    flagged = {"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}}}
    assert refusal(flagged, process()) is not None
    notify_rule = {"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                                         "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}}}
    assert "SCMP_ACT_NOTIFY" in (refusal(notify_rule, process()) or "")


def test_the_plan_carries_the_process_spec_as_masks_and_numbers() -> None:
    req = build_request(process(noNewPrivileges=True, user={"uid": 1000, "gid": 100, "additionalGids": [5, 6]}),
                        namespaces=[0x02000000, 0x00020000], pid_namespace=True,
                        cgroups=["/sys/fs/cgroup/pids/x/cgroup.procs"], seccomp=b"\x06\0\0\0\0\0\xff\x7f", last_cap=40)
    assert (req["uid"], req["gid"], req["groups"], req["cwd"], req["umask"]) == (1000, 100, [5, 6], "/tmp", 0o022)
    assert req["caps"]["bounding"] == capability_mask(["CAP_CHOWN", "CAP_KILL"])
    assert req["caps"]["effective"] == req["caps"]["ambient"] == req["caps"]["inheritable"] == 0
    assert req["rlimits"] == [[resource.RLIMIT_NOFILE, 1024, resource.RLIM_INFINITY]]
    assert req["no_new_privs"] is True and req["seccomp"] == "06000000" + "0000ff7f"
    # namespaces' fds follow stdin, stdout, stderr, the error pipe and the status socket; the PID one last
    assert req["namespaces"] == [[0x02000000, 5], [0x00020000, 6]] and req["pid_namespace"] == 7
    assert build_request(process(), namespaces=[], pid_namespace=False, cgroups=[], seccomp=b"",
                         last_cap=40)["pid_namespace"] is None
    with pytest.raises(Unsupported):
        build_request(process(rlimits=[{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]), namespaces=[],
                      pid_namespace=False, cgroups=[], seccomp=b"", last_cap=40)


def test_every_hierarchy_of_a_hybrid_host_is_joined_where_it_is_mounted() -> None:
    text = ("12:name=systemd:/berth/c\n11:pids:/outer/berth/c\n4:memory:/berth/c\n"
            "2:cpu,cpuacct:/berth/c\n0::/berth/c\n")
    assert cgroup_procs_files(text, HYBRID_MOUNTS) == [
        "/sys/fs/cgroup/systemd/berth/c/cgroup.procs",
        "/sys/fs/cgroup/pids/berth/c/cgroup.procs",  # the mount's root is /outer
        "/sys/fs/cgroup/memory/berth/c/cgroup.procs",
        "/sys/fs/cgroup/cpu,cpuacct/berth/c/cgroup.procs",
        "/sys/fs/cgroup/unified/berth/c/cgroup.procs",
    ]
    with pytest.raises(Unsupported):
        cgroup_procs_files("7:blkio:/berth/c\n", HYBRID_MOUNTS)  # not mounted here: the runtime's path
    with pytest.raises(Unsupported):
        cgroup_procs_files("11:pids:/elsewhere/c\n", HYBRID_MOUNTS)  # outside the mount's root


def test_seccomp_conditions_and_actions_are_read_as_runc_reads_them() -> None:
    same = [{"index": 0, "op": "SCMP_CMP_EQ", "value": 1}, {"index": 0, "op": "SCMP_CMP_EQ", "value": 2}]
    assert libseccomp.condition_groups(same) == [[(0, 4, 1, 0)], [(0, 4, 2, 0)]]  # either value passes
    both = [{"index": 0, "op": "SCMP_CMP_EQ", "value": 1}, {"index": 1, "op": "SCMP_CMP_MASKED_EQ", "value": 8,
                                                             "valueTwo": 0}]
    assert libseccomp.condition_groups(both) == [[(0, 4, 1, 0), (1, 7, 8, 0)]]  # all must hold
    assert libseccomp.condition_groups([]) == [[]]
    assert libseccomp.action_code("SCMP_ACT_ERRNO", None) == 0x00050000 | errno.EPERM
    assert libseccomp.action_code("SCMP_ACT_ERRNO", errno.ENOSYS) == 0x00050000 | errno.ENOSYS
    assert libseccomp.action_code("SCMP_ACT_ALLOW", None) == 0x7FFF0000
    with pytest.raises(libseccomp.Unsupported):
        libseccomp.action_code("SCMP_ACT_NOTIFY", None)


def test_a_compiled_filter_is_cached_and_enforced_by_the_kernel() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ERRNO",
                             "errnoRet": errno.EROFS},
                            {"names": ["getppid"], "action": "SCMP_ACT_ALLOW"}]}  # the default: left out
    program = libseccomp.compile_bpf(profile)
    assert program and len(program) % 8 == 0
    assert libseccomp.compile_bpf(dict(profile)) is program  # compiled once per content
    child = os.fork()
    if child == 0:  # the child loads it as the exec process does (no_new_privs first, unprivileged)
        code = 1
        try:
            prctl(38, 1)
            load_seccomp(program)
            try:
                os.mkdir("/tmp/berth-fastexec-never-made")
            except OSError as e:
                code = 0 if e.errno == errno.EROFS else 2
            os.getppid()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_syscall_newer_than_the_profile_gets_enosys_as_under_runc() -> None:
    profile = seccomp.to_oci(seccomp.default_profile(), capability_set([], [], privileged=False))
    program = libseccomp.compile_bpf(profile)
    libc = ctypes.CDLL(None, use_errno=True)
    child = os.fork()
    if child == 0:
        code = 1
        try:
            prctl(38, 1)
            load_seccomp(program)
            newer = libc.syscall(1000), ctypes.get_errno()  # numbered above any syscall of the profile
            denied = libc.syscall(272, 0x10000000), ctypes.get_errno()  # unshare(CLONE_NEWUSER), x86_64
            code = 0 if newer == (-1, errno.ENOSYS) and (platform.machine() != "x86_64"
                                                         or denied == (-1, errno.EPERM)) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    allowing = libseccomp.compile_bpf({"defaultAction": "SCMP_ACT_ALLOW",
                                       "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})
    stub_head = libseccomp.enosys_stub(libseccomp._lib().seccomp_arch_native(), 0)[:16]  # load arch, compare
    assert program.startswith(stub_head)
    assert not allowing.startswith(stub_head)  # nothing to stub when all else is allowed


def test_exit_codes_are_reported_as_docker_reports_them() -> None:
    assert exit_code(0) == 0
    assert exit_code(3 << 8) == 3
    assert exit_code(signal.SIGKILL) == 137  # a wait status for death by SIGKILL
