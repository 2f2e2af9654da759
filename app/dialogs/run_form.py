"""What the Run dialog holds, as typed values: its `/containers/create` body and the `docker run` line
it corresponds to. Pure, so every rule is unit-tested without a window."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")


@dataclass(frozen=True)
class PortRow:
    """One port row: the container's port ("80" or "53/udp") and the host side ("8080",
    "127.0.0.1:8080", or "" for any free port). A row offered from the image's EXPOSE with no
    host port stays unpublished (the image exposes it already), as Docker Desktop's form does."""

    container: str
    host: str = ""
    from_image: bool = False

    @property
    def published(self) -> bool:
        return bool(self.host.strip()) or not self.from_image


@dataclass(frozen=True)
class RunForm:
    image: str
    name: str = ""
    ports: tuple[PortRow, ...] = ()
    volumes: tuple[tuple[str, str], ...] = ()  # source (volume name or host path), container path[:ro]
    env: tuple[tuple[str, str], ...] = ()
    command: str = ""
    entrypoint: str = ""
    restart: str = "no"
    network: str = ""
    remove: bool = False  # --rm
    labels: tuple[tuple[str, str], ...] = ()
    platform: str = ""  # a query parameter of the create, not part of its body

    def create_body(self) -> dict[str, Any]:
        """The `/containers/create` body; raises ValueError naming the field to correct."""
        config: dict[str, Any] = {"Image": self.image}
        host: dict[str, Any] = {}
        if self.command.strip():
            config["Cmd"] = _split("command", self.command)
        if self.entrypoint.strip():
            config["Entrypoint"] = _split("entrypoint", self.entrypoint)
        exposed: dict[str, dict[str, Any]] = {}
        bindings: dict[str, list[dict[str, str]]] = {}
        for row in self.ports:
            port = _container_port(row.container)
            exposed[port] = {}
            if row.published:
                address, port_number = _host_side(row)
                bindings.setdefault(port, []).append({"HostIp": address, "HostPort": port_number})
        if exposed:
            config["ExposedPorts"] = exposed
        if bindings:
            host["PortBindings"] = bindings
        binds = []
        for source, target in self.volumes:
            source, target = source.strip(), target.strip()
            if not source and not target:
                continue
            if not source or not target.startswith("/"):
                raise ValueError(f"volumes: {source or '?'} → {target or '?'} needs a volume or host folder "
                                 "and an absolute path in the container (e.g. data → /var/lib/data)")
            binds.append(f"{source}:{target}")
        if binds:
            host["Binds"] = binds
        variables = [_pair("environment", key, value) for key, value in self.env if key.strip() or value.strip()]
        if variables:
            config["Env"] = variables
        labels = {key.strip(): value for key, value in self.labels if key.strip() or value.strip()}
        if "" in labels:
            raise ValueError("labels: a label needs a name")
        if labels:
            config["Labels"] = labels
        if self.restart not in RESTART_POLICIES:
            raise ValueError(f"restart: {self.restart!r} is not one of {', '.join(RESTART_POLICIES)}")
        if self.restart != "no":
            if self.remove:
                # docker run refuses the pair too: a container removed at exit cannot be restarted.
                raise ValueError("restart: a container removed when it stops (--rm) cannot also restart")
            host["RestartPolicy"] = {"Name": self.restart}
        if self.remove:
            host["AutoRemove"] = True
        if self.network.strip():
            host["NetworkMode"] = self.network.strip()
        if host:
            config["HostConfig"] = host
        return config

    def docker_run_line(self) -> str:
        """The `docker run` command this form corresponds to (for people learning the CLI)."""
        words = ["docker", "run", "-d"]
        if self.name.strip():
            words += ["--name", self.name.strip()]
        if self.remove:
            words.append("--rm")
        if self.restart != "no":
            words += ["--restart", self.restart]
        if self.network.strip():
            words += ["--network", self.network.strip()]
        if self.platform.strip():
            words += ["--platform", self.platform.strip()]
        for row in self.ports:
            if row.container.strip() and row.published:
                host = "" if row.host.strip() == "0" else row.host.strip()  # 0: any free port
                words += ["-p", f"{host}:{row.container.strip()}" if host else row.container.strip()]
        for source, target in self.volumes:
            if source.strip() and target.strip():
                words += ["-v", f"{source.strip()}:{target.strip()}"]
        for key, value in self.env:
            if key.strip():
                words += ["-e", f"{key.strip()}={value}"]
        for key, value in self.labels:
            if key.strip():
                words += ["--label", f"{key.strip()}={value}"]
        if self.entrypoint.strip():
            words += ["--entrypoint", self.entrypoint.strip()]
        words.append(self.image)
        line = shlex.join(words)
        if self.command.strip():
            line += " " + self.command.strip()  # as typed: its quoting is the user's
        return line


def form_from_inspect(container: dict[str, Any], image: dict[str, Any] | None = None) -> RunForm:
    """The form that would create `container` again (Edit and recreate): its own settings from its
    inspect, less what its image gives anyway (the image's environment, labels, command and
    entrypoint), so the form shows what the user chose, as they would have typed it."""
    config = container.get("Config") or {}
    host = container.get("HostConfig") or {}
    image_config = (image or {}).get("Config") or {}
    ports = []
    for port, bindings in sorted((host.get("PortBindings") or {}).items()):
        for binding in bindings or [{}]:
            address, number = str(binding.get("HostIp") or ""), str(binding.get("HostPort") or "")
            host_side = f"{address}:{number}" if address else number  # 127.0.0.1: is any port on that address
            ports.append(PortRow(port.removesuffix("/tcp"), host_side))
    volumes: list[tuple[str, str]] = []
    for bind in host.get("Binds") or []:
        source, _, target = str(bind).partition(":")
        volumes.append((source, target))
    bound = {target.partition(":")[0] for _, target in volumes}
    for mount in container.get("Mounts") or []:
        # Volumes given with --mount (or by compose) are not in Binds, nor the anonymous ones of the
        # image's VOLUME: all are mounted again by name, so the recreated container keeps their data.
        destination = str(mount.get("Destination", ""))
        if destination in bound:
            continue
        source = str(mount.get("Name") if mount.get("Type") == "volume" else mount.get("Source") or "")
        if source and mount.get("Type") in ("volume", "bind"):
            volumes.append((source, destination + ("" if mount.get("RW", True) else ":ro")))
    image_env = set(image_config.get("Env") or [])
    env = tuple((key, value) for key, _, value in (str(e).partition("=") for e in config.get("Env") or [])
                if f"{key}={value}" not in image_env)
    image_labels = image_config.get("Labels") or {}
    labels = tuple((k, str(v)) for k, v in (config.get("Labels") or {}).items() if image_labels.get(k) != v)
    cmd = config.get("Cmd") or []
    entrypoint = config.get("Entrypoint") or []
    own_entrypoint = entrypoint != (image_config.get("Entrypoint") or [])
    # docker run resets the image's command when an entrypoint is given: keep the command then.
    own_cmd = own_entrypoint or cmd != (image_config.get("Cmd") or [])
    network = str(host.get("NetworkMode") or "")
    return RunForm(
        image=str(config.get("Image") or container.get("Image") or ""),
        name=str(container.get("Name", "")).lstrip("/"),
        ports=tuple(ports),
        volumes=tuple(volumes),
        env=env,
        command=shlex.join(cmd) if own_cmd and cmd else "",
        entrypoint=shlex.join(entrypoint) if own_entrypoint and entrypoint else "",
        restart=str((host.get("RestartPolicy") or {}).get("Name") or "no") or "no",
        network="" if network in ("default", "bridge") else network,
        remove=bool(host.get("AutoRemove")),
        labels=labels,
    )


# What the form does not show but a recreate keeps from the old container (docker run's other flags:
# user, workdir, tty, health check, stop signal; limits, capabilities, devices, DNS, tmpfs...).
_KEPT_CONFIG = ("User", "WorkingDir", "Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout",
                "AttachStderr", "StopSignal", "StopTimeout", "Healthcheck", "Domainname", "Volumes")
# What the form sets (and so replaces), or what names the old container itself.
_FORM_HOST = ("Binds", "Mounts", "PortBindings", "RestartPolicy", "NetworkMode", "AutoRemove",
              "Links", "ConsoleSize")  # links as inspect shows them (/db:/web/db) are not create's form


def recreate_body(form_body: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The create body for Edit and recreate: the form's, over the old container's other settings,
    so that what the form does not show is not lost with the old container."""
    old_config = container.get("Config") or {}
    old_host = container.get("HostConfig") or {}
    body: dict[str, Any] = {key: old_config[key] for key in _KEPT_CONFIG if old_config.get(key) not in (None, "")}
    body.update({key: value for key, value in form_body.items() if key != "HostConfig"})
    host = {key: value for key, value in old_host.items() if key not in _FORM_HOST and value is not None}
    host.update(form_body.get("HostConfig") or {})
    body["HostConfig"] = host
    return body


def _split(field_name: str, text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"{field_name}: {exc}") from exc


def _container_port(text: str) -> str:
    spec = text.strip()
    number, _, protocol = spec.partition("/")
    if not number.isdigit() or not 0 < int(number) < 65536 or protocol not in ("", "tcp", "udp", "sctp"):
        raise ValueError(f"ports: {spec or 'an empty'!r} is not a container port (e.g. 80 or 53/udp)")
    return f"{int(number)}/{protocol or 'tcp'}"


def _host_side(row: PortRow) -> tuple[str, str]:
    spec = row.host.strip()
    address, _, port = spec.rpartition(":")
    if port and (not port.isdigit() or not 0 <= int(port) < 65536):
        raise ValueError(f"ports: host port {spec!r} for {row.container.strip()} is not a port number "
                         "(e.g. 8080, or 127.0.0.1:8080; empty for any free port)")
    # 0 means any free port, as an empty one does; said as empty, which every engine takes.
    return address.strip("[]"), "" if port and int(port) == 0 else port


def _pair(field_name: str, key: str, value: str) -> str:
    key = key.strip()
    if not key or "=" in key or " " in key:
        raise ValueError(f"{field_name}: {key or 'an empty name'!r} is not a variable name (e.g. GREETING)")
    return f"{key}={value}"


def image_ports(image: dict[str, Any]) -> list[str]:
    """The ports an image's EXPOSE lists ("80/tcp" shown as "80"), in number order."""
    exposed = (image.get("Config") or {}).get("ExposedPorts") or {}

    def key(port: str) -> tuple[int, str]:
        number, _, protocol = port.partition("/")
        return (int(number) if number.isdigit() else 0, protocol)

    return [port.removesuffix("/tcp") for port in sorted(exposed, key=key)]


def image_has_command(image: dict[str, Any]) -> bool:
    config = image.get("Config") or {}
    return bool(config.get("Cmd") or config.get("Entrypoint"))
