"""TLS to an engine on TCP (`tcp://host:2376`), as the docker CLI's `--tlsverify` and `DOCKER_CERT_PATH`.

dockerd's TLS mode is mutual: the client checks the engine's certificate against a CA and shows a
client certificate of its own. The files are PEM, named as docker names them (`ca.pem`,
`cert.pem`, `key.pem`) when they come from a directory.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from yarl import URL


class TLSSetupError(ValueError):
    """The TLS files cannot be used; the message says which file and what to fix."""


@dataclass(frozen=True, slots=True)
class TLSFiles:
    ca: Path | None = None  # the CA that signed the engine's certificate (None: the system's CAs)
    cert: Path | None = None  # our client certificate
    key: Path | None = None  # its private key
    verify: bool = True  # False: encrypt but accept any engine certificate (docker's --tls without verify)

    @classmethod
    def from_dir(cls, directory: Path, verify: bool = True) -> TLSFiles:
        """ca.pem, cert.pem and key.pem from one directory (those that exist)."""

        def existing(name: str) -> Path | None:
            path = directory / name
            return path if path.exists() else None

        return cls(existing("ca.pem"), existing("cert.pem"), existing("key.pem"), verify)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TLSFiles | None:
        """The docker CLI's variables: DOCKER_TLS_VERIFY (verify) or DOCKER_TLS (encrypt only), with
        the files in DOCKER_CERT_PATH (default ~/.docker). None when neither asks for TLS."""
        env = os.environ if environ is None else environ
        verify = env.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        if not verify and env.get("DOCKER_TLS", "") in ("", "0"):
            return None
        directory = Path(env.get("DOCKER_CERT_PATH") or Path.home() / ".docker")
        return cls.from_dir(directory, verify)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context for these files; a TLSSetupError names the file that is missing or wrong."""
        for label, path in (("CA certificate", self.ca), ("client certificate", self.cert),
                            ("client key", self.key)):
            if path is not None and not path.is_file():
                raise TLSSetupError(f"{label} {path} does not exist")
        if (self.cert is None) != (self.key is None):
            raise TLSSetupError("a client certificate needs its key and a key its certificate: give both")
        try:
            # With a CA file only that CA is trusted, as dockerd's mutual TLS intends.
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca is not None else None)
        except (ssl.SSLError, OSError) as exc:
            raise TLSSetupError(f"CA certificate {self.ca} is not a PEM certificate: {exc}") from None
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert is not None and self.key is not None:
            try:
                context.load_cert_chain(str(self.cert), str(self.key))
            except (ssl.SSLError, OSError) as exc:
                raise TLSSetupError(
                    f"client certificate {self.cert} and key {self.key} do not go together or are not PEM: {exc}"
                ) from None
        return context


def https_url(url: str) -> str:
    """`tcp://host:port` as the https URL a TLS connection is made to (port 2376, docker's, if none)."""
    parsed = URL(url)
    port = parsed.explicit_port or 2376
    return str(URL.build(scheme="https", host=parsed.host or "localhost", port=port))
