"""limit/offset pagination with a total count."""

from __future__ import annotations

from functools import cache
from typing import Any, Generic, TypeVar

from fastapi import Query, Response
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_LIMIT = 500
MAX_OFFSET = 10_000_000  # deeper paging is a search problem; also keeps OFFSET inside BIGINT


class PageParams(BaseModel):
    """Which slice of a list to return."""

    limit: int = 50
    offset: int = 0


async def page_params(
    limit: int = Query(50, ge=1, le=MAX_LIMIT, description="Items per page."),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Items to skip."),
) -> PageParams:
    """FastAPI dependency for `?limit=&offset=` (async: pure, so no thread-pool hop)."""
    return PageParams(limit=limit, offset=offset)


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


def paginate(session: Session, stmt: Select[Any], params: PageParams, *, rows: bool = False
             ) -> tuple[list[Any], int]:
    """Run `stmt` for one page and count the whole result in the same round trip (COUNT(*) OVER ())."""
    counted = stmt.add_columns(func.count().over().label("_total")).limit(params.limit).offset(params.offset)
    result = session.execute(counted).all()
    if result:
        # rows=True (a hot list selecting plain columns to skip the ORM's identity map): the rows themselves, which
        # `page_response` validates as dicts; otherwise the first selected element of each row.
        return (list(result) if rows else [row[0] for row in result]), int(result[0][-1])
    if params.offset == 0:
        return [], 0
    # past the end: the window gave no row to read the total from
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return [], int(total)


def page_response(schema: type[BaseModel], rows: list[Any], total: int, params: PageParams) -> Response:
    """Serialise one page straight to JSON bytes.

    Hot list endpoints return this instead of a `Page` model: FastAPI would otherwise dump the model to a dict,
    validate it against `response_model` again and serialise it — three passes instead of one. The route keeps
    `response_model=Page[schema]` so the OpenAPI schema stays exact.
    """
    if rows and isinstance(rows[0], Row):
        # plain rows (see `paginate`): one validation call over dicts is about twice as fast as attribute reads
        keys = rows[0]._fields  # zip with the column names once: `Row._asdict` per row costs twice as much
        items = _list_of(schema).validate_python([dict(zip(keys, r, strict=True)) for r in rows])
    elif rows and isinstance(rows[0], dict):  # cached plain rows (e.g. the organisation directory)
        items = _list_of(schema).validate_python(rows)
    else:
        items = [schema.model_validate(r) for r in rows]
    page = Page[schema](items=items, total=total, limit=params.limit, offset=params.offset)  # type: ignore[valid-type]  # a schema class chosen at run time
    return Response(page.model_dump_json(), media_type="application/json")


@cache
def _list_of(schema: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[schema])  # type: ignore[valid-type]  # a runtime type, cached per schema
