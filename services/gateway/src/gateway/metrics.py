"""The gateway's HTTP metrics: every request counted and timed by its route's template."""

from __future__ import annotations

from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import Scope

__all__ = ["UNMATCHED", "route_template"]

UNMATCHED = "unmatched"
"""The route label of a request no route answers (a 404 for a path we do not serve)."""


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/instances/{instance_id}``), never the path
    that was asked for: ids and whatever else a client puts in a path stay out of the labels."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    # Answered before routing (a refused body, a cross-site post) or by a plain route: the
    # route that would have answered (one that takes the path with another method, else none).
    found = UNMATCHED
    for route in iter_route_contexts(getattr(scope.get("app"), "routes", ())):
        match, _ = route.matches(scope)
        if match is Match.FULL and route.path is not None:
            return route.path
        if match is Match.PARTIAL and route.path is not None and found == UNMATCHED:
            found = route.path
    return found
