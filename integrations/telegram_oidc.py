"""
Telegram Login over OpenID Connect (authorization code with PKCE): the
client half that talks to the issuer. Discovery at
``{TELEGRAM_OIDC_ISSUER}/.well-known/openid-configuration``; the client id is
the bot id (the digits before ``:`` in ``TELEGRAM_BOT_TOKEN``), the secret
``TELEGRAM_OIDC_CLIENT_SECRET``. ``exchange_code`` swaps a code (with the
client's ``code_verifier``) for tokens at the token endpoint and returns the
ID token's verified claims: signature against the issuer's JWKS (PyJWT),
``iss``, ``aud`` (the client id) and ``exp``. Every failure raises
``OidcFailed`` naming the step. Discovery and JWKS are cached for
``CACHE_SECONDS``; an unknown ``kid`` refetches the JWKS once (key rotation).
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
from django.conf import settings
from django.core.cache import cache

from integrations.errors import OidcFailed

CACHE_SECONDS = 600
TIMEOUT_SECONDS = 10.0
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"]
SCOPES = ["openid", "profile"]


def issuer() -> str:
    return settings.TELEGRAM_OIDC_ISSUER.rstrip("/")


def client_id() -> str:
    token = settings.TELEGRAM_BOT_TOKEN or ""
    bot_id = token.split(":", 1)[0]
    if not bot_id.isdigit():
        raise OidcFailed("TELEGRAM_BOT_TOKEN is not set, so there is no client id.")
    return bot_id


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcFailed(f"GET {url} failed: {exc.__class__.__name__}") from None
    if not isinstance(body, dict):
        raise OidcFailed(f"GET {url} did not return a JSON object")
    return body


def discovery() -> dict[str, Any]:
    """The issuer's OpenID configuration (cached); raises ``OidcFailed``."""
    key = f"oidc:discovery:{issuer()}"
    config = cache.get(key)
    if config is None:
        config = _get_json(f"{issuer()}/.well-known/openid-configuration")
        for name in ("token_endpoint", "jwks_uri", "authorization_endpoint"):
            if not isinstance(config.get(name), str):
                raise OidcFailed(f"the discovery document has no {name}")
        cache.set(key, config, CACHE_SECONDS)
    return config


def _jwks(*, refresh: bool = False) -> dict[str, Any]:
    key = f"oidc:jwks:{issuer()}"
    keys = None if refresh else cache.get(key)
    if keys is None:
        keys = _get_json(discovery()["jwks_uri"])
        cache.set(key, keys, CACHE_SECONDS)
    return keys


def _signing_key(token: str) -> Any:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise OidcFailed(f"the ID token is malformed: {exc}") from None
    kid = header.get("kid")
    for refresh in (False, True):
        for raw in _jwks(refresh=refresh).get("keys", []):
            if kid is None or raw.get("kid") == kid:
                try:
                    return jwt.PyJWK(raw).key
                except jwt.PyJWTError as exc:
                    raise OidcFailed(f"the issuer's key {kid} is unusable: {exc}") from None
    raise OidcFailed(f"no key {kid!r} in the issuer's JWKS")


def verify_id_token(token: str) -> dict[str, Any]:
    """The claims of ``token`` once its signature, ``iss``, ``aud`` and ``exp`` check out; raises ``OidcFailed``."""
    try:
        return jwt.decode(
            token,
            _signing_key(token),
            algorithms=ALGORITHMS,
            audience=client_id(),
            issuer=discovery().get("issuer", issuer()),
            options={"require": ["exp", "iss", "aud"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        raise OidcFailed(f"the ID token was refused: {exc}") from None


def exchange_code(*, code: str, code_verifier: str, redirect_uri: str) -> dict[str, Any]:
    """
    Exchange an authorization ``code`` (PKCE ``code_verifier``) at the token
    endpoint and return the verified ID token claims. The issuer refuses a
    reused code or a wrong verifier; raises ``OidcFailed`` for every failure.
    """
    if not settings.TELEGRAM_OIDC_CLIENT_SECRET:
        raise OidcFailed("TELEGRAM_OIDC_CLIENT_SECRET is not set")
    endpoint = discovery()["token_endpoint"]
    try:
        response = httpx.post(
            endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri,
                "client_id": client_id(),
            },
            auth=(client_id(), settings.TELEGRAM_OIDC_CLIENT_SECRET),
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise OidcFailed(f"the token endpoint could not be reached: {exc.__class__.__name__}") from None
    if response.status_code != 200:
        raise OidcFailed(f"the token endpoint refused the code: HTTP {response.status_code} {response.text[:200]}")
    try:
        id_token = response.json()["id_token"]
    except (ValueError, KeyError, TypeError):
        raise OidcFailed("the token endpoint returned no id_token") from None
    if not isinstance(id_token, str):
        raise OidcFailed("the token endpoint returned no id_token")
    return verify_id_token(id_token)


def client_config() -> dict[str, Any]:
    """What a client needs to build the authorization URL; raises ``OidcFailed`` when the issuer is unreachable."""
    return {
        "issuer": discovery().get("issuer", issuer()),
        "client_id": client_id(),
        "authorization_endpoint": discovery()["authorization_endpoint"],
        "scopes": SCOPES,
    }
