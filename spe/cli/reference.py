"""``spe config reference``: the configuration reference (docs/configuration.md), generated
from the declarations so the docs cannot drift from the code."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from spe.auth.oidc.config import OidcConfig
from spe.settings import Settings


def reference_markdown() -> str:
    """The configuration reference, generated from the declarations: the platform's settings,
    then the OpenID provider's (``SPE_OIDC_*``)."""
    lines, seen = [], set()
    for title, model, prefix in (("Platform", Settings, "SPE_"),
                                 ("OpenID provider (when `SPE_OIDC_ISSUER` is set)",
                                  OidcConfig, "SPE_OIDC_")):
        lines += [f"### {title}", "", "| variable | default | description |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            variable = f"{prefix}{name.upper()}"
            if variable in seen:  # SPE_OIDC_ISSUER: a platform setting, read by both
                continue
            seen.add(variable)
            derived = bool(field.default_factory_takes_validated_data)
            default = field.default if field.default_factory is None or derived \
                else field.default_factory()
            if derived:
                shown = "(derived)"
            elif default is PydanticUndefined:
                shown = "(required)"
            elif isinstance(default, SecretStr):
                shown = ""
            else:
                shown = "" if default is None else f"`{default}`"
            description = (field.description or "").replace("\n", " ")
            lines.append(f"| `{variable}` | {shown} | {description} |")
        lines.append("")
    return "\n".join(lines)
