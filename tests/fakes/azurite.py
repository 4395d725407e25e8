"""
Azurite, Microsoft's Azure Storage emulator (npm), on 127.0.0.1, for the
Azure Blob Storage direct-upload tests.

``azurite_blob_command`` installs the pinned ``azurite`` package with npm
into a cache directory (``IBW_AZURITE_DIR``, default
``~/.cache/ibw/azurite-<version>``) the first time, and answers None with
the reason when node or npm is missing or the install fails: the tests that
need it then skip saying why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from ibw import settings as ibw_settings

AZURITE_VERSION = "3.37.0"
# Azurite's documented development account (public, fixed in the emulator).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "media"


def _cache_dir() -> Path:
    default = Path.home() / ".cache" / "ibw" / f"azurite-{AZURITE_VERSION}"
    return Path(os.environ.get("IBW_AZURITE_DIR", default))


def azurite_blob_command() -> tuple[list[str] | None, str]:
    """The command that starts Azurite's blob service, installing it if needed; or None and why not."""
    prefix = _cache_dir()
    binary = prefix / "node_modules" / ".bin" / "azurite-blob"
    if binary.exists():
        return [str(binary)], ""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None, "node and npm are not installed: Azurite (npm) cannot run here"
    prefix.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), f"azurite@{AZURITE_VERSION}"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"npm install azurite@{AZURITE_VERSION} failed: {exc}"
    if not binary.exists():
        return None, f"npm installed azurite@{AZURITE_VERSION} without {binary}"
    return [str(binary)], ""


class Azurite:
    """Azurite's blob service on a free port, in memory; a context manager."""

    def __init__(self, command: list[str], port: int) -> None:
        self.command = command
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoint};"
        )

    def __enter__(self) -> Azurite:
        self.process = subprocess.Popen(
            [
                *self.command,
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("Azurite did not start within 30 s")

    def __exit__(self, *exc_info) -> None:
        if self.process is not None:
            # Azurite drains its connections on SIGTERM; in memory there is nothing to keep.
            self.process.kill()
            self.process.wait(timeout=10)


def use_azure(settings, *, connection_string: str | None, **options) -> None:
    """``STORAGE_BACKEND=azure`` as ``ibw/settings.py`` builds it, with Azurite's account."""
    configured = ibw_settings._storage_backends["azure"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": configured["BACKEND"],
            "OPTIONS": {
                **configured["OPTIONS"],
                "account_name": ACCOUNT,
                "account_key": ACCOUNT_KEY,
                "azure_container": CONTAINER,
                "connection_string": connection_string,
                **options,
            },
        },
    }
