"""Every router of the API, in the order they appear in the OpenAPI document."""

from spe.api.routes import (
    datasets,
    egress,
    health,
    login,
    me,
    oauth,
    permits,
    projects,
    users,
)

ROUTERS = [health.router, me.router, users.router, datasets.router, permits.router,
           projects.router, egress.router, oauth.router, login.router]
