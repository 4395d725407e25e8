"""
S3 on 127.0.0.1: moto's server, with S3's rules for browser-based POST
uploads in front of it.

moto 5.2 stores whatever a presigned POST sends: it checks neither the
policy's signature, nor its expiration, nor its conditions. Real S3 and R2
do, and the direct uploads rely on them (the policy fixes the key, the
``Content-Type`` and the size). ``PolicyCheckingMotoServer`` applies those
rules as AWS documents them ("Creating a POST policy", SigV4) and answers
S3's XML errors (403 ``AccessDenied``, 400 ``EntityTooLarge`` /
``EntityTooSmall``); every other request goes to moto unchanged.

The fixtures ``moto_s3`` and ``s3`` are imported by the conftest of the
test packages that use them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.formparser import parse_form_data
from werkzeug.serving import make_server

from ibw.embedded import free_port

BUCKET = "ibw-media"
CREDENTIALS = {"access_key": "testing-key", "secret_key": "testing-secret"}
_IGNORED_FIELDS = {"policy", "x-amz-signature", "file"}


def _error(start_response, status: str, code: str, message: str) -> list[bytes]:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    start_response(status, [("Content-Type", "application/xml")])
    return [body.encode()]


def _signature(secret: str, credential: str, policy: str) -> str:
    _, day, region, service, _ = credential.split("/")
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()


class PostPolicy:
    """WSGI middleware: refuse a POST upload whose policy S3 would refuse."""

    def __init__(self, app, secrets: dict[str, str]) -> None:
        self.app = app
        self.secrets = secrets

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != "POST" or not environ.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        _, form, files = parse_form_data({**environ, "wsgi.input": io.BytesIO(body)})
        refusal = self.refusal(environ, {k.lower(): v for k, v in form.items()}, files.get("file"))
        if refusal:
            return _error(start_response, *refusal)
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def refusal(self, environ, fields: dict[str, str], upload) -> tuple[str, str, str] | None:
        denied = "403 Forbidden", "AccessDenied"
        if "policy" not in fields:
            return (*denied, "Bucket POST must contain a field named 'policy'.")
        credential = fields.get("x-amz-credential", "")
        secret = self.secrets.get(credential.split("/")[0])
        if secret is None:
            return (*denied, "The AWS Access Key Id you provided does not exist in our records.")
        if not hmac.compare_digest(_signature(secret, credential, fields["policy"]), fields.get("x-amz-signature", "")):
            return (*denied, "The request signature we calculated does not match the signature you provided.")
        policy = json.loads(base64.b64decode(fields["policy"]))
        if datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")) < datetime.now(UTC):
            return (*denied, "Invalid according to Policy: Policy expired.")
        bucket = environ["PATH_INFO"].strip("/").split("/")[0]
        values = {**fields, "bucket": bucket}
        covered = {"bucket"}
        size = len(upload.read()) if upload is not None else 0
        for condition in policy["conditions"]:
            if isinstance(condition, dict):
                ((name, expected),) = condition.items()
                operator, name = "eq", name.lower()
            elif condition[0] == "content-length-range":
                low, high = int(condition[1]), int(condition[2])
                if size > high:
                    return (
                        "400 Bad Request",
                        "EntityTooLarge",
                        "Your proposed upload exceeds the maximum allowed size",
                    )
                if size < low:
                    return (
                        "400 Bad Request",
                        "EntityTooSmall",
                        "Your proposed upload is smaller than the minimum allowed size",
                    )
                continue
            else:
                operator, name, expected = condition[0], condition[1].lstrip("$").lower(), condition[2]
            covered.add(name)
            actual = values.get(name, "")
            if (operator == "eq" and actual != expected) or (
                operator == "starts-with" and not actual.startswith(expected)
            ):
                return (
                    *denied,
                    f'Invalid according to Policy: Policy Condition failed: ["{operator}", "${name}", "{expected}"]',
                )
        extra = sorted(
            name for name in fields if name not in covered | _IGNORED_FIELDS and not name.startswith("x-ignore-")
        )
        if extra:
            return (*denied, f"Invalid according to Policy: Extra input fields: {extra[0]}")
        return None


class PolicyCheckingMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` whose POST uploads obey their policy, as on S3."""

    def __init__(self, *, port: int, secrets: dict[str, str]) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self._secrets = secrets

    def _server_entry(self) -> None:
        app = PostPolicy(DomainDispatcherApplication(create_backend_app), self._secrets)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


def use_s3(settings, endpoint: str, **options) -> None:
    """``STORAGE_BACKEND=s3`` as ``ibw/settings.py`` builds it, pointed at moto."""
    # Imported here: bench/uploads.py runs this server without Django settings.
    from ibw import settings as ibw_settings

    configured = ibw_settings._storage_backends["s3"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": configured["BACKEND"],
            "OPTIONS": {
                **configured["OPTIONS"],
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "addressing_style": "path",
                **CREDENTIALS,
                **options,
            },
        },
    }


@pytest.fixture(scope="session")
def moto_s3():
    """moto's S3 with POST policies enforced, on a free port of 127.0.0.1; its endpoint URL."""
    port = free_port()
    server = PolicyCheckingMotoServer(port=port, secrets={CREDENTIALS["access_key"]: CREDENTIALS["secret_key"]})
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_s3):
    """A boto3 client on an empty ``BUCKET``, emptied and removed after the test."""
    client = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["access_key"],
        aws_secret_access_key=CREDENTIALS["secret_key"],
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)
