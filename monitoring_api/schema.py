"""The responses every operation of the OpenAPI schema documents besides its 200 (drf-spectacular):
the 400 of an invalid query parameter and the ``{"detail": ...}`` refusals."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers

VALIDATION_ERROR = OpenApiResponse(
    {
        "type": "object",
        "description": "Each invalid query parameter with its messages.",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    },
    description="A query parameter is invalid; the body names it.",
)


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """The body of every refusal that is not about one parameter (DRF's ``{"detail": ...}``)."""

    detail = serializers.CharField(help_text="Why the request was refused.")


def _refusal(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# What every operation may refuse, besides its own 400. Documented so that clients (and
# schemathesis) know every status the API can answer; a 5xx other than 503 is a bug.
REFUSALS = {
    404: _refusal("`format` names no renderer (only `json` and `api` exist)."),
    406: _refusal("The Accept header asks for a media type the API cannot produce (it produces application/json)."),
}
AUTH_RESPONSES = {
    401: _refusal("API_TOKEN_AUTH is on and no valid token or session was given."),
    403: _refusal("Authenticated but not allowed."),
    503: _refusal("PostgreSQL or ClickHouse cannot be reached (see /health)."),
    **REFUSALS,
}
