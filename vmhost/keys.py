"""Keys a machine is made with: the client key Berth logs in with and the guest's host key.

Both are generated on the host at `machine init`, so the guest's host key is known before the guest
first boots and can be pinned: nothing is ever learnt (or trusted) on first connection.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # paramiko and cryptography are imported where keys are used: the desktop starts without
    import paramiko


@dataclass(frozen=True)
class KeyPair:
    private_openssh: bytes  # "-----BEGIN OPENSSH PRIVATE KEY-----" text, as sshd and paramiko read it
    public_line: str  # "ssh-ed25519 AAAA... comment"


def generate_ed25519(comment: str) -> KeyPair:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return KeyPair(private, f"{public.decode()} {comment}")


def write_private_key(path: Path, pair: KeyPair) -> None:
    """Write the private key readable by its owner only (OpenSSH refuses looser modes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pair.private_openssh)
    path.with_name(path.name + ".pub").write_text(pair.public_line + "\n")


def public_key_from_line(line: str) -> paramiko.PKey:
    """The paramiko key of an OpenSSH public key line ("type base64 [comment]")."""
    import paramiko

    parts = line.split()
    if len(parts) < 2:
        raise ValueError(f"not an OpenSSH public key line: {line!r}")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError as e:
        raise ValueError(f"not an OpenSSH public key line: {line!r}") from e
    key: paramiko.PKey = paramiko.PKey.from_type_string(parts[0], blob)
    return key


def load_private_key(path: Path) -> paramiko.PKey:
    import paramiko

    key: paramiko.PKey = paramiko.Ed25519Key.from_private_key_file(str(path))
    return key


def fingerprint(line: str) -> str:
    """SHA256 fingerprint in OpenSSH's notation, for messages a person compares."""
    key = public_key_from_line(line)
    text: str = key.fingerprint
    return text
