"""Routes the guard adds (health, metrics): never in the app's way, never in its API docs."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Blueprint, Flask
from flask.typing import ResponseReturnValue
from werkzeug.routing import BaseConverter, Map

_CONVERTER = "flask_guard_segment"


class _OwnSegment(BaseConverter):
    """Match exactly one given path segment, after every rule of the app.

    Werkzeug tries static segments before converters, and converters by weight, so a rule
    of the app for the same path, static or dynamic (``/<slug>``, ``/<path:p>``), wins
    whether it was registered before the guard's or after.
    """

    weight = 10_000

    def __init__(self, map: Map, segment: str) -> None:
        super().__init__(map)
        self.regex = re.escape(segment)


def add_guard_route(
    app: Flask, name: str, path: str, view: Callable[[], ResponseReturnValue], methods: list[str]
) -> None:
    """Serve ``view`` at ``path`` as the endpoint ``flask_guard_<name>.<name>``, unless the
    app routes that path itself.

    The route lives on a plain blueprint of its own: apiflask documents only its own
    ``APIBlueprint``\\ s, flask-smorest only the blueprints registered with its ``Api``, and
    apifairy only views it decorated, so none of them lists it.
    """
    app.url_map.converters.setdefault(_CONVERTER, _OwnSegment)
    head, _, last = path.rstrip("/").rpartition("/")
    blueprint = Blueprint(f"flask_guard_{name}", __name__)
    if last:
        trailing = "/" if path.endswith("/") else ""
        rule = f"{head}/<{_CONVERTER}({last!r}):segment>{trailing}"
        blueprint.add_url_rule(
            rule,
            endpoint=name,
            view_func=_ignoring_segment(view),
            methods=methods,
            defaults={"segment": last},  # so url_for needs no argument
        )
    else:
        blueprint.add_url_rule(path, endpoint=name, view_func=view, methods=methods)
    app.register_blueprint(blueprint)


def _ignoring_segment(
    view: Callable[[], ResponseReturnValue],
) -> Callable[..., ResponseReturnValue]:
    def routed(segment: str) -> ResponseReturnValue:
        return view()

    routed.__name__ = routed.__qualname__ = getattr(view, "__name__", "view")
    routed.__doc__ = view.__doc__
    return routed
