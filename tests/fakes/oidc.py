"""
A Telegram-like OpenID Connect issuer on 127.0.0.1: it generates its own RSA
key and serves discovery, JWKS and the token endpoint (authorization code
with PKCE S256, client_secret_basic). Tests ``authorize`` a person to get a
code as Telegram's login page would, and may ask for a faulty ID token
(``token_overrides``, ``sign_with_other_key``) to see it refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.base import FakeServer


def pkce_pair() -> tuple[str, str]:
    """A ``(code_verifier, code_challenge)`` pair (S256), as a client makes it."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Grant:
    claims: dict[str, Any]
    challenge: str
    redirect_uri: str
    client_id: str
    used: bool = False
    token_overrides: dict[str, Any] = field(default_factory=dict)
    other_key: bool = False


class FakeOidcIssuer(FakeServer):
    name = "fake-oidc"

    def __init__(self, port: int | None = None, *, client_secret: str = "oidc-secret") -> None:
        super().__init__(port)
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "fake-key-1"
        self.grants: dict[str, Grant] = {}

    def reset(self) -> None:
        super().reset()
        self.grants.clear()

    def authorize(
        self,
        *,
        telegram_id: int,
        client_id: str,
        challenge: str,
        redirect_uri: str = "https://app.example/callback",
        name: str = "Ada Lovelace",
        username: str = "ada",
        token_overrides: dict[str, Any] | None = None,
        sign_with_other_key: bool = False,
    ) -> str:
        """What Telegram's consent page does: remember a grant, return its one-time code."""
        code = secrets.token_urlsafe(24)
        claims = {
            "sub": f"pairwise-{secrets.token_hex(6)}",
            "id": telegram_id,
            "name": name,
            "preferred_username": username,
            "picture": f"https://t.me/i/userpic/{telegram_id}.jpg",
        }
        self.grants[code] = Grant(
            claims,
            challenge,
            redirect_uri,
            client_id,
            token_overrides=token_overrides or {},
            other_key=sign_with_other_key,
        )
        return code

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            **grant.claims,
            **grant.token_overrides,
        }
        key = self.other_key if grant.other_key else self.key
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": self.kid})

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_post("/token", self._token)

    async def _discovery(self, request: web.Request) -> web.Response:
        await self.record(request)
        return web.json_response(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/auth",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        await self.record(request)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return web.json_response({"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]})

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        _, trouble = await self.record(request)
        if trouble and trouble.status:
            return self.trouble_response(trouble)

        def refuse(error: str, status: int = 400) -> web.Response:
            return web.json_response({"error": error}, status=status)

        auth = request.headers.get("Authorization", "")
        try:
            client, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            return refuse("invalid_client", 401)
        if secret != self.client_secret:
            return refuse("invalid_client", 401)
        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type")
        grant = self.grants.get(str(form.get("code", "")))
        if grant is None or grant.used or grant.client_id != client:
            return refuse("invalid_grant")
        grant.used = True  # a code works once, even when the rest of the request is wrong
        if grant.redirect_uri != form.get("redirect_uri"):
            return refuse("invalid_grant")
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant.challenge:
            return refuse("invalid_grant")
        return web.json_response(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self._id_token(grant),
            }
        )
