"""Human durations on the command line: ``90s``, ``30m``, ``8h``, ``7d``."""

import re
from datetime import timedelta

import typer

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 30m, 8h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
