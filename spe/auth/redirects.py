"""Where a browser may be sent after signing in: only back into spe itself."""

from urllib.parse import urlsplit


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a same-origin relative path, else ``default`` (no open redirect:
    absolute URLs, scheme-relative ``//host``, backslash tricks and control characters are
    refused)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 0x20 or c == "\\" for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
