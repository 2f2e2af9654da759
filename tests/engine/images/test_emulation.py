"""engine.emulation: binfmt_misc handlers for foreign architectures, and the platform checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.emulation import (
    HANDLER_PREFIX,
    Binfmt,
    check_platform,
    check_runnable,
    ensure_handlers,
    parse_conf,
    parse_entry,
)
from engine.errors import InvalidArgument, NotFound
from engine.images.platform import Platform, host_platform
from tests.engine.storage.tarbuild import requires_root

AARCH64_CONF = (r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
                r":\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
                r":/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF")
AARCH64_ENTRY = ("enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\n"
                 "magic 7f454c460201010000000000000000000200b700\n"
                 "mask ffffffffffffff00fffffffffffffffffeffffff\n")
ARM64 = Platform("linux", "arm64")


I386_CONF = (r":qemu-i386:M::\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00"
             r":\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
             r":/usr/libexec/qemu-binfmt/i386-binfmt-P:OPF")


def fake(tmp_path: Path, *, entries: dict[str, str] | None = None,
         emulators: tuple[str, ...] = ("aarch64", "i386"), wrappers: bool = False) -> Binfmt:
    proc, conf, bin_, libexec = tmp_path / "binfmt", tmp_path / "conf", tmp_path / "bin", tmp_path / "libexec"
    for d in (proc, conf, bin_, libexec):
        d.mkdir(parents=True)
    (proc / "register").write_text("")
    (proc / "status").write_text("enabled\n")
    for name, text in (entries or {}).items():
        (proc / name).write_text(text)
    (conf / "qemu-aarch64.conf").write_text("# from qemu-user-static\n" + AARCH64_CONF + "\n")
    (conf / "qemu-i386.conf").write_text(I386_CONF + "\n")
    for arch in emulators:
        exe = bin_ / f"qemu-{arch}-static"
        exe.write_text("#!/bin/true\n")
        exe.chmod(0o755)
        if wrappers:  # Debian's link that makes QEMU keep argv[0]
            (libexec / f"{arch}-binfmt-P").symlink_to(exe)
    return Binfmt(binfmt_dir=proc, conf_dir=conf, qemu_dir=bin_, libexec_dir=libexec)


@pytest.mark.unit
def test_parse_conf_and_entry_agree() -> None:
    parsed = parse_conf(AARCH64_CONF)
    assert parsed is not None
    name, offset, magic, mask = parsed
    entry = parse_entry("qemu-aarch64", AARCH64_ENTRY)
    assert (name, offset) == ("qemu-aarch64", 0)
    assert (entry.magic, entry.mask, entry.flags, entry.enabled) == (magic, mask, "F", True)
    assert entry.claims(magic) and not entry.claims(magic[:18] + b"\x3e\x00")


@pytest.mark.unit
@pytest.mark.skipif(host_platform().architecture != "amd64", reason="the fake is an amd64 host's")
def test_registers_only_what_the_host_lacks(tmp_path: Path) -> None:
    lacking = fake(tmp_path / "a")
    assert lacking.architectures() == ["amd64", "386"]
    assert lacking.register_all() == [HANDLER_PREFIX + "aarch64"]
    line = (lacking.binfmt_dir / "register").read_text()
    assert line.startswith(":berth-qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46") and line.endswith("qemu-aarch64-static:F")

    # the host's own handler (any name, any interpreter) for aarch64: nothing registered, arm64 runs
    having = fake(tmp_path / "b", entries={"qemu-aarch64": AARCH64_ENTRY.replace("flags: F", "flags: POCF")})
    assert having.register_all() == []
    assert "arm64" in having.architectures()
    check_runnable(ARM64, having)

    disabled = fake(tmp_path / "c", entries={"qemu-aarch64": AARCH64_ENTRY.replace("enabled", "disabled")})
    assert "arm64" not in disabled.architectures()


@pytest.mark.unit
@pytest.mark.skipif(host_platform().architecture != "amd64", reason="the fake is an amd64 host's")
def test_ensure_handlers_registers_once_and_a_foreign_check_waits_for_it(tmp_path: Path) -> None:
    b = fake(tmp_path)
    # binfmt_misc is asked before the kernel's ELF loader: i386, which x86_64 runs itself, is never taken
    assert ensure_handlers(b) == [HANDLER_PREFIX + "aarch64"]
    assert ensure_handlers(b) == []  # once per process: berthd's background start and a create share it
    (b.binfmt_dir / "register").write_text("")
    # a create before the background registration ran registers first (the fake's kernel adds no entry,
    # so it is still refused, saying the handler is missing)
    lazy = fake(tmp_path / "lazy")
    with pytest.raises(InvalidArgument, match="no binfmt_misc handler"):
        check_runnable(ARM64, lazy)
    assert (lazy.binfmt_dir / "register").read_text().startswith(":berth-qemu-aarch64:")


@pytest.mark.unit
@pytest.mark.skipif(host_platform().architecture != "amd64", reason="the fake is an amd64 host's")
def test_argv0_kept_through_debians_wrapper_and_an_older_handler_made_anew(tmp_path: Path) -> None:
    b = fake(tmp_path, wrappers=True)
    assert b.register("aarch64") == HANDLER_PREFIX + "aarch64"
    line = (b.binfmt_dir / "register").read_text()
    assert line.endswith(f":{b.libexec_dir}/aarch64-binfmt-P:PF"), line
    # what an older berthd registered (the emulator itself, F only) is ours to replace
    older = fake(tmp_path / "older", wrappers=True,
                 entries={HANDLER_PREFIX + "aarch64": AARCH64_ENTRY})
    assert older.register("aarch64") == HANDLER_PREFIX + "aarch64"
    assert (older.binfmt_dir / (HANDLER_PREFIX + "aarch64")).read_text() == "-1"
    assert (older.binfmt_dir / "register").read_text().endswith("aarch64-binfmt-P:PF")
    # the same handler again, or the host's own: nothing done
    wrapper = tmp_path / "same" / "libexec" / "aarch64-binfmt-P"
    current = AARCH64_ENTRY.replace("/usr/bin/qemu-aarch64-static", str(wrapper)).replace("flags: F", "flags: PF")
    same = fake(tmp_path / "same", wrappers=True, entries={HANDLER_PREFIX + "aarch64": current})
    assert same.register("aarch64") is None
    hosts = fake(tmp_path / "host", wrappers=True, entries={"qemu-aarch64": AARCH64_ENTRY})
    assert hosts.register("aarch64") is None


@pytest.mark.unit
def test_unregister_refuses_handlers_berthd_did_not_add(tmp_path: Path) -> None:
    b = fake(tmp_path, entries={"qemu-aarch64": AARCH64_ENTRY})
    with pytest.raises(ValueError):
        b.unregister("qemu-aarch64")
    assert (b.binfmt_dir / "qemu-aarch64").read_text() == AARCH64_ENTRY


@pytest.mark.unit
@pytest.mark.skipif(host_platform().architecture != "amd64", reason="the fake is an amd64 host's")
def test_unrunnable_architecture_says_what_to_install(tmp_path: Path) -> None:
    no_emulator = fake(tmp_path / "a", emulators=())
    with pytest.raises(InvalidArgument, match="apt-get install qemu-user-static"):
        check_runnable(ARM64, no_emulator)
    no_handler = fake(tmp_path / "b")
    with pytest.raises(InvalidArgument, match="no binfmt_misc handler"):
        check_runnable(ARM64, no_handler)
    check_runnable(Platform("linux", "amd64"), no_emulator)
    check_runnable(Platform("linux", "386"), no_emulator)
    with pytest.raises(InvalidArgument, match="operating system"):
        check_runnable(Platform("windows", "amd64"), no_emulator)


@pytest.mark.unit
def test_check_platform_as_dockerd() -> None:
    check_platform(None, ARM64, "busybox")
    check_platform(Platform("linux", "arm64", "v8"), ARM64, "busybox")
    with pytest.raises(NotFound, match=r"busybox was found but does not match the specified platform: "
                                       r"wanted linux/amd64, actual: linux/arm64"):
        check_platform(Platform("linux", "amd64"), ARM64, "busybox")


REAL = Binfmt()
_ARCH = "riscv64"


@pytest.mark.integration
@requires_root
@pytest.mark.skipif(not REAL.mounted() or REAL.emulator(_ARCH) is None or REAL.magic(_ARCH) is None,
                    reason="needs binfmt_misc and qemu-user-static")
def test_real_registration_on_this_host() -> None:
    """Registers riscv64 when the host lacks it, sees the kernel's entry, removes only its own."""
    ours = REAL.handled(_ARCH)
    if ours is not None and not ours.name.startswith(HANDLER_PREFIX):
        pytest.skip("the host already handles riscv64; berthd must not touch it")
    if ours is not None:  # a berthd registered it before (they outlive it): start from none
        REAL.unregister(ours.name)
    before = {h.name for h in REAL.handlers()}
    name = REAL.register(_ARCH)
    try:
        assert name == HANDLER_PREFIX + _ARCH
        entry = parse_entry(name, (REAL.binfmt_dir / name).read_text())
        assert entry.enabled and "F" in entry.flags and (entry.interpreter, entry.flags) == REAL.interpreter(_ARCH)
        assert "riscv64" in REAL.architectures()
        assert REAL.register(_ARCH) is None  # handled now: a second call adds nothing
    finally:
        if name:
            REAL.unregister(name)
    assert {h.name for h in REAL.handlers()} == before
    if ours is not None:
        REAL.register(_ARCH)
