#!/usr/bin/env python3
"""
Vendor the admin pages' front-end libraries from the npm registry: download
each pinned tarball, check it against the pinned sha512 integrity (the
``dist.integrity`` the registry publishes for that version), and extract the
files the pages load into a gitignored static directory. After that the
pages work offline; nothing is loaded from a CDN.

Run by ``make`` (before ``run``, ``test``, ``bench``, ``cluster``) and by the
Dockerfile before ``collectstatic``. Standard library only, so it runs
before the virtualenv exists. A re-run with the files in place and the same
pin does nothing. ``NPM_REGISTRY`` points at a mirror; the usual
``https_proxy`` variables are honoured.

    python scripts/vendor_static.py           # vendor what is missing or outdated
    python scripts/vendor_static.py --check   # exit 1 when something is missing
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "dashboard" / "static" / "dashboard" / "vendor"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    # Subresource-integrity string of the tarball, as `npm view <name>@<version> dist.integrity` prints it.
    integrity: str
    # Path inside the tarball -> file name in STATIC / name.
    files: dict[str, str]

    @property
    def tarball_url(self) -> str:
        registry = os.environ.get("NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")
        return f"{registry}/{self.name}/-/{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"

    @property
    def directory(self) -> Path:
        return STATIC / self.name

    @property
    def stamp(self) -> str:
        return f"{self.name}@{self.version} {self.integrity}\n"


PACKAGES = [
    Package(
        name="chart.js",
        version="4.6.2",
        integrity="sha512-xachB+pPHjp0syJi7llUBA1w3kMYl6NF3o7eVrvjnWCT+IB2zMaF2pX5UYDiwbbfsioFEIRnAjreNOMsGj5TIA==",
        files={
            "package/dist/chart.umd.min.js": "chart.umd.min.js",
            # The minified file names its source map; collectstatic's manifest storage needs it present.
            "package/dist/chart.umd.min.js.map": "chart.umd.min.js.map",
            "package/LICENSE.md": "LICENSE.md",
        },
    ),
]


def is_current(package: Package) -> bool:
    stamp = package.directory / ".vendored"
    return (
        stamp.exists()
        and stamp.read_text() == package.stamp
        and all((package.directory / name).exists() for name in package.files.values())
    )


def verify(data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"integrity mismatch: expected sha512-{expected}, got sha512-{actual}")


def vendor(package: Package) -> None:
    print(f"vendoring {package.name}@{package.version} from {package.tarball_url}")
    with urllib.request.urlopen(package.tarball_url, timeout=60) as response:  # noqa: S310 (a pinned https URL)
        data = response.read()
    verify(data, package.integrity)
    package.directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, name in package.files.items():
            extracted = archive.extractfile(member)
            if extracted is None:
                raise SystemExit(f"{member} is not a file in {package.name}@{package.version}")
            # Written afresh (mtime now, so make sees it newer than this script) and renamed into place.
            with tempfile.NamedTemporaryFile(dir=package.directory, delete=False) as out:
                out.write(extracted.read())
            os.chmod(out.name, 0o644)
            os.replace(out.name, package.directory / name)
    (package.directory / ".vendored").write_text(package.stamp)


def main(argv: list[str]) -> int:
    outdated = [package for package in PACKAGES if not is_current(package)]
    if "--check" in argv:
        for package in outdated:
            print(f"{package.name}@{package.version} is not vendored: run python scripts/vendor_static.py")
        return 1 if outdated else 0
    for package in PACKAGES:
        if package in outdated:
            vendor(package)
        else:
            # Up to date: touched, so make stops asking after an edit of this script that kept the pin.
            (package.directory / ".vendored").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
