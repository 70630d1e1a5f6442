"""Every state-changing route runs the one way: its work inside ``spe.api.changes.run``.

The routes come from the application itself (API and console), so a new POST, PUT, PATCH or
DELETE route whose handler changes state outside :func:`spe.api.changes.run` fails here;
``tests/api/test_audit_coverage.py`` then checks each one audits its success, and
``tests/api/test_refusals_audited.py`` that refusals leave their events.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types

import pytest
from fastapi.routing import iter_route_contexts

from spe.api import changes
from spe.web import create_app

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _resolve(node: ast.expr, names: dict):
    """The object a name or ``module.attr`` expression of a function refers to, if known."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return getattr(names.get(node.value.id), node.attr, None)
    return None


def runs_the_one_way(func: types.FunctionType, depth: int = 2) -> bool:
    """Whether ``func``, or a function it calls (``depth`` calls deep), does its work in a
    ``with changes.run(...)`` block."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    names = {**func.__globals__, **inspect.getclosurevars(func).nonlocals}
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
                isinstance(item.context_expr, ast.Call)
                and _resolve(item.context_expr.func, names) is changes.run
                for item in node.items):
            return True
    if depth == 0:
        return False
    called = {_resolve(n.func, names) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return any(isinstance(c, types.FunctionType) and c is not func
               and runs_the_one_way(c, depth - 1) for c in called)


def test_every_state_changing_route_runs_the_one_way(settings, engine):
    app = create_app(settings, engine)
    routes = [c.route for c in iter_route_contexts(app.routes)
              if hasattr(c.route, "dependant") and c.route.methods & CHANGING]
    assert len(routes) > 40  # the API's and the console's
    astray = sorted(f"{sorted(r.methods & CHANGING)[0]} {r.path}" for r in routes
                    if not runs_the_one_way(r.endpoint))
    assert astray == [], "state-changing routes outside spe.api.changes.run"


# -- the test itself tells a route that goes astray -----------------------------------------

def _astray(session, principal):
    session.commit()  # a change committed without the one way


def _helper(session, principal):
    with changes.run(session, principal, "x.y", "x"):
        pass


def _through_a_helper(session, principal):
    _helper(session, principal)


def _in_one_way(session, principal):
    with changes.run(session, principal, "x.y", "x"):
        session.add(object())


@pytest.mark.parametrize(("func", "expected"), [
    (_astray, False), (_in_one_way, True), (_through_a_helper, True)])
def test_the_check_tells_them_apart(func, expected):
    assert runs_the_one_way(func) is expected
