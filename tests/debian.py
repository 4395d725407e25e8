"""
Debian packages that some tests need (Chromium, Caddy): installed with apt
when missing, so a fresh machine needs nothing done by hand. The only reason
to skip is that apt itself is unavailable (no ``apt-get``, or not root); a
failed install fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _apt(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["apt-get", "-o", "DPkg::Lock::Timeout=180", *args],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ensure_binary(path_or_name: str, *, package: str) -> str:
    """Return the binary's path, installing Debian's ``package`` first when it is missing."""
    found = path_or_name if os.path.isabs(path_or_name) and os.path.exists(path_or_name) else shutil.which(path_or_name)
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip(f"{path_or_name} is missing and apt-get is not available to install {package}")
    if os.geteuid() != 0:
        pytest.skip(f"{path_or_name} is missing and apt-get needs root to install {package}")
    install = _apt("install", "-y", "--no-install-recommends", package, timeout=600)
    if install.returncode != 0:
        # Probably a stale or empty package list: refresh it once and retry.
        update = _apt("update", timeout=300)
        install = _apt("install", "-y", "--no-install-recommends", package, timeout=600)
        if install.returncode != 0:
            pytest.fail(
                f"apt-get install {package} failed:\n" + update.stderr[-2000:] + install.stdout[-2000:] + install.stderr
            )
    found = path_or_name if os.path.isabs(path_or_name) and os.path.exists(path_or_name) else shutil.which(path_or_name)
    assert found, f"apt-get installed {package} but {path_or_name} is not there"
    return found
