"""Where a browser may be sent after signing in: only back into spe itself."""

from urllib.parse import urlsplit


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a same-origin relative path, else ``None`` (no open redirect:
    absolute URLs, scheme-relative ``//host``, backslash tricks and control characters are
    refused). An empty value means the home page."""
    if not value:
        return "/"
    parts = urlsplit(value)
    if (not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
            or parts.scheme or parts.netloc):
        return None
    return value
