"""Create, as dockerd's daemon/create.go: a request's Config and HostConfig merged with the image's
defaults and checked (pure functions, unit-tested alone), parsed into the container's typed specs
(configspec.py, hostspec.py), and only then its directories and row written (`create`)."""

from __future__ import annotations

import os
import secrets
import shutil
from typing import Any

from engine import emulation
from engine.containers import links, names
from engine.containers.configspec import ConfigSpec, parse_signal
from engine.containers.context import ContainerContext
from engine.containers.hostspec import HostSpec
from engine.containers.model import Container
from engine.errors import InvalidArgument, NotFound
from engine.images.manifest import config_platform
from engine.images.platform import Platform, host_platform


def create(ctx: ContainerContext, body: dict[str, Any], name: str | None,
           platform: Platform | None = None) -> tuple[Container, list[str]]:
    """POST /containers/create. `platform`: the one the client asked for (API 1.41+), checked
    against the image's. Returns the container (state created) and dockerd's warnings."""
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object (a container config)")
    image_ref = body.get("Image")
    if not image_ref or not isinstance(image_ref, str):
        raise InvalidArgument("config error: no image given: set \"Image\" to the image to run")
    image_id = ctx.images.resolve(image_ref).id
    image_platform = config_platform(ctx.images.full_config(image_id))
    emulation.check_platform(matching_variant(platform, image_platform), image_platform, image_ref)
    emulation.check_runnable(image_platform)
    image_cfg = ctx.images.config(image_id)
    host_config = body.get("HostConfig") or {}
    if not isinstance(host_config, dict):
        raise InvalidArgument("HostConfig must be a JSON object")
    config = merge_config(image_cfg, body)
    check_workdir(config.get("WorkingDir"))
    check_stop_signal(config.get("StopSignal"))
    if not config.get("Entrypoint") and not config.get("Cmd"):
        raise InvalidArgument("no command specified: give a command, or use an image with a CMD")
    cname = names.validate(name) if name else _unused_name(ctx)
    cid = secrets.token_hex(32)
    if not config.get("Hostname"):
        config["Hostname"] = cid[:12]
    # Parsed now, once: what a start or a stop could not read is refused here, and networking,
    # mounts and every start read these typed specs.
    config_spec = ConfigSpec.parse(config)
    host_config = normalise_host_config(host_config)
    if host_config.get("Links") is not None:
        host_config["Links"] = links.stored(host_config["Links"], cname)
        for link in links.parse(host_config["Links"]):
            try:
                ctx.store.resolve(link.target)
            except NotFound:
                raise InvalidArgument(f"could not get container for {link.target}: no such container "
                                      f"(--link {link.target}:{link.alias})") from None
    spec = checked_host_spec(host_config, ctx.runtime.name)
    warnings = list(spec.sandbox.warnings)
    c = Container(id=cid, name=cname, image=image_ref, image_id=image_id, config=config, host_config=host_config,
                  _spec=spec, _config_spec=config_spec)
    networking_config = body.get("NetworkingConfig") or {}
    if not isinstance(networking_config, dict):
        raise InvalidArgument("NetworkingConfig must be a JSON object")
    ctx.networking.validate(c, networking_config.get("EndpointsConfig"))
    ctx.mounts.validate(c)
    # The directories before the row: a crash in between leaves a directory without a row, which
    # restore removes, never a container that cannot start.
    data = ctx.data_dir(cid)
    try:
        data.mkdir(parents=True, mode=0o710)
        (data / "upper").mkdir()
        (data / "work").mkdir()
        ctx.store.insert(c)
    except BaseException:
        shutil.rmtree(data, ignore_errors=True)
        raise
    ctx.publish(c, "create")
    return c, warnings


def _unused_name(ctx: ContainerContext) -> str:
    def taken(candidate: str) -> bool:
        try:
            ctx.store.resolve(candidate)
        except NotFound:
            return False
        return True

    return names.unused(taken)


def merge_config(image: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    """The container's Config: the request over the image's defaults, as Docker merges them."""
    cfg = {k: v for k, v in req.items() if k != "HostConfig" and k != "NetworkingConfig"}
    for key in ("Cmd", "Entrypoint", "Env"):
        value = cfg.get(key)
        if isinstance(value, str):
            cfg[key] = [value]
        elif value is not None and not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
            raise InvalidArgument(f"{key} must be a list of strings")
    if cfg.get("Entrypoint") is None:
        cfg["Entrypoint"] = image.get("Entrypoint")
        if not cfg.get("Cmd"):
            cfg["Cmd"] = image.get("Cmd")
    cfg["Env"] = merge_env(list(cfg.get("Env") or []), list(image.get("Env") or [])) or None
    for key in ("WorkingDir", "User", "StopSignal"):
        if not cfg.get(key) and image.get(key):
            cfg[key] = image[key]
    if not cfg.get("Healthcheck") and image.get("Healthcheck"):
        cfg["Healthcheck"] = image["Healthcheck"]
    labels = dict(image.get("Labels") or {})
    labels.update(cfg.get("Labels") or {})
    cfg["Labels"] = labels
    exposed = dict(image.get("ExposedPorts") or {})
    exposed.update(cfg.get("ExposedPorts") or {})
    cfg["ExposedPorts"] = exposed or None
    requested = cfg.get("Volumes")
    if requested is None or isinstance(requested, dict):  # anything else is refused when it is parsed
        # As dockerd: the image's VOLUMEs join the request's in Config.Volumes, which inspect shows.
        cfg["Volumes"] = {**(image.get("Volumes") or {}), **(requested or {})} or None
    cfg["Image"] = req.get("Image")
    return cfg


def merge_env(request: list[str], image: list[str]) -> list[str]:
    """As dockerd merges them: the request's entries as given (a bare `NAME` included, which
    unsets it), then the image's whose names the request does not mention."""
    named = {item.partition("=")[0] for item in request}
    return request + [item for item in image if item.partition("=")[0] not in named]


def process_env(config_env: list[str], *, home: str, hostname: str) -> list[str]:
    """The process's environment as dockerd builds it: HOSTNAME and HOME unless Config.Env sets
    them, then Config.Env, where a bare `NAME` (no `=`) removes the variable."""
    env = {"HOSTNAME": hostname, "HOME": home}
    for item in config_env:
        name, sep, value = item.partition("=")
        if sep:
            env[name] = value
        else:
            env.pop(name, None)
    return [f"{k}={v}" for k, v in env.items()]


def check_workdir(workdir: object) -> None:
    """Refuse a working directory the runtime would open on the host's side: /proc/<pid>/fd/<n>
    is a descriptor leaked into the container (CVE-2024-21626), never a directory of its own."""
    if workdir in (None, ""):
        return
    if not isinstance(workdir, str):
        raise InvalidArgument("WorkingDir must be a string (an absolute path)")
    if not workdir.startswith("/"):
        raise InvalidArgument(f"the working directory '{workdir}' is invalid, it needs to be an absolute path")
    parts = [p for p in os.path.normpath(workdir).split("/") if p]
    if len(parts) >= 3 and parts[0] == "proc" and parts[2] in ("fd", "fdinfo", "cwd", "root"):
        raise InvalidArgument(f"the working directory '{workdir}' is invalid: a path under /proc/<pid>/{parts[2]} "
                              "refers to the runtime's own descriptors, not a directory in the container")


def check_stop_signal(value: object) -> None:
    """As dockerd: a StopSignal that names no signal is refused at create, in its words, not found
    out at the first stop (which could then not stop the container gracefully)."""
    if value not in (None, "") and not parse_signal(value):
        raise InvalidArgument(f"Invalid signal: {value}: give a signal's name (SIGTERM, TERM) or number")


def normalise_host_config(hc: dict[str, Any]) -> dict[str, Any]:
    out = dict(hc)
    out.setdefault("NetworkMode", "bridge" if hc.get("NetworkMode") in (None, "", "default") else hc["NetworkMode"])
    if out.get("NetworkMode") in ("", "default"):
        out["NetworkMode"] = "bridge"
    if not out.get("RestartPolicy"):
        out["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    return out


def checked_host_spec(hc: dict[str, Any], runtime_name: str) -> HostSpec:
    """HostConfig typed, and what a start would stumble on refused now."""
    spec = HostSpec.parse(hc)
    check_runtime(hc, runtime_name)
    spec.sandbox.resolve()  # a device or an init binary this host lacks: refused now, not at start
    return spec


def check_runtime(host_config: dict[str, Any], runtime_name: str) -> None:
    """HostConfig.Runtime names the OCI runtime: this engine runs one, chosen at its start."""
    asked = host_config.get("Runtime")
    if asked in (None, "", runtime_name):
        return
    raise InvalidArgument(f"Unknown runtime specified {asked}: this engine runs containers with "
                          f"{runtime_name} (berthd --runtime picks it)")


# containerd's platforms.Parse, which dockerd uses for create's `platform`: its known words and aliases.
_KNOWN_OS = {"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
             "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos"}
_ARCH_ALIASES = {"x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "aarch64": ("arm64", ""),
                 "armhf": ("arm", "v7"), "armel": ("arm", "v6"), "i386": ("386", ""), "i686": ("386", "")}
_KNOWN_ARCH = {"386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64",
               "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64",
               "s390", "s390x", "sparc", "sparc64", "wasm"}


def requested_platform(text: str | None) -> Platform | None:
    """POST /containers/create's `platform` (os[/arch[/variant]], or an os or arch alone), parsed
    as dockerd parses it: None when empty, a 400 in its words for what it cannot read."""
    if not text:
        return None
    parts = text.lower().split("/")
    host = host_platform()
    if len(parts) == 1:
        word = parts[0]
        if word in _KNOWN_OS:
            return Platform(word, host.architecture, host.variant)
        arch, variant = _ARCH_ALIASES.get(word, (word, ""))
        if arch in _KNOWN_ARCH:
            return Platform(host.os, arch, variant or None)
    elif len(parts) <= 3 and all(parts):
        arch, variant = _ARCH_ALIASES.get(parts[1], (parts[1], ""))
        return Platform("darwin" if parts[0] == "macos" else parts[0], arch,
                        (parts[2] if len(parts) == 3 else variant) or None)
    raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')


def matching_variant(requested: Platform | None, image: Platform) -> Platform | None:
    """dockerd takes an amd64 image without a variant for any amd64 variant (v1 to v3)."""
    if requested is not None and requested.architecture == image.architecture == "amd64" and not image.variant:
        return Platform(requested.os, requested.architecture)
    return requested
