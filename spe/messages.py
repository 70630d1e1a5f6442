"""Messages for people, in English, that another language can be given later.

A :class:`Message` is the English message (it *is* a ``str``: logs, the API's JSON, the command
line read it as before) and keeps the template it was made from and the parameters put in
it. The template is the key a translation is looked up by (gettext's ``msgid``), and the
parameters are put in the translation the same way (``str.format``). So the layers below the
console say what happened in English only, and the console (the one place that knows the
reader's language) says it in theirs. ``Message("...")`` is also the marker the console's
message extraction looks for: a template must be a string literal, never an f-string.

A record stored as JSON keeps a message as :meth:`Message.as_json` (``template``, ``params``);
:func:`from_json` makes the ``Message`` again.
"""

from __future__ import annotations

from typing import Any


class Message(str):
    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Message:
        made = super().__new__(cls, template.format(**params))
        made.template = template
        made.params = params
        return made

    @classmethod
    def listing(cls, items, separator: str = ", ") -> Message:
        """Words (each a :class:`Message`, so each is translated) joined by ``separator``."""
        words = [i if isinstance(i, Message) else cls(str(i)) for i in items]
        template = separator.replace("{", "{{").replace("}", "}}").join(
            f"{{w{n}}}" for n in range(len(words)))
        return cls(template, **{f"w{n}": w for n, w in enumerate(words)})

    def __reduce__(self):  # pickled (e.g. by a process pool) as a Message, not a str
        return _rebuild, (self.template, self.params)

    def as_json(self) -> dict[str, Any]:
        """The template and the parameters, nested messages as their own JSON."""
        return {"template": self.template,
                "params": {k: v.as_json() if isinstance(v, Message) else _plain(v)
                           for k, v in self.params.items()}}


def _rebuild(template: str, params: dict[str, Any]) -> Message:
    return Message(template, **params)


def _plain(value: Any) -> Any:
    if getattr(value, "shape", None) == () and callable(getattr(value, "item", None)):
        value = value.item()  # a numpy number: the Python number, formats and all
    if isinstance(value, str | int | float | bool) or value is None:
        return value.value if hasattr(value, "value") and isinstance(value, str) else value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def from_json(data: Any) -> Message | None:
    """The :class:`Message` of :meth:`Message.as_json`'s form, or None for anything else."""
    if not isinstance(data, dict) or not isinstance(data.get("template"), str):
        return None
    params = data.get("params") or {}
    if not isinstance(params, dict):
        return None
    try:
        return Message(data["template"], **{k: from_json(v) or v for k, v in params.items()})
    except (KeyError, IndexError, ValueError, TypeError):
        return None
