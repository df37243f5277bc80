"""The shapes of Flask the guard relies on: the error handler lookup (private) and the two
methods of its error handling that the guarded app class extends."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from flask import Blueprint, Flask, Response
from werkzeug.exceptions import InternalServerError, NotFound

from flask_guard import FlaskGuard
from flask_guard.compat.flask import error_handler_for
from flask_guard.web.flask_hooks import HOOKS_KEY, hook_errors
from tests.compat.shapes import changed


class Recorder:
    """Hooks that write down what the guarded class passes them."""

    def __init__(self) -> None:
        self.noted: list[Exception] = []
        self.unexpected_errors: list[Exception] = []

    def note(self, error: Exception) -> None:
        self.noted.append(error)

    def unexpected(self, error: Exception) -> None:
        self.unexpected_errors.append(error)


def shop_app() -> Flask:
    app = Flask(__name__)
    shop = Blueprint("shop", __name__)

    @shop.errorhandler(500)
    def shop_failed(error: Exception) -> tuple[str, int]:
        return "shop", 500

    @shop.get("/")
    def index() -> str:
        return "shop"

    app.register_blueprint(shop, url_prefix="/shop")
    return app


def test_flask_finds_the_handler_it_would_call_for_a_blueprint() -> None:
    app = shop_app()
    message = changed("flask", "Flask._find_error_handler(e, blueprints)", "answers as before")
    parameters = list(inspect.signature(Flask._find_error_handler).parameters)
    assert parameters == ["self", "e", "blueprints"], message
    handler = error_handler_for(app, InternalServerError(), ["shop"])
    assert handler is not None, message
    assert handler.__name__ == "shop_failed", message
    assert error_handler_for(app, InternalServerError()) is None, message
    assert error_handler_for(app, NotFound(), ["shop"]) is None, message


def test_flask_finds_an_exception_handler_the_app_registered_before_the_guard() -> None:
    app = Flask(__name__)

    @app.errorhandler(Exception)
    def everything(error: Exception) -> tuple[str, int]:
        return "app", 500

    found = error_handler_for(app, Exception())
    assert found is everything, changed(
        "flask", "Flask._find_error_handler(e, blueprints)", "finds app-level handlers"
    )


def test_flask_calls_the_hooked_methods_with_each_exception_it_handles() -> None:
    app = Flask(__name__)
    hooks = Recorder()
    hook_errors(app, hooks)
    crash = RuntimeError("view failed")
    missing = NotFound()

    @app.get("/crash")
    def crash_view() -> str:
        raise crash

    @app.get("/missing")
    def missing_view() -> str:
        raise missing

    client = app.test_client()
    assert client.get("/missing").status_code == 404
    assert client.get("/crash").status_code == 500
    assert hooks.noted == [missing, crash], changed(
        "flask", "Flask.handle_user_exception", "sees every exception a request raises"
    )
    assert hooks.unexpected_errors == [crash], changed(
        "flask", "Flask.handle_exception", "sees every exception no handler took"
    )


def test_the_guarded_app_keeps_its_class_name_methods_and_instance_attributes() -> None:
    class ShopApp(Flask):
        def make_response(self, rv: Any) -> Response:
            response = super().make_response(rv)
            response.headers["X-Shop"] = "1"
            return response

    app = ShopApp(__name__)
    FlaskGuard(app)

    @app.get("/")
    def index() -> str:
        return "ok"

    assert isinstance(app, ShopApp)
    assert type(app).__name__ == "ShopApp"
    assert repr(app) == "<ShopApp 'tests.compat.test_flask'>"
    assert app.test_client().get("/").headers["X-Shop"] == "1"
    assert "handle_exception" not in vars(app)
    assert "handle_user_exception" not in vars(app)
    assert HOOKS_KEY in app.extensions


def test_one_class_is_made_per_app_class_however_many_apps() -> None:
    apps = [Flask(__name__) for _ in range(3)]
    for app in apps:
        hook_errors(app, Recorder())
    assert len({type(app) for app in apps}) == 1
    hook_errors(apps[0], Recorder())  # again: the class is not subclassed twice
    assert type(apps[0]).__mro__[1] is Flask


@pytest.mark.parametrize("propagate", [False, True])
def test_an_app_without_hooks_behaves_as_flask(propagate: bool) -> None:
    app = Flask(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = propagate
    hook_errors(app, Recorder())
    del app.extensions[HOOKS_KEY]

    @app.get("/")
    def index() -> str:
        raise RuntimeError("boom")

    if propagate:
        with pytest.raises(RuntimeError):
            app.test_client().get("/")
    else:
        assert app.test_client().get("/").status_code == 500


class LedgerError(Exception):
    pass


@pytest.mark.parametrize(
    ("raised", "logged"),
    [
        (
            ExceptionGroup("request", [ExceptionGroup("ctx", [LedgerError("rollback")])]),
            "LedgerError",
        ),
        (ExceptionGroup("request", [LedgerError("a"), LedgerError("b")]), "ExceptionGroup"),
    ],
)
def test_a_teardown_group_of_one_error_is_logged_as_that_error(
    caplog: pytest.LogCaptureFixture, raised: ExceptionGroup[Exception], logged: str
) -> None:
    # Flask 3.2 wraps teardown errors in groups like the first; earlier releases do not.
    app = Flask(__name__)
    FlaskGuard(app)

    @app.get("/ok")
    def ok() -> str:
        return "ok"

    @app.teardown_request
    def close_session(error: BaseException | None) -> None:
        raise raised

    with caplog.at_level("ERROR", logger="flask_guard.handlers"):
        assert app.test_client().get("/ok").status_code == 500
    [line] = [r.getMessage() for r in caplog.records if r.name == "flask_guard.handlers"]
    assert f"answered 500 INTERNAL_SERVER_ERROR: {logged}" in line
