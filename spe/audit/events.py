"""What an audit event says, and the checks it must pass before it is appended.

An event names an actor (a person with the role they acted in, or a platform component), a
stable dotted action, an optional target and project, and an outcome. ``details`` is small
JSON for context; it must never carry secrets or data values, so keys that name secrets are
refused and its size is capped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from spe.crypto.canonical import canonical_json
from spe.errors import InvalidInput
from spe.messages import Message

OUTCOMES = ("success", "denied", "error")
ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_ACTION = 100
MAX_NAME = 200
MAX_DETAILS_BYTES = 4096
SECRET_WORDS = re.compile(
    r"token|secret|passw|passphrase|credential|authorization|cookie|private_?key|api_?key|"
    r"access_?key|signing_?key|session_?key|^key$|_key$|^key_|salt"
)
SAFE_SUFFIX = re.compile(r"_(id|ids|at|count|type|kind|prefix)$")
PRIVATE_KEY_VALUE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")

ActorType = Literal["user", "system", "component"]


class InvalidAuditEvent(InvalidInput, ValueError):
    """An event that may not be appended (bad action, outcome, actor or details)."""

    default_code = "audit.invalid_event"


@dataclass(frozen=True)
class Actor:
    """Who acted: a person (``user``), the platform itself (``system``) or a component
    reporting from outside the control plane (``component``, e.g. ``hub:p-1a2b``)."""

    type: ActorType
    id: str
    role: str | None = None

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > MAX_NAME:
            raise InvalidAuditEvent(Message("actor id must be 1 to {MAX_NAME} characters",
                                            MAX_NAME=MAX_NAME))
        if self.type not in ("user", "system", "component"):
            raise InvalidAuditEvent(Message("unknown actor type {type!r}", type=self.type))
        if self.role is not None and self.type != "user":
            raise InvalidAuditEvent(Message("only a user actor acts in a role"))

    @classmethod
    def user(cls, user_id: str, role: str | None = None) -> Actor:
        return cls("user", user_id, role)

    @classmethod
    def system(cls, component: str) -> Actor:
        return cls("system", component)

    @classmethod
    def component(cls, name: str) -> Actor:
        return cls("component", name)


def check_action(action: str) -> None:
    if len(action) > MAX_ACTION or not ACTION.match(action):
        raise InvalidAuditEvent(
            Message("action {action!r} is not a dotted name like 'permit.revoke'", action=action),
            code="audit.invalid_action")


def check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise InvalidAuditEvent(Message("outcome {outcome!r} is not one of {OUTCOMES}",
                                        outcome=outcome, OUTCOMES=', '.join(OUTCOMES)),
                                code="audit.invalid_outcome")


def check_field(name: str, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME):
        raise InvalidAuditEvent(Message("{name} must be a string of at most {MAX_NAME} "
                                        "characters", name=name, MAX_NAME=MAX_NAME))


def check_details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return ``details`` unchanged if acceptable; raise :class:`InvalidAuditEvent` if not."""
    if details is None:
        return None
    if not isinstance(details, dict):
        raise InvalidAuditEvent(Message("details must be a JSON object"),
                                code="audit.invalid_details")
    _check_no_secrets(details, "details")
    try:
        encoded = canonical_json(details)
    except (TypeError, ValueError) as exc:
        raise InvalidAuditEvent(Message("details are not plain JSON: {exc}", exc=exc),
                                code="audit.invalid_details") from exc
    if len(encoded) > MAX_DETAILS_BYTES:
        raise InvalidAuditEvent(
            Message("details are {n_encoded} bytes; the limit is {MAX_DETAILS_BYTES}",
                    n_encoded=len(encoded), MAX_DETAILS_BYTES=MAX_DETAILS_BYTES),
            code="audit.details_too_large")
    return details


def looks_secret(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return bool(SECRET_WORDS.search(lowered)) and not SAFE_SUFFIX.search(lowered)


def _check_no_secrets(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise InvalidAuditEvent(Message("{where} has a non-string key {key!r}",
                                                where=where, key=key),
                                        code="audit.invalid_details")
            if looks_secret(key):
                raise InvalidAuditEvent(
                    Message("{where}.{key} looks like a secret; audit details must never "
                            "hold one", where=where, key=key),
                    code="audit.secret_in_details")
            _check_no_secrets(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _check_no_secrets(inner, f"{where}[{i}]")
    elif isinstance(value, str) and PRIVATE_KEY_VALUE.search(value):
        raise InvalidAuditEvent(Message("{where} holds private key material", where=where),
                                code="audit.secret_in_details")
