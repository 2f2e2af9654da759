"""Dockerfile builds, the classic builder's way (what `DOCKER_BUILDKIT=0 docker build` speaks).

Every instruction after FROM is a step that makes an image on its parent: RUN runs in a
container whose upper dir becomes the step's layer; COPY, ADD and WORKDIR write into the parent
mounted on a scratch upper dir; the other instructions only change the config. Each step is
looked up first in the build cache, keyed on its parent and what it does (`cache.py`).

The output is the classic builder's: `Step N/M : ...`, ` ---> <id>`, ` ---> Using cache`, the
RUN's own output, then `{"aux": {"ID": ...}}` and "Successfully built/tagged".
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import copy
import ipaddress
import json
import logging
import os
import posixpath
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from engine.build import context as build_context
from engine.build import files
from engine.build.cache import BuildCache, CacheSources, step_key
from engine.build.parser import Dockerfile, DockerfileError, Instruction, parse
from engine.build.steps import StepImages
from engine.build.words import expand_only, name_values, process_word, split_words
from engine.containers.model import BUILD_STEP_LABEL
from engine.containers.service import ContainerService
from engine.containers.users import resolve_user
from engine.emulation import check_runnable
from engine.errors import EngineError, InvalidArgument, NotFound
from engine.events import EventBus
from engine.images import reference
from engine.images.manifest import config_platform, platform_matches
from engine.images.platform import Platform, host_platform, parse_platform
from engine.images.service import ImageService
from engine.state.db import Database
from engine.storage import overlay
from engine.storage.difftar import LayerTarPipe, upper_dir_layer, write_layer_tar
from engine.storage.tarsafe import ByteSource

log = logging.getLogger(__name__)

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Output = Callable[[dict[str, Any]], None]
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
                "h": 3_600_000_000_000}
_HEREDOC_ONLY_RE = re.compile(r"^<<-?\s*([\"']?)([A-Za-z0-9_.-]+)\1\s*$")
URL_PREFIXES = ("http://", "https://")


class BuildError(InvalidArgument):
    """A step failed: the message names the Dockerfile line."""


class CommandFailed(BuildError):
    """A RUN command exited non-zero. Its stream line carries the exit status as
    `errorDetail.code`, as the classic builder's JSONError does (docker-py reads it)."""

    def __init__(self, argv: list[str], exit_code: int) -> None:
        super().__init__(f"The command '{' '.join(argv)}' returned a non-zero code: {exit_code}")
        self.exit_code = exit_code


class StepContainerFailed(BuildError):
    """The engine refused a RUN step's container (an unknown --network...): dockerd sends the
    engine's own words, without the step's name or line."""


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    target: str = ""
    network_mode: str = ""
    extra_hosts: list[str] = field(default_factory=list)  # `--add-host` host:ip, in RUN steps' /etc/hosts
    cache_from: list[str] = field(default_factory=list)  # names whose image chains alone may be cache hits
    quiet: bool = False
    platform: str = ""


@dataclass
class Stage:
    index: int
    name: str
    from_: Instruction
    instructions: list[Instruction]
    image_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    args: dict[str, str | None] = field(default_factory=dict)
    cmd_set: bool = False
    platform: str = ""  # what the stage builds for: FROM --platform, else --platform, else "" (the host's)


@dataclass
class _Run:
    """One build's state."""

    options: BuildOptions
    out: Output
    scratch: Path
    context: Path
    escape: str = "\\"
    global_args: dict[str, str | None] = field(default_factory=dict)
    consumed: set[str] = field(default_factory=set)
    stages: list[Stage] = field(default_factory=list)
    step: int = 0
    total: int = 0
    sources: CacheSources | None = None  # with `--cache-from`

    def emit(self, text: str) -> None:
        if not self.options.quiet:
            self.out({"stream": text})

    def step_header(self, original: str) -> None:
        # The classic builder writes the header and its newline as two messages.
        self.emit(f"Step {self.step}/{self.total} : {original}")
        self.emit("\n")


class Builder:
    def __init__(self, images: ImageService, containers: ContainerService, events: EventBus, db: Database,
                 scratch: Path) -> None:
        self.images = images
        self.containers = containers
        self.events = events
        self.cache = BuildCache(db, images)
        self.steps = StepImages(images)
        self.scratch = scratch
        _sweep(scratch)

    # ---- the build ----------------------------------------------------------------------

    async def build(self, context_tar: ByteSource, options: BuildOptions, out: Output,
                    cancel: Callable[[], None] | None = None) -> str:
        """Build from the context tar `context_tar` (read in a worker thread); returns the image id."""
        work = Path(tempfile.mkdtemp(dir=self.scratch, prefix="build-"))
        try:
            ctx = work / "context"
            ctx.mkdir()
            try:
                await asyncio.to_thread(build_context.unpack, context_tar, ctx)
            except asyncio.CancelledError:
                if cancel is not None:
                    cancel()
                raise
            text = build_context.read_dockerfile(ctx, options.dockerfile)
            dockerfile = parse(text)
            await asyncio.to_thread(build_context.apply_dockerignore, ctx, options.dockerfile)
            run = _Run(options, out, work, ctx, escape=dockerfile.escape,
                       sources=CacheSources(self.images, options.cache_from) if options.cache_from else None)
            return await self._build(run, dockerfile)
        finally:
            await asyncio.to_thread(_sweep, work)

    async def _build(self, run: _Run, dockerfile: Dockerfile) -> str:
        opts = run.options
        run.global_args.update(platform_args(parse_platform(opts.platform or None), host_platform()))
        self._split_stages(run, dockerfile)
        target = len(run.stages) - 1
        if opts.target:
            names = [s.name.lower() for s in run.stages]
            if opts.target.lower() not in names:
                raise InvalidArgument(f"failed to reach build target {opts.target} in Dockerfile")
            target = names.index(opts.target.lower())
        stages = run.stages[:target + 1]
        if opts.labels:
            line = "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in sorted(opts.labels.items()))
            stages[-1].instructions.append(Instruction("LABEL", line[6:], (), 0, line))
        run.total = sum(1 + len(s.instructions) for s in stages)
        for stage in stages:
            await self._from(run, stage)
            for instr in stage.instructions:
                await self._step(run, stage, instr)
        final = stages[-1].image_id
        if final is None:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        unused = sorted(set(opts.build_args) - run.consumed - PREDEFINED_ARGS)
        if unused:
            run.emit(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        run.out({"aux": {"ID": final}})
        run.emit(f"Successfully built {final.removeprefix('sha256:')[:12]}\n")
        for tag in opts.tags:
            ref = self.images.tag(final, tag)
            self.events.publish("image", "tag", final, {"name": ref.familiar()})
            run.emit(f"Successfully tagged {ref.familiar()}\n")
        if opts.quiet:
            run.out({"stream": final + "\n"})  # all that -q prints, as dockerd sends it
        return final

    def _split_stages(self, run: _Run, dockerfile: Dockerfile) -> None:
        current: Stage | None = None
        for instr in dockerfile.instructions:
            if instr.command == "FROM":
                words = split_words(instr.rest, run.escape)
                name = ""
                if len(words) == 3 and words[1].lower() == "as":
                    name = words[2].lower()
                elif len(words) != 1:
                    raise DockerfileError(instr.line, "FROM requires either one or three arguments")
                current = Stage(len(run.stages), name, instr, [])
                run.stages.append(current)
            elif current is None:
                if instr.command != "ARG":
                    raise DockerfileError(instr.line, f"no build stage in current context: {instr.command} "
                                                      "before the first FROM (only ARG may come first)")
                for name, value in self._arg_pairs(run, instr, {}):
                    if value is not None or name not in PLATFORM_ARGS:  # `ARG TARGETARCH` keeps its value
                        run.global_args[name] = value
            else:
                current.instructions.append(instr)
        if not run.stages:
            raise InvalidArgument("the Dockerfile has no FROM instruction (file with no instructions?)")

    def _arg_pairs(self, run: _Run, instr: Instruction, env: dict[str, str]) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        scope = {k: v for k, v in run.global_args.items() if v is not None} | env
        for word in split_words(instr.rest, run.escape):
            name, eq, default = word.partition("=")
            run.consumed.add(name)
            value: str | None
            if name in run.options.build_args and run.options.build_args[name] is not None:
                value = run.options.build_args[name]
            elif eq:
                value = process_word(default, scope, run.escape)
            else:
                value = None
            scope = scope | ({name: value} if value is not None else {})
            out.append((name, value))
        return out

    # ---- FROM ---------------------------------------------------------------------------

    async def _from(self, run: _Run, stage: Stage) -> None:
        run.step += 1
        run.step_header(stage.from_.original)
        env = {k: v for k, v in run.global_args.items() if v is not None}
        base = process_word(split_words(stage.from_.rest, run.escape)[0], env, run.escape)
        try:
            wanted = stage.from_.flag("platform")
            stage.platform = process_word(wanted, env, run.escape) if wanted else run.options.platform
            if stage.platform:
                parse_platform(stage.platform)  # refuses a malformed or non-linux one before any pull
            stage.image_id = await self._base_image(run, stage, base)
        except EngineError as e:
            raise BuildError(f"{e.message} (Dockerfile line {stage.from_.line})") from None
        if stage.image_id is not None:
            run.emit(f" ---> {_short(stage.image_id)}\n")
        stage.config = copy.deepcopy(self.steps.image_config(stage.image_id).get("config") or {})
        env_list = list(stage.config.get("Env") or [])
        if not any(e.startswith("PATH=") for e in env_list):
            stage.config["Env"] = [DEFAULT_PATH, *env_list]
        triggers = list(stage.config.get("OnBuild") or [])
        stage.config["OnBuild"] = None
        if triggers:
            run.emit(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for trigger in triggers:
                for instr in parse(trigger).instructions:
                    if instr.command in ("ONBUILD", "FROM", "MAINTAINER"):
                        raise BuildError(f"{instr.command} isn't allowed as an ONBUILD trigger")
                    await self._dispatch(run, stage, Instruction(
                        instr.command, instr.rest, instr.flags, stage.from_.line, instr.original, instr.exec_form,
                        instr.heredocs))

    async def _base_image(self, run: _Run, stage: Stage, name: str) -> str | None:
        if name.lower() == "scratch":
            return None
        for prior in run.stages[:stage.index]:
            if prior.name == name.lower():
                return prior.image_id
        return await self._image(run, name, stage.platform)

    async def _image(self, run: _Run, name: str, platform: str = "") -> str:
        if not run.options.pull:
            with contextlib.suppress(NotFound):
                local = self.images.resolve(name).id
                # A local image of another platform than the stage's is not it: pull the right one.
                have = config_platform(self.steps.image_config(local))
                if not platform or not have.architecture or platform_matches(have, parse_platform(platform)):
                    return local
        ref = reference.parse(name)
        run.emit(f"Pulling {ref.familiar()}\n")
        result = await self.images.pull(name, None, platform or None)
        return result.image_id

    # ---- steps --------------------------------------------------------------------------

    async def _step(self, run: _Run, stage: Stage, instr: Instruction) -> None:
        run.step += 1
        run.step_header(instr.original)
        try:
            await self._dispatch(run, stage, instr)
        except (DockerfileError, CommandFailed, StepContainerFailed):
            raise
        except BuildError as e:
            raise BuildError(f"{e.message} (Dockerfile line {instr.line})") from None
        except EngineError as e:
            raise BuildError(f"{instr.command} failed: {e.message} (Dockerfile line {instr.line})") from None
        if stage.image_id is not None:
            run.emit(f" ---> {_short(stage.image_id)}\n")

    def _env(self, stage: Stage) -> dict[str, str]:
        """What variables expand to in a stage: its args, overridden by its ENV."""
        env = {k: v for k, v in stage.args.items() if v is not None}
        for item in stage.config.get("Env") or []:
            k, _, v = item.partition("=")
            env[k] = v
        return env

    def _word(self, run: _Run, stage: Stage, text: str) -> str:
        return process_word(text, self._env(stage), run.escape)

    async def _dispatch(self, run: _Run, stage: Stage, instr: Instruction) -> None:
        cmd = instr.command
        if cmd == "RUN":
            await self._run(run, stage, instr)
        elif cmd in ("COPY", "ADD"):
            await self._copy(run, stage, instr)
        elif cmd == "WORKDIR":
            await self._workdir(run, stage, instr)
        elif cmd == "ARG":
            for name, value in self._arg_pairs(run, instr, self._env(stage)):
                if value is None and name in run.global_args:
                    gv = run.options.build_args.get(name)
                    value = gv if gv is not None else run.global_args[name]
                stage.args[name] = value
            await self._config_step(run, stage, instr, stage.config, f"ARG {instr.rest}")
        elif cmd == "FROM":
            raise DockerfileError(instr.line, "FROM inside a stage")
        else:
            config = copy.deepcopy(stage.config)
            self._apply_config(run, stage, instr, config)
            await self._config_step(run, stage, instr, config, f"{cmd} {_described(instr, config)}")

    def _apply_config(self, run: _Run, stage: Stage, instr: Instruction, config: dict[str, Any]) -> None:
        cmd = instr.command
        env = self._env(stage)
        if cmd == "ENV":
            items = list(config.get("Env") or [])
            for key, value in name_values(instr.rest, "ENV", run.escape, env):
                entry = f"{key}={value}"
                for i, existing in enumerate(items):
                    if existing.partition("=")[0] == key:
                        items[i] = entry
                        break
                else:
                    items.append(entry)
            config["Env"] = items
        elif cmd == "LABEL":
            labels = dict(config.get("Labels") or {})
            labels.update(name_values(instr.rest, "LABEL", run.escape, env))
            config["Labels"] = labels
        elif cmd == "MAINTAINER":
            pass  # the image's author; the runtime config keeps nothing
        elif cmd in ("CMD", "ENTRYPOINT"):
            argv: list[str] = (list(instr.exec_form) if instr.exec_form is not None
                               else [*(config.get("Shell") or DEFAULT_SHELL), instr.rest])
            if cmd == "CMD":
                config["Cmd"] = argv
                stage.cmd_set = True
            else:
                config["Entrypoint"] = argv
                if not stage.cmd_set:
                    config["Cmd"] = None  # an inherited CMD does not survive a new ENTRYPOINT
        elif cmd == "SHELL":
            if instr.exec_form is None or not instr.exec_form:
                raise BuildError("SHELL requires the arguments to be in JSON form")
            config["Shell"] = instr.exec_form
        elif cmd == "EXPOSE":
            ports = dict(config.get("ExposedPorts") or {})
            for word in split_words(instr.rest, run.escape):
                for port in _ports(process_word(word, env, run.escape)):
                    ports[port] = {}
            config["ExposedPorts"] = ports
        elif cmd == "VOLUME":
            volumes = dict(config.get("Volumes") or {})
            paths = instr.exec_form if instr.exec_form is not None else split_words(instr.rest, run.escape)
            for p in paths:
                path = process_word(p, env, run.escape).strip()
                if not path:
                    raise BuildError("VOLUME specified can not be an empty string")
                volumes[path] = {}
            config["Volumes"] = volumes
        elif cmd == "USER":
            config["User"] = process_word(instr.rest, env, run.escape)
        elif cmd == "STOPSIGNAL":
            config["StopSignal"] = process_word(instr.rest, env, run.escape)
        elif cmd == "HEALTHCHECK":
            config["Healthcheck"] = _healthcheck(instr, config)
        elif cmd == "ONBUILD":
            trigger_cmd, _, rest = instr.rest.strip().partition(" ")
            if trigger_cmd.upper() in ("ONBUILD", "FROM", "MAINTAINER"):
                raise BuildError(f"{trigger_cmd.upper()} isn't allowed as an ONBUILD trigger")
            config["OnBuild"] = [*(config.get("OnBuild") or []), f"{trigger_cmd.upper()} {rest}".strip()]
        else:
            raise BuildError(f"unknown instruction: {cmd}")

    async def _cached(self, run: _Run, parent: str | None, key: str, created_by: str,
                      runtime: dict[str, Any], platform: str = "") -> str | None:
        """The step's image from the cache: the local one, or with `--cache-from` only what the
        sources hold (`created_by` and `runtime`: the step's history line and config)."""
        if run.options.no_cache:
            return None
        hit = self.cache.lookup(parent, key)
        if hit is not None and parent is None and not _built_for(self.steps.image_config(hit), platform):
            hit = None  # FROM scratch: the same step for another platform is another image
        if run.sources is not None:
            if hit is not None and not run.sources.permits(hit):
                hit = None
            if hit is None:
                hit = await run.sources.restore(parent, created_by, runtime)
                if hit is not None:
                    self.cache.record(parent, key, hit)
        if hit is not None:
            run.emit(" ---> Using cache\n")
        return hit

    async def _config_step(self, run: _Run, stage: Stage, instr: Instruction, config: dict[str, Any],
                           description: str) -> None:
        key = step_key({"kind": "config", "what": description, "config": config})
        parent = stage.image_id
        created_by = f"/bin/sh -c #(nop)  {description}"
        image = await self._cached(run, parent, key, created_by, config, stage.platform)
        if image is None:
            image = await self.steps.add(parent, config, created_by, None, stage.platform or None)
            self.cache.record(parent, key, image)
        stage.image_id = image
        stage.config = config

    # ---- RUN ----------------------------------------------------------------------------

    async def _run(self, run: _Run, stage: Stage, instr: Instruction) -> None:
        shell = list(stage.config.get("Shell") or DEFAULT_SHELL)
        if instr.exec_form is not None:
            argv = list(instr.exec_form)
        elif instr.heredocs:
            only = _HEREDOC_ONLY_RE.match(instr.rest)
            if only and len(instr.heredocs) == 1:
                argv = [*shell, instr.heredocs[0].content]
            else:
                script = instr.rest + "\n" + "".join(h.content + h.name + "\n" for h in instr.heredocs)
                argv = [*shell, script]
        else:
            argv = [*shell, instr.rest]
        if not argv or not "".join(argv).strip():
            raise BuildError("RUN needs a command")
        image_env = {e.partition("=")[0] for e in stage.config.get("Env") or []}
        args = sorted((k, v) for k, v in stage.args.items() if v is not None and k not in image_env)
        prefix = f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in args) + " " if args else ""
        created_by = prefix + " ".join(argv)
        key = step_key({"kind": "run", "argv": argv, "args": args, "network": run.options.network_mode})
        parent = stage.image_id
        image = await self._cached(run, parent, key, created_by, stage.config, stage.platform)
        if image is None:
            if parent is None:
                raise BuildError("RUN needs a shell: this stage is FROM scratch and has no layers yet")
            image = await self._run_container(run, stage, parent, argv, [f"{k}={v}" for k, v in args], created_by)
            self.cache.record(parent, key, image)
        stage.image_id = image

    async def _run_container(self, run: _Run, stage: Stage, parent: str, argv: list[str], env: list[str],
                             created_by: str) -> str:
        # What dockerd saves as the step's ContainerConfig.Cmd: the build args the RUN saw, then its argv.
        step_cmd = [f"|{len(env)}", *env, *argv] if env else argv
        body = {
            "Image": parent, "Cmd": argv, "Entrypoint": [], "Env": env,
            "User": stage.config.get("User") or "", "WorkingDir": stage.config.get("WorkingDir") or "",
            "AttachStdout": True, "AttachStderr": True, "Labels": {BUILD_STEP_LABEL: "true"},
            "HostConfig": {"NetworkMode": run.options.network_mode or "bridge",
                           "ExtraHosts": list(run.options.extra_hosts) or None},
        }
        # A foreign stage's RUN runs under QEMU; without it, say what to install, not "exec format error".
        check_runnable(config_platform(self.steps.image_config(parent)))
        try:
            c, _ = self.containers.create(body, None)
        except EngineError as e:
            raise StepContainerFailed(e.message) from None
        run.emit(f" ---> Running in {c.short_id}\n")
        # One decoder per stream: a character split across writes must not mix stdout and stderr.
        decoders = {1: codecs.getincrementaldecoder("utf-8")("replace"),
                    2: codecs.getincrementaldecoder("utf-8")("replace")}

        async def write(stream: int, data: bytes) -> None:
            text = decoders[2 if stream == 2 else 1].decode(data)
            if text:
                # The classic builder paints stderr red, write by write (streamformatter's
                # stderr writer): "\x1b[91m" + chunk + "\x1b[0m".
                run.emit(f"\x1b[91m{text}\x1b[0m" if stream == 2 else text)

        attach: asyncio.Future[Any] | None = None
        try:
            attach = asyncio.ensure_future(self.containers.attach(c.id, write, None, True, True))
            await asyncio.sleep(0)  # registers as a waiting attach before the start
            exited = self.containers.wait_future(c.id, "next-exit")
            try:
                await self.containers.start(c.id)
            except EngineError as e:
                raise StepContainerFailed(e.message) from None
            code = await exited
            with contextlib.suppress(Exception):
                await asyncio.wait_for(attach, 10)
            if code != 0:
                raise CommandFailed(argv, code)
            lowers = self.images.layer_dirs(parent)
            with upper_dir_layer(self.containers.data_dir(c.id) / "upper", lowers) as layer:
                image = await self.steps.add(parent, stage.config, created_by, layer, stage.platform or None,
                                             container=c.id, cmd=step_cmd)
            run.emit(f"Removing intermediate container {c.short_id}\n")  # docker's own words
            return image
        finally:
            if attach is not None and not attach.done():
                attach.cancel()
            # A failed step's container goes too, but silently: dockerd says nothing of it (it keeps it).
            with contextlib.suppress(EngineError):
                await self.containers.remove(c.id, force=True)

    # ---- COPY, ADD, WORKDIR -------------------------------------------------------------

    async def _copy(self, run: _Run, stage: Stage, instr: Instruction) -> None:
        cmd = instr.command
        env = self._env(stage)
        words = list(instr.exec_form) if instr.exec_form is not None else split_words(instr.rest, run.escape)
        words = [process_word(w, env, run.escape) if instr.exec_form is None else expand_only(w, env, run.escape)
                 for w in words]
        if len(words) < 2:
            raise BuildError(f"{cmd} requires at least two arguments, but only {len(words)} provided")
        dest, patterns = words[-1], words[:-1]
        chown = process_word(instr.flag("chown") or "", env, run.escape)
        chmod_text = process_word(instr.flag("chmod") or "", env, run.escape)
        chmod = None
        if chmod_text:
            try:
                chmod = int(chmod_text, 8)
            except ValueError:
                raise BuildError(f"invalid chmod parameter {chmod_text!r}: use an octal mode like 0755") from None
        from_ = instr.flag("from")
        if from_ is not None and cmd == "ADD":
            raise BuildError("ADD does not take --from; use COPY --from")
        workdir = stage.config.get("WorkingDir") or "/"
        parent = stage.image_id
        async with contextlib.AsyncExitStack() as stack:
            if from_ is not None:
                src_root, what = await self._from_root(run, stack, process_word(from_, env, run.escape))
            else:
                src_root, what = run.context, "build context"
            sources = await self._sources(run, instr, patterns, src_root, what, env)
            digest = await asyncio.to_thread(build_context.checksum, sources)
            key = step_key({"kind": cmd, "sum": digest, "dest": dest, "workdir": workdir, "chown": chown,
                            "chmod": chmod_text, "from": from_ is not None})
            created_by = f"/bin/sh -c #(nop) {cmd} {'dir' if any(s.is_dir for s in sources) else 'file'}:" \
                         f"{digest.removeprefix('sha256:')} in {dest} "
            image = await self._cached(run, parent, key, created_by, stage.config, stage.platform)
            if image is None:
                unpack = cmd == "ADD"
                image = await self._write_layer(run, stage, created_by, lambda root: files.copy_into(
                    root, sources, dest, workdir, self._owner(root, chown), chmod, unpack))
                self.cache.record(parent, key, image)
        stage.image_id = image

    def _owner(self, root: Path, chown: str) -> tuple[int, int]:
        if not chown:
            return 0, 0
        user, sep, group = chown.partition(":")
        u = resolve_user(root, user)
        if not sep:
            return u.uid, u.uid if user.isdigit() else u.gid
        g = resolve_user(root, f"{user}:{group}")
        return u.uid, g.gid

    async def _from_root(self, run: _Run, stack: contextlib.AsyncExitStack, name: str) -> tuple[Path, str]:
        image: str | None
        lowered = name.lower()
        stage = next((s for s in run.stages if s.name == lowered or str(s.index) == name), None)
        if stage is not None:
            image = stage.image_id
        else:
            image = await self._image(run, name)
        lowers = self.images.layer_dirs(image) if image else []
        scratch = Path(tempfile.mkdtemp(dir=run.scratch, prefix="from-"))
        root = files.ScratchRoot(scratch, lowers)
        await asyncio.to_thread(root.mount)
        stack.push_async_callback(asyncio.to_thread, root.remove)
        return root.merged, f"stage {name}" if stage is not None else f"image {name}"

    async def _sources(self, run: _Run, instr: Instruction, patterns: list[str], root: Path, what: str,
                       env: dict[str, str]) -> list[build_context.Source]:
        sources: list[build_context.Source] = []
        heredocs = {h.name: h for h in instr.heredocs}
        for pattern in patterns:
            m = _HEREDOC_ONLY_RE.match(pattern)
            if m and m.group(2) in heredocs:
                doc = heredocs[m.group(2)]
                folder = Path(tempfile.mkdtemp(dir=run.scratch, prefix="heredoc-"))
                path = folder / doc.name
                content = expand_only(doc.content, env, run.escape) if doc.expand else doc.content
                path.write_text(content)
                os.chmod(path, 0o644)
                sources.append(build_context.Source(folder, doc.name, False))
            elif pattern.startswith(URL_PREFIXES):
                if instr.command != "ADD":
                    raise BuildError(f"source can't be a URL for COPY: {pattern}")
                sources.append(await self._download(run, pattern))
            else:
                found = await asyncio.to_thread(build_context.find_sources, root, pattern, what)
                sources.extend(found)
        return sources

    async def _download(self, run: _Run, url: str) -> build_context.Source:
        """ADD <url>: only from this machine's loopback (berthd reaches nothing else)."""
        host = urllib.parse.urlsplit(url).hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise BuildError(f"cannot fetch {url}: this builder downloads only from loopback addresses; "
                             "download the file into the build context and COPY it")
        folder = Path(tempfile.mkdtemp(dir=run.scratch, prefix="url-"))
        name = posixpath.basename(urllib.parse.urlsplit(url).path) or "__unnamed__"
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as resp:
                if resp.status != 200:
                    raise BuildError(f"cannot fetch {url}: HTTP {resp.status}")
                with open(folder / name, "wb") as f:
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        f.write(chunk)
        except aiohttp.ClientError as e:
            raise BuildError(f"cannot fetch {url}: {e}") from None
        os.chmod(folder / name, 0o600)  # Docker gives downloaded files 0600
        return build_context.Source(folder, name, False)

    async def _workdir(self, run: _Run, stage: Stage, instr: Instruction) -> None:
        path = self._word(run, stage, instr.rest)
        current = stage.config.get("WorkingDir") or "/"
        path = posixpath.normpath(posixpath.join(current, path))
        config = copy.deepcopy(stage.config)
        config["WorkingDir"] = path
        parent = stage.image_id
        key = step_key({"kind": "workdir", "path": path, "config": config})
        created_by = f"/bin/sh -c #(nop) WORKDIR {path}"
        image = await self._cached(run, parent, key, created_by, config, stage.platform)
        if image is None:
            created: list[bool] = []
            image = await self._write_layer(run, stage, created_by,
                                            lambda root: created.append(files.make_workdir(root, path)),
                                            config=config, skip_empty=True)
            self.cache.record(parent, key, image)
        stage.image_id = image
        stage.config = config

    async def _write_layer(self, run: _Run, stage: Stage, created_by: str, work: Callable[[Path], Any],
                           config: dict[str, Any] | None = None, skip_empty: bool = False) -> str:
        """Mount the stage's image on a scratch upper dir, let `work` write into it, and commit the
        upper dir as a step (`skip_empty`: nothing written -> a config-only step)."""
        parent = stage.image_id
        lowers = self.images.layer_dirs(parent) if parent else []
        root = files.ScratchRoot(Path(tempfile.mkdtemp(dir=run.scratch, prefix="step-")), lowers)
        try:
            await asyncio.to_thread(root.mount)
            try:
                await asyncio.to_thread(work, root.merged)
            finally:
                await asyncio.to_thread(root.unmount)
            cfg = config if config is not None else stage.config
            if skip_empty and not any(root.upper.iterdir()):
                return await self.steps.add(parent, cfg, created_by, None, stage.platform or None)
            with LayerTarPipe(lambda sink: write_layer_tar(root.upper, sink, lowers)) as layer:
                return await self.steps.add(parent, cfg, created_by, layer, stage.platform or None)
        finally:
            await asyncio.to_thread(root.remove)


def _built_for(config: dict[str, Any], platform: str) -> bool:
    have = config_platform(config)
    return not have.architecture or platform_matches(have, parse_platform(platform or None))


# BuildKit's automatic platform args: global, so FROM lines see them; a stage declares `ARG TARGETARCH`.
PLATFORM_ARGS = frozenset({"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
                           "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT"})


def platform_args(target: Platform, build: Platform) -> dict[str, str | None]:
    """TARGETPLATFORM=linux/arm/v7, TARGETOS=linux, TARGETARCH=arm, TARGETVARIANT=v7 and the BUILD* set."""
    out: dict[str, str | None] = {}
    for prefix, p in (("TARGET", target), ("BUILD", build)):
        out |= {f"{prefix}PLATFORM": str(p), f"{prefix}OS": p.os, f"{prefix}ARCH": p.architecture,
                f"{prefix}VARIANT": p.variant or ""}
    return out


PREDEFINED_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                             "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _described(instr: Instruction, config: dict[str, Any]) -> str:
    """The instruction as the classic builder writes it in history: its list as Go's %q prints one
    (`["echo" "hi"]`), SHELL's as %v (`[/bin/sh -c]`). `--cache-from` an image dockerd built matches it."""
    if instr.command in ("CMD", "ENTRYPOINT"):
        value = config.get("Cmd" if instr.command == "CMD" else "Entrypoint") or []
        return "[" + " ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    if instr.command == "SHELL":
        return "[" + " ".join(config.get("Shell") or []) + "]"
    return instr.rest


def _ports(spec: str) -> list[str]:
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise BuildError(f"invalid proto: {proto}")
    low, dash, high = port.partition("-")
    try:
        start = int(low)
        end = int(high) if dash else start
    except ValueError:
        raise BuildError(f"invalid containerPort: {port}") from None
    if not 0 < start <= end <= 65535:
        raise BuildError(f"invalid port range: {port}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def _duration(text: str, flag: str) -> int:
    if text in ("", "0"):
        return 0
    pos = 0
    total = 0.0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_NS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise BuildError(f"invalid value for --{flag}: {text!r} (a duration like 30s or 1m30s)")
    return int(total)


def _healthcheck(instr: Instruction, config: dict[str, Any]) -> dict[str, Any]:
    word, _, rest = instr.rest.strip().partition(" ")
    if word.upper() == "NONE":
        if rest.strip() or instr.flags:
            raise BuildError("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if word.upper() != "CMD":
        raise BuildError(f"unknown type {word!r} in HEALTHCHECK (try CMD)")
    rest = rest.strip()
    exec_form = None
    if rest.startswith("["):
        with contextlib.suppress(ValueError):
            value = json.loads(rest)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                exec_form = value
    check: dict[str, Any] = {"Test": ["CMD", *exec_form] if exec_form is not None else ["CMD-SHELL", rest]}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        value = instr.flag(flag)
        if value is not None and _duration(value, flag):
            check[key] = _duration(value, flag)
    retries = instr.flag("retries")
    if retries is not None:
        try:
            n = int(retries)
        except ValueError:
            raise BuildError(f"invalid value for --retries: {retries!r}") from None
        if n < 0:
            raise BuildError("--retries cannot be negative")
        if n:
            check["Retries"] = n
    return check


def _sweep(path: Path) -> None:
    """Remove a build's scratch dir, unmounting whatever a crash left mounted in it first."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        return
    # Only where builds mount (<build>/step-*/merged, <build>/from-*/merged): never into a mount.
    for merged in [*path.glob("*/merged"), *path.glob("*/*/merged")]:
        if overlay.is_mounted(merged):
            with contextlib.suppress(OSError):
                overlay.unmount(merged, lazy=True)
    if path.name.startswith("build-"):
        shutil.rmtree(path, ignore_errors=True)
    else:
        for child in path.iterdir():
            if not overlay.is_mounted(child):
                shutil.rmtree(child, ignore_errors=True)

