"""
OpenAPI post-processing: every operation may answer the contract's error
body from any layer (validation, auth, throttling, 404, 500, 503), so those
responses are declared once here instead of on every view. Views declare
their specific ones (409, 410, 413) themselves.
"""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "A sentence a person can read."},
        "code": {"type": "string", "description": "UPPER_SNAKE error code from the contract."},
        "details": {
            "type": "object",
            "description": "Validation errors by field: a list of messages, or for nested and list "
            "fields an object of the same shape by key or index.",
        },
    },
    "required": ["error", "code"],
}

_COMMON = {
    "400": "Invalid input (VALIDATION_ERROR).",
    "401": "Missing or invalid credentials (NOT_AUTHENTICATED, INVALID_TOKEN).",
    "403": "Authenticated without the right (PERMISSION_DENIED).",
    "404": "Not found, or another user's private object (NOT_FOUND).",
    "405": "Method not allowed (METHOD_NOT_ALLOWED).",
    "406": "Unacceptable Accept header.",
    "413": "Body too large (PAYLOAD_TOO_LARGE).",
    "415": "Unsupported media type (UNSUPPORTED_MEDIA_TYPE).",
    "409": "Conflicts with the current state (CONFLICT or a specific 409 code); writes only.",
    "429": "Rate limited (RATE_LIMITED); see Retry-After.",
    "500": "Unexpected error (INTERNAL_ERROR).",
    "503": "A dependency is down (SERVICE_UNAVAILABLE).",
}


def _relax_response_urls(schema: object) -> bool:
    """
    URLs in responses may be empty (not set) or site-relative (local media):
    drop their ``uri`` format. Return whether anything was relaxed; a ``oneOf``
    holding a relaxed URL and drf-spectacular's ``BlankEnum`` becomes ``anyOf``,
    since "" now matches both.
    """
    relaxed = False
    if isinstance(schema, dict):
        if schema.get("format") == "uri" and schema.get("type") == "string":
            del schema["format"]
            relaxed = True
        for value in schema.values():
            relaxed = _relax_response_urls(value) or relaxed
        if relaxed and "oneOf" in schema:
            schema["anyOf"] = schema.pop("oneOf")
    elif isinstance(schema, list):
        for value in schema:
            relaxed = _relax_response_urls(value) or relaxed
    return relaxed


def add_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    # With COMPONENT_SPLIT_REQUEST, request bodies use "*Request" components; only
    # responses are relaxed, so inputs are still documented (and checked) as URLs.
    for name, component in components.items():
        if not name.endswith("Request"):
            _relax_response_urls(component)
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _COMMON.items():
                if status == "409" and method == "get":
                    continue
                existing = responses.get(status)
                if existing is None or "content" not in existing:
                    responses[status] = {
                        "description": (existing or {}).get("description") or description,
                        "content": {"application/json": {"schema": ref}},
                    }
    return result
