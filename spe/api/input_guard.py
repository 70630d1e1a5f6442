"""Refuse, at the boundary, input the databases cannot represent: one check for every route.

PostgreSQL stores no NUL character in text, no integer beyond 64 bits, and a time that
converts to UTC below year 1 or above 9999 does not exist in Python. Such values used to
travel through validation and fail deep inside a query with a 500 (SQLite took them). This
dependency runs first on every route, before authentication, and answers 422 when any
path parameter, query parameter, form field or JSON string or key holds a NUL, when a
parameter declared as an integer, or any JSON integer, is outside 64 bits, or when a
parameter declared as a time is outside what UTC can hold. File contents of uploads are
not text fields and are not checked.
"""

from __future__ import annotations

import json
import typing
from datetime import UTC, date, datetime
from types import UnionType

from fastapi import Depends, Request
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from spe.errors import InvalidInput
from spe.messages import Message

INT64 = range(-(2**63), 2**63)
_DATETIME = TypeAdapter(datetime)


class Unrepresentable(InvalidInput):
    default_code = "input.unrepresentable"


def _refuse(where: str, why: str) -> typing.NoReturn:
    raise Unrepresentable(Message("{where}: {why}", where=where, why=why))


def kinds(annotation) -> set[type]:
    """The plain types an annotation admits (``int | None`` → {int, NoneType})."""
    if typing.get_origin(annotation) in (typing.Union, UnionType):
        return {k for arg in typing.get_args(annotation) for k in kinds(arg)}
    if typing.get_origin(annotation) is typing.Annotated:
        return kinds(typing.get_args(annotation)[0])
    return {annotation} if isinstance(annotation, type) else set()


def route_params(dependant) -> tuple[list, list]:
    """The path and query parameters (model fields) of a route's dependant, with those of
    its dependencies (pagination, …)."""
    path, query = list(dependant.path_params), list(dependant.query_params)
    for sub in dependant.dependencies:
        more_path, more_query = route_params(sub)
        path += more_path
        query += more_query
    return path, query


_TYPED: dict[int, tuple[object, dict[str, set[type]]]] = {}  # id(route) → (route, types)


def _typed_params(route) -> dict[str, set[type]]:
    """{parameter name: admitted types} of the route's path and query parameters (worked
    out once per route; the route is kept with them, so its id is not reused)."""
    known = _TYPED.get(id(route))
    if known is None:
        path, query = route_params(route.dependant)
        known = _TYPED[id(route)] = (route, {field.alias: kinds(field.field_info.annotation)
                                             for field in (*path, *query)})
    return known[1]


def _check_text(where: str, value: str) -> None:
    if "\x00" in value:
        _refuse(where, "a NUL character is not allowed")


def _check_param(where: str, value: str, kinds: set[type]) -> None:
    _check_text(where, value)
    digits = value.strip().lstrip("+-")
    if int in kinds and digits.isdecimal() and (len(digits) > 19 or int(value) not in INT64):
        _refuse(where, "the integer is out of range (64 bits)")
    if kinds & {datetime, date}:
        try:
            moment = _DATETIME.validate_python(value)
        except ValidationError:
            return  # not a time: validation proper answers
        try:
            if moment.tzinfo is not None:
                moment.astimezone(UTC)
            if not 1 < moment.year < 9999:
                raise OverflowError
        except OverflowError:
            _refuse(where, "the time is out of range (years 2 to 9998)")


def _check_json(where: str, value) -> None:
    if isinstance(value, str):
        _check_text(where, value)
    elif isinstance(value, bool | float) or value is None:
        return
    elif isinstance(value, int):
        if value not in INT64:
            _refuse(where, "the integer is out of range (64 bits)")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(f"{where}.{i}", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(f"{where}.{key[:40]}", key)
            _check_json(f"{where}.{key[:40]}", item)


async def check_input(request: Request) -> None:
    route = request.scope.get("route")
    typed = _typed_params(route) if route is not None and hasattr(route, "dependant") else {}
    _check_text("path", request.url.path)
    for name, value in request.path_params.items():
        _check_param(f"path.{name}", str(value), typed.get(name, set()))
    for name, value in request.query_params.multi_items():
        _check_text("query", name)
        _check_param(f"query.{name[:40]}", value, typed.get(name, set()))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in (await request.form()).multi_items():
            _check_text("form", name)
            if not isinstance(value, UploadFile):
                _check_text(f"form.{name[:40]}", value)
            elif value.filename:
                _check_text(f"form.{name[:40]}.filename", value.filename)
    elif content_type == "application/json" or content_type.endswith("+json"):
        body = await request.body()
        if body:
            try:
                document = json.loads(body)
            except ValueError:
                return  # not JSON: the route's own parsing answers
            _check_json("body", document)


InputGuard = Depends(check_input)
