"""The build step that vendors Chart.js: pinned, checked against its sha512 integrity, extracted whole or not at all."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import sys
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "vendor_static.py"


@pytest.fixture
def vendor():
    spec = importlib.util.spec_from_file_location("vendor_static", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up while being made.
    sys.modules["vendor_static"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["vendor_static"]


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_the_pin_is_chart_js_with_a_sha512_integrity(vendor):
    [package] = vendor.PACKAGES
    assert package.name == "chart.js"
    assert package.integrity.startswith("sha512-")
    assert package.tarball_url == f"https://registry.npmjs.org/chart.js/-/chart.js-{package.version}.tgz"


def test_a_tarball_that_does_not_match_the_pin_is_refused_and_nothing_is_written(vendor, tmp_path, monkeypatch):
    good = _tarball({"package/dist/chart.umd.min.js": b"window.Chart = {};"})
    tampered = _tarball({"package/dist/chart.umd.min.js": b"window.Chart = steal();"})
    package = vendor.Package(
        name="chart.js",
        version="0.0.1",
        integrity=_integrity(good),
        files={"package/dist/chart.umd.min.js": "chart.umd.min.js"},
    )
    monkeypatch.setattr(vendor, "STATIC", tmp_path)

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    served = {"data": tampered}
    monkeypatch.setattr(vendor.urllib.request, "urlopen", lambda url, timeout: Response(served["data"]))

    with pytest.raises(SystemExit, match="integrity mismatch"):
        vendor.vendor(package)
    assert not (tmp_path / "chart.js" / "chart.umd.min.js").exists()
    assert not vendor.is_current(package)

    served["data"] = good
    vendor.vendor(package)
    assert (tmp_path / "chart.js" / "chart.umd.min.js").read_bytes() == b"window.Chart = {};"
    assert vendor.is_current(package)
