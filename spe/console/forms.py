"""Reading the console's forms into the API's own request models, so a form is checked by
exactly the rules the API applies, and a mistake is a 422 page naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from spe.console.i18n import problem
from spe.domain.permits import PermittedDataset
from spe.errors import InvalidInput
from spe.messages import Message

M = TypeVar("M", bound=BaseModel)


def lines(text: str) -> list[str]:
    """One item a line, blank lines and surrounding spaces dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def datasets(text: str) -> list[PermittedDataset]:
    """``dataset: variable, variable`` a line."""
    found = []
    for line in lines(text):
        name, colon, variables = line.partition(":")
        if not colon:
            raise InvalidInput(Message("datasets: write {line!r} as 'dataset: variable, "
                                       "variable'", line=line),
                               code="form.invalid")
        found.append({"dataset": name.strip(),
                      "variables": [v.strip() for v in variables.split(",") if v.strip()]})
    return [checked(PermittedDataset, d) for d in found]


def day(text: str, field: str, *, end: bool = False) -> datetime:
    """A date field (YYYY-MM-DD) as a UTC instant: its first second, or its last."""
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(Message("{field}: give a date as YYYY-MM-DD", field=field),
                           code="form.invalid") from None
    return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)


def checked(model: type[M], data: dict) -> M:
    """``model`` validated from ``data``; the first problem as a clear 422."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(problems(exc, "form", first_only=True), code="form.invalid"
                           ) from None


def problems(exc: ValidationError, what: str, *, first_only: bool = False) -> Message:
    """``field: problem`` for each of pydantic's errors (``what`` when it names no field)."""
    errors = exc.errors()[:1] if first_only else exc.errors()
    return Message.listing([Message("{field}: {problem}", problem=problem(e),
                                    field=".".join(str(p) for p in e.get("loc", ())) or what)
                            for e in errors], "; ")
