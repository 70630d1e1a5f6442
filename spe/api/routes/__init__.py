"""Every router of the API, in the order they appear in the OpenAPI document."""

from spe.api.routes import (
    audit,
    datasets,
    egress,
    extracts,
    health,
    login,
    me,
    oauth,
    permits,
    projects,
    usage,
    users,
)

ROUTERS = [health.router, me.router, users.router, datasets.router, permits.router,
           projects.router, egress.router, audit.router, oauth.router, login.router,
           extracts.router, usage.router]
