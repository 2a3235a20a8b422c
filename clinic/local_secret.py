"""The secret key of a laptop run (`make run`): generated once into a file only its owner can
read, so that a clinic never has to invent one and it survives restarts (sessions stay valid).
A server sets DJANGO_SECRET_KEY instead (README, Deployment)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path


def ensure(path: str | os.PathLike) -> Path:
    """Creates the key file (mode 0600 from its first byte) unless it exists; returns its path.

    O_EXCL makes a second caller keep the first key rather than replace it."""
    target = Path(path)
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return target
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(50) + "\n")
    return target


def read(path: str | os.PathLike) -> str:
    """The key stored in the file, without its line end ('' when the file is empty)."""
    return Path(path).read_text(encoding="ascii").strip()


if __name__ == "__main__":  # python -m clinic.local_secret PATH (the Makefile's run target)
    ensure(sys.argv[1])
