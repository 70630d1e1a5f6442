"""One pagination shape for every list: ``{"items": [...], "next": cursor | null}``."""

from __future__ import annotations

import base64
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlmodel import Session, SQLModel

from spe.errors import InvalidInput
from spe.messages import Message

T = TypeVar("T")
MAX_OFFSET = 2**31


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = None


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    cursor: Annotated[str | None, Query(max_length=40,
                                        description="`next` of the previous page.")] = None,
) -> PageParams:
    offset = 0
    if cursor:
        try:
            offset = int(base64.urlsafe_b64decode(cursor.encode()).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(Message("malformed cursor"), code="pagination.bad_cursor") from exc
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidInput(Message("malformed cursor"), code="pagination.bad_cursor")
    return PageParams(limit=limit, offset=offset)


def paginate(session: Session, query, params: PageParams) -> tuple[list, str | None]:
    """Run an ordered ``query`` for one page; returns the rows and the next cursor."""
    rows = list(session.exec(query.offset(params.offset).limit(params.limit + 1)))
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    following = params.offset + params.limit
    cursor = base64.urlsafe_b64encode(str(following).encode()).decode() if more else None
    return rows, cursor


__all__ = ["Page", "PageParams", "SQLModel", "page_params", "paginate"]
