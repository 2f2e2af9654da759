"""Loading compose files into a `Project`: find, read, interpolate, validate, normalise, merge, resolve.

Each file is interpolated and validated against the Compose Specification's schema on its own (so an
error names the file it is in), then normalised to one form (`normalize_service`) and merged over the
files before it with Compose's override rules. Relative paths resolve against the project directory
(the first file's directory unless one is given).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path, PureWindowsPath
from typing import Any

import jsonschema
import yaml

from engine.compose.errors import ConfigError
from engine.compose.interpolation import interpolate_tree, parse_env_file
from engine.compose.model import Project, Service

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml",
                  "docker-compose.override.yml")
_VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Lists merged by concatenation (duplicates dropped) when a later file names them again.
_UNION_LISTS = {"expose", "dns", "dns_search", "cap_add", "cap_drop", "env_file", "tmpfs", "extra_hosts",
                "devices", "security_opt", "external_links", "links", "profiles", "group_add", "dns_opt"}


@functools.cache
def _schema() -> dict[str, Any]:
    text = resources.files("engine.compose").joinpath("data/compose-spec.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def normalize_project_name(name: str) -> str:
    """A directory name made into a project name, as Compose does: lowercased, only [a-z0-9_-]."""
    cleaned = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return cleaned.lstrip("_-")


def find_compose_files(start: Path) -> list[Path]:
    """The default compose file in `start` or the nearest parent that has one, plus its override file."""
    for directory in (start, *start.parents):
        for candidate in DEFAULT_FILES:
            path = directory / candidate
            if path.is_file():
                found = [path]
                for override in OVERRIDE_FILES:
                    if (directory / override).is_file():
                        found.append(directory / override)
                        break
                return found
    raise ConfigError(f"no compose file found in {start} or its parents (looked for {', '.join(DEFAULT_FILES)})")


def load_project(
    files: Iterable[str | Path] | None = None,
    *,
    project_name: str | None = None,
    project_directory: str | Path | None = None,
    env_files: Iterable[str | Path] | None = None,
    profiles: Iterable[str] | None = None,
    environ: Mapping[str, str] | None = None,
    services: Iterable[str] | None = None,
    cwd: Path | None = None,
) -> Project:
    """Load a project as `docker compose -f ... -p ... --profile ...` would.

    `environ` is the shell environment (os.environ by default); it wins over `.env`. `services` names
    services asked for explicitly: they are enabled whatever their profiles, as Compose does."""
    shell = dict(os.environ if environ is None else environ)
    here = (cwd or Path.cwd()).resolve()
    paths = [Path(f) for f in files or []]
    if project_directory is not None:
        workdir = (here / Path(project_directory)).resolve()
    elif paths:
        workdir = (here / paths[0]).resolve().parent
    else:
        workdir = here
    env = _project_env(workdir, env_files, shell, here)
    if not paths and env.get("COMPOSE_FILE"):
        sep = env.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        paths = [Path(p) for p in env["COMPOSE_FILE"].split(sep) if p]
    if paths:
        config_files = [(here / p).resolve() for p in paths]
        if project_directory is None:
            workdir = config_files[0].parent
    else:
        config_files = [p.resolve() for p in find_compose_files(workdir)]
        if project_directory is None and config_files[0].parent != workdir:
            workdir = config_files[0].parent
            env = _project_env(workdir, env_files, shell, here)

    warnings: list[str] = []
    unset_seen: set[str] = set()

    def unset(name: str) -> None:
        if name not in unset_seen:
            unset_seen.add(name)
            warnings.append(f'The "{name}" variable is not set. Defaulting to a blank string.')

    merged: dict[str, Any] = {}
    for path in config_files:
        raw = _read_yaml(path)
        raw = interpolate_tree(raw, env, source=str(path), unset=unset)
        validate(raw, str(path))
        merged = merge_files(merged, _normalize_file(raw, workdir, str(path)))

    name = _project_name(project_name, env, merged.get("name"), workdir)
    return _resolve(merged, name, workdir, config_files, env, list(profiles or _env_profiles(env)),
                    list(services or []), warnings)


def load_project_from_dict(data: Mapping[str, Any], *, name: str, working_dir: Path,
                           environ: Mapping[str, str] | None = None, profiles: Iterable[str] | None = None
                           ) -> Project:
    """A project from an already parsed compose document (the desktop's editor, tests)."""
    env = dict(environ or {})
    raw = interpolate_tree(dict(data), env, source="<compose>")
    validate(raw, "<compose>")
    merged = merge_files({}, _normalize_file(raw, working_dir, "<compose>"))
    return _resolve(merged, name, working_dir, [], env, list(profiles or []), [], [])


def _project_env(workdir: Path, env_files: Iterable[str | Path] | None, shell: Mapping[str, str], here: Path
                 ) -> dict[str, str]:
    """The variables compose files are interpolated with: `.env` (or `--env-file`s), then the shell's."""
    env: dict[str, str] = {}
    if env_files:
        for f in env_files:
            env.update(parse_env_file((here / Path(f)).resolve(), {**shell, **env}))
    elif (workdir / ".env").is_file():
        env.update(parse_env_file(workdir / ".env", shell))
    env.update(shell)
    return env


def _env_profiles(env: Mapping[str, str]) -> list[str]:
    return [p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()]


def _project_name(explicit: str | None, env: Mapping[str, str], from_file: Any, workdir: Path) -> str:
    for source, value in (("-p", explicit), ("COMPOSE_PROJECT_NAME", env.get("COMPOSE_PROJECT_NAME")),
                          ("the top-level `name`", from_file)):
        if value:
            name = str(value)
            if not _VALID_NAME.match(name):
                raise ConfigError(f"invalid project name {name!r} (from {source}): it must contain only lowercase "
                                  "letters, digits, dashes and underscores, and start with a letter or digit")
            return name
    name = normalize_project_name(workdir.name)
    if not name:
        raise ConfigError(f"cannot make a project name from the directory {workdir.name!r}: use -p")
    return name


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a compose file must be a mapping at the top level")
    return {str(key): value for key, value in data.items()}


def validate(data: Mapping[str, Any], source: str) -> None:
    """Check one compose document against the Compose Specification; the error names key and file."""
    validator = jsonschema.Draft7Validator(_schema())
    errors = sorted(validator.iter_errors(dict(data)), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if not errors:
        return
    messages = [_describe(error, source) for error in errors[:5]]
    raise ConfigError("\n".join(dict.fromkeys(messages)))


def _describe(error: jsonschema.ValidationError, source: str) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        extras = [key for key in error.instance if key not in known and not any(p.search(key) for p in patterns)]
        keys = ", ".join(f"{path}.{key}" if path else key for key in extras)
        return f"{source}: {keys}: unknown key (not in the Compose Specification)"
    if error.validator in ("oneOf", "anyOf") and error.context:
        deepest = jsonschema.exceptions.best_match(error.context)
        if deepest is not None and deepest.validator == "additionalProperties":
            return _describe(deepest, source)
        return f"{source}: {path or '(top level)'}: {error.instance!r} is not valid here ({deepest.message})"
    return f"{source}: {path or '(top level)'}: {error.message}"


# -- normal form ---------------------------------------------------------------------------------


# Valid Compose that this implementation does not run yet: refused by name rather than ignored.
_UNSUPPORTED_TOP = ("include", "secrets", "configs")
_UNSUPPORTED_SERVICE = ("extends", "secrets", "configs", "develop")


def _normalize_file(raw: Mapping[str, Any], workdir: Path, source: str) -> dict[str, Any]:
    for key in _UNSUPPORTED_TOP:
        if raw.get(key):
            raise ConfigError(f"{source}: {key}: not supported by Berth's compose yet")
    for name, cfg in (raw.get("services") or {}).items():
        for key in _UNSUPPORTED_SERVICE:
            if (cfg or {}).get(key):
                raise ConfigError(f"{source}: services.{name}.{key}: not supported by Berth's compose yet")
    out: dict[str, Any] = {}
    if raw.get("name"):
        out["name"] = str(raw["name"])
    services = raw.get("services") or {}
    out["services"] = {str(name): normalize_service(str(name), cfg or {}, workdir, source)
                       for name, cfg in services.items()}
    for key in ("networks", "volumes"):
        section = raw.get(key) or {}
        out[key] = {str(name): _normalize_resource(cfg or {}) for name, cfg in section.items()}
    return out


def _normalize_resource(cfg: Mapping[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in cfg.items() if not key.startswith("x-")}
    if isinstance(out.get("external"), dict):
        # The legacy `external: {name: x}` form.
        out["name"] = out["external"].get("name", out.get("name"))
        out["external"] = True
    if "labels" in out:
        out["labels"] = _mapping(out["labels"])
    return out


def _mapping(value: Any, *, keep_none: bool = False) -> dict[str, Any]:
    """A `KEY=value` list or a mapping, as a mapping of strings (None kept for `KEY` alone if asked)."""
    result: dict[str, Any] = {}
    if isinstance(value, dict):
        items: Iterable[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    else:
        items = ((str(item).partition("=")[0], str(item).partition("=")[2] if "=" in str(item) else None)
                 for item in value or [])
    for key, item in items:
        if item is None:
            if keep_none:
                result[key] = None
            else:
                result[key] = ""
        elif isinstance(item, bool):
            result[key] = "true" if item else "false"
        else:
            result[key] = str(item)
    return result


def _words(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _host_path(source: str, workdir: Path) -> str:
    if source.startswith("~"):
        return str(Path(source).expanduser())
    if source.startswith("/") or PureWindowsPath(source).is_absolute():
        # C:\Users\me\app is absolute wherever the file is read: the client sends it on as written
        # (Berth's translates it for a WSL machine).
        return source
    return str((workdir / source).resolve())


def normalize_service(name: str, raw: Mapping[str, Any], workdir: Path, source: str = "") -> dict[str, Any]:
    """One service in normal form; relative paths made absolute against `workdir`."""
    svc: dict[str, Any] = {key: value for key, value in raw.items() if not key.startswith("x-")}
    where = f"{source}: services.{name}" if source else f"services.{name}"
    if "build" in svc:
        build = svc["build"]
        build = {"context": build} if isinstance(build, str) else dict(build)
        build["context"] = _host_path(str(build.get("context", ".")), workdir)
        if "args" in build:
            build["args"] = _mapping(build["args"])
        if "labels" in build:
            build["labels"] = _mapping(build["labels"])
        svc["build"] = build
    for key in ("command", "entrypoint"):
        if key in svc:
            svc[key] = _words(svc[key])
    if "environment" in svc:
        svc["environment"] = _mapping(svc["environment"], keep_none=True)
    if "labels" in svc:
        svc["labels"] = _mapping(svc["labels"])
    if "env_file" in svc:
        entries = svc["env_file"] if isinstance(svc["env_file"], list) else [svc["env_file"]]
        svc["env_file"] = [
            {"path": _host_path(str(e["path"] if isinstance(e, dict) else e), workdir),
             "required": bool(e.get("required", True)) if isinstance(e, dict) else True}
            for e in entries]
    if "ports" in svc:
        svc["ports"] = [port for entry in svc["ports"] for port in parse_port(entry, where)]
    if "expose" in svc:
        svc["expose"] = [str(e) for e in svc["expose"]]
    if "volumes" in svc:
        svc["volumes"] = [parse_volume(v, workdir, where) for v in svc["volumes"]]
    if "depends_on" in svc:
        deps = svc["depends_on"]
        if isinstance(deps, list):
            svc["depends_on"] = {str(d): {"condition": "service_started", "required": True} for d in deps}
        else:
            svc["depends_on"] = {str(d): {"condition": (c or {}).get("condition", "service_started"),
                                          "required": (c or {}).get("required", True),
                                          **({"restart": c["restart"]} if c and "restart" in c else {})}
                                 for d, c in deps.items()}
    if "networks" in svc:
        nets = svc["networks"]
        if isinstance(nets, list):
            svc["networks"] = {str(n): {} for n in nets}
        else:
            svc["networks"] = {str(n): dict(c or {}) for n, c in nets.items()}
    if "healthcheck" in svc:
        hc = dict(svc["healthcheck"] or {})
        if isinstance(hc.get("test"), str):
            hc["test"] = ["CMD-SHELL", hc["test"]]
        svc["healthcheck"] = hc
    if isinstance(svc.get("extra_hosts"), dict):
        svc["extra_hosts"] = [f"{host}:{ip}" for host, ip in svc["extra_hosts"].items()]
    for key in ("dns", "dns_search", "tmpfs"):
        if isinstance(svc.get(key), str):
            svc[key] = [svc[key]]
    if "sysctls" in svc:
        svc["sysctls"] = _mapping(svc["sysctls"])
    return svc


_PORT = re.compile(r"^(?:(?:\[(?P<ip6>[^\]]+)\]|(?P<ip>[^:\[]*)):)??(?:(?P<published>[0-9-]*):)?"
                   r"(?P<target>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>[a-z]+))?$")


def parse_port(entry: Any, where: str = "") -> list[dict[str, Any]]:
    """A port in short (`"127.0.0.1:8080:80/tcp"`, ranges too) or long syntax, as normal-form dicts."""
    if isinstance(entry, dict):
        port: dict[str, Any] = {"target": int(entry["target"]), "protocol": str(entry.get("protocol", "tcp"))}
        if entry.get("published") not in (None, ""):
            port["published"] = str(entry["published"])
        if entry.get("host_ip"):
            port["host_ip"] = str(entry["host_ip"])
        if entry.get("mode"):
            port["mode"] = str(entry["mode"])
        return [port]
    text = str(entry)
    match = _PORT.match(text)
    if match is None:
        raise ConfigError(f"{where}.ports: invalid port {text!r}")
    host_ip = match.group("ip6") or match.group("ip") or ""
    published = match.group("published") or ""
    proto = match.group("proto") or "tcp"
    t_lo, _, t_hi = match.group("target").partition("-")
    targets = list(range(int(t_lo), int(t_hi or t_lo) + 1))
    if published and "-" in published:
        p_lo, _, p_hi = published.partition("-")
        pubs = [str(p) for p in range(int(p_lo), int(p_hi) + 1)]
        if len(pubs) != len(targets):
            if len(targets) == 1:
                # A container port published on any free host port of a range: keep the range.
                pubs = [published]
            else:
                raise ConfigError(f"{where}.ports: host and container port ranges differ in {text!r}")
    else:
        pubs = [str(int(published) + i) if published else "" for i in range(len(targets))]
    out = []
    for target, pub in zip(targets, pubs, strict=True):
        port = {"target": target, "protocol": proto}
        if pub:
            port["published"] = pub
        if host_ip:
            port["host_ip"] = host_ip
        out.append(port)
    return out


def parse_volume(entry: Any, workdir: Path, where: str = "") -> dict[str, Any]:
    """A service volume in short (`name:/data:ro`, `./src:/src`) or long syntax, as a normal-form dict."""
    if isinstance(entry, dict):
        long = {key: value for key, value in entry.items() if not key.startswith("x-")}
        if long.get("type") == "bind" and long.get("source"):
            long["source"] = _host_path(str(long["source"]), workdir)
        long["read_only"] = bool(long.get("read_only", False))
        return long
    text = str(entry)
    parts = text.split(":")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0], "read_only": False}
    if len(parts) > 3:
        raise ConfigError(f"{where}.volumes: invalid volume {text!r}")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    options = set(mode.split(",")) if mode else set()
    vol: dict[str, Any] = {"source": source, "target": target, "read_only": "ro" in options}
    if source.startswith((".", "/", "~")):
        vol["type"] = "bind"
        vol["source"] = _host_path(source, workdir)
        vol["bind"] = {"create_host_path": True}
        selinux = options & {"z", "Z"}
        if selinux:
            vol["bind"]["selinux"] = selinux.pop()
    else:
        vol["type"] = "volume"
        if "nocopy" in options:
            vol["volume"] = {"nocopy": True}
    return vol


# -- merging -------------------------------------------------------------------------------------


def merge_files(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` (a later `-f` file, in normal form) merged over `base` with Compose's rules."""
    out: dict[str, Any] = dict(base)
    if override.get("name"):
        out["name"] = override["name"]
    services = dict(out.get("services") or {})
    for name, svc in (override.get("services") or {}).items():
        services[name] = merge_service(services[name], svc) if name in services else svc
    out["services"] = services
    for key in ("networks", "volumes"):
        section = dict(out.get(key) or {})
        for name, cfg in (override.get(key) or {}).items():
            section[name] = _deep_merge(section.get(name) or {}, cfg)
        out[key] = section
    return out


def merge_service(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if key == "ports" and isinstance(old, list):
            out[key] = _union([*old, *value])
        elif key == "volumes" and isinstance(old, list):
            by_target = {v["target"]: v for v in old}
            by_target.update({v["target"]: v for v in value})
            out[key] = list(by_target.values())
        elif key in _UNION_LISTS and isinstance(old, list) and isinstance(value, list):
            out[key] = _union([*old, *value])
        elif key in ("command", "entrypoint"):
            out[key] = value
        elif key == "healthcheck" and isinstance(old, dict) and isinstance(value, dict):
            out[key] = {**old, **value}
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = _deep_merge(old, value)
        else:
            out[key] = value
    return out


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _union(items: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = json.dumps(item, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# -- resolving -----------------------------------------------------------------------------------


def _resolve(merged: Mapping[str, Any], name: str, workdir: Path, config_files: list[Path], env: Mapping[str, str],
             profiles: list[str], wanted: list[str], warnings: list[str]) -> Project:
    networks: dict[str, dict[str, Any]] = dict(merged.get("networks") or {})
    volumes: dict[str, dict[str, Any]] = dict(merged.get("volumes") or {})
    every: dict[str, Service] = {}
    for svc_name, cfg in (merged.get("services") or {}).items():
        every[svc_name] = Service(svc_name, _resolve_service(svc_name, dict(cfg), name, env))
    active = set(profiles)
    enabled = {n for n, s in every.items() if not s.profiles or "*" in active or active & set(s.profiles)}
    # Services asked for by name are enabled with what they need, whatever their profiles.
    for w in wanted:
        if w not in every:
            raise ConfigError(f"no such service: {w}")
    stack = list(wanted)
    while stack:
        current = stack.pop()
        enabled.add(current)
        stack.extend(d for d in every[current].depends_on if d in every and d not in enabled)
    project = Project(name=name, working_dir=workdir, config_files=config_files,
                      services={n: s for n, s in every.items() if n in enabled},
                      networks=networks, volumes=volumes,
                      disabled={n: s for n, s in every.items() if n not in enabled},
                      environment=dict(env), warnings=warnings)
    for svc in project.services.values():
        for dep, cond in svc.depends_on.items():
            if dep not in project.services:
                if not cond.get("required", True) and dep in every:
                    continue
                why = "is not enabled by an active profile" if dep in every else "is not defined"
                raise ConfigError(f"service {svc.name!r} depends on {dep!r}, which {why}")
        if "network_mode" not in svc.config and not svc.config.get("networks"):
            svc.config["networks"] = {"default": {}}
        for net in svc.networks:
            if net not in networks:
                if net != "default":
                    raise ConfigError(f"service {svc.name!r} refers to undefined network {net!r}")
                networks["default"] = {}
        for vol in svc.config.get("volumes") or []:
            if vol.get("type") == "volume" and vol.get("source") and vol["source"] not in volumes:
                raise ConfigError(f"service {svc.name!r} refers to undefined volume {vol['source']!r}: "
                                  "declare it under the top-level `volumes`")
        if svc.replicas > 1 and svc.config.get("container_name"):
            raise ConfigError(f"service {svc.name!r} sets container_name, so it cannot be scaled to {svc.replicas}")
    return project


def _resolve_service(svc_name: str, cfg: dict[str, Any], project: str, env: Mapping[str, str]) -> dict[str, Any]:
    environment: dict[str, str] = {}
    for entry in cfg.get("env_file") or []:
        path = Path(entry["path"])
        if not path.is_file():
            if entry.get("required", True):
                raise ConfigError(f"service {svc_name!r}: env file {path} not found")
            continue
        environment.update(parse_env_file(path, env))
    for key, value in (cfg.get("environment") or {}).items():
        if value is None:
            # `- KEY` alone takes the value from the environment, or is left out.
            if key in env:
                environment[key] = env[key]
        else:
            environment[key] = value
    if environment or "environment" in cfg or "env_file" in cfg:
        cfg["environment"] = environment
    cfg.pop("env_file", None)
    if not cfg.get("image"):
        if not cfg.get("build"):
            raise ConfigError(f"service {svc_name!r} has neither an image nor a build context")
        cfg["image"] = f"{project}-{svc_name}"
    return cfg
