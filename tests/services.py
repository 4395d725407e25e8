"""
A pytest plugin (``-p tests.services``) that prepares the environment before
Django's settings are read: with no ``REDIS_URL`` it starts the embedded
Redis on a free port, so ``make test`` passes on a fresh machine; with
``REDIS_URL`` / ``DATABASE_URL`` set (CI) it uses those servers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_embedded = None
_media = tempfile.TemporaryDirectory(prefix="ibw-media-")


@pytest.hookimpl(hookwrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _embedded
    os.environ["IBW_TESTING"] = "true"
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["MEDIA_ROOT"] = _media.name
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    if not os.environ.get("REDIS_URL"):
        from ibw.embedded import EmbeddedRedis, free_port

        _embedded = EmbeddedRedis(free_port(), workdir=Path(tempfile.gettempdir()) / "ibw-test-redis").start()
        os.environ["REDIS_URL"] = _embedded.url
    yield


def pytest_unconfigure(config):
    if _embedded is not None:
        _embedded.stop()
    _media.cleanup()
