"""The console's routes: one router, every route declaring who may call it (as the API's).

Pages are in the OpenAPI document under the tag ``console`` so that the route access table
(``tests/api/test_route_roles.py``) covers them like every other route.
"""

from fastapi import APIRouter, Depends

from spe.console.routes import (
    admin,
    auditor,
    budgets,
    checker,
    docs,
    home,
    permits,
    researcher,
    steward,
)
from spe.console.web import form_csrf

router = APIRouter(tags=["console"], dependencies=[Depends(form_csrf)])
for module in (home, checker, researcher, auditor, permits, budgets, steward, admin, docs):
    router.include_router(module.router)
