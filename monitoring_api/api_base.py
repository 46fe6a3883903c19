"""The base classes of the endpoints in :mod:`monitoring_api.apis`.

:class:`ReadOnlyApi`: every view answers GET, HEAD and OPTIONS only (any other method is a 405,
decided before authentication so that it holds with or without a token), reads the
API_TOKEN_AUTH switch at request time, and answers 503 when a backing store cannot be reached.
:class:`LimitOffsetListApi`: the one ``get`` of the limit/offset lists, configured by each.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError as DjangoOperationalError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from detection.clickhouse.client import ClickHouseUnavailable
from monitoring_api.pagination import limit_offset_body
from monitoring_api.schema import AUTH_RESPONSES, VALIDATION_ERROR


class ReadOnlyApi(APIView):
    """GET/HEAD/OPTIONS only, with the API_TOKEN_AUTH switch read at request time."""

    public = False  # True: never needs authentication (health)

    def get_authenticators(self):
        from rest_framework.authentication import SessionAuthentication

        if settings.API_TOKEN_AUTH and not self.public:
            from rest_framework.authentication import TokenAuthentication  # needs rest_framework.authtoken

            return [TokenAuthentication(), SessionAuthentication()]
        return [SessionAuthentication()]

    def get_permissions(self):
        if settings.API_TOKEN_AUTH and not self.public:
            return [IsAuthenticated()]
        return [AllowAny()]

    def initial(self, request, *args, **kwargs):
        if request.method not in SAFE_METHODS:
            self.format_kwarg = self.get_format_suffix(**kwargs)
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        # A store that cannot be reached is an outage, not a bug: 503 with a short JSON reason.
        if isinstance(exc, (ClickHouseUnavailable, DjangoOperationalError, DjangoInterfaceError)):
            logger = logging.getLogger(type(self).__module__)  # under the endpoint's module
            logger.warning("%s: backing store unavailable: %s", type(self).__name__, exc)
            return Response(
                {"detail": f"A backing store is unavailable ({type(exc).__module__.split('.')[0]}: {type(exc).__name__}); see /health."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return super().handle_exception(exc)

    def filters(self, request) -> dict:
        """The validated query parameters (a plain dict: one value per parameter, the last one)."""
        serializer = self.FilterSerializer(data=request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class LimitOffsetListApi(ReadOnlyApi):
    """A list paged by limit/offset, answering ``{count, next, previous, [extras], results}``.

    A subclass only declares what differs:

    - ``FilterSerializer``, a ``LimitOffsetFilterSerializer``: the query parameters;
    - ``select(**filters)``: the endpoint's selector called with the other filters, returning
      an ORM queryset (counted, then sliced); or :meth:`page`, for a selector that pages itself;
    - ``OutputSerializer`` (one row), or ``serialize_rows`` for a hot endpoint's fast path
      (:func:`monitoring_api.rows.row_serializer`);
    - ``PageSerializer``, ``operation_id``, ``summary`` and ``operation_description``: its OpenAPI
      operation (without ``operation_description``, the class docstring describes it).
    """

    operation_id: str
    summary: str
    operation_description: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # extend_schema_view gives the subclass its own copy of the inherited get to annotate.
        extend_schema_view(get=extend_schema(
            operation_id=cls.operation_id,
            summary=cls.summary,
            description=cls.operation_description,
            parameters=[cls.FilterSerializer],
            responses={200: cls.PageSerializer, 400: VALIDATION_ERROR, **AUTH_RESPONSES},
        ))(cls)

    # (no docstring: spectacular would take it as the description of every list operation)
    def get(self, request):
        filters = self.filters(request)
        limit, offset = filters.pop("limit"), filters.pop("offset")
        count, rows, extras = self.page(filters, limit=limit, offset=offset)
        return Response(
            limit_offset_body(request, count=count, limit=limit, offset=offset, results=self.serialize_rows(rows), **extras)
        )

    def page(self, filters: dict, *, limit: int, offset: int) -> tuple[int, list, dict]:
        """The rows matching ``filters``, one page of them, and the extra keys of the answer."""
        queryset = self.select(**filters)
        return queryset.count(), list(queryset[offset : offset + limit]), {}

    def serialize_rows(self, rows: list) -> list:
        return self.OutputSerializer(rows, many=True).data
