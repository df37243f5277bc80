"""Whatever the app does to logging, before or after ``FlaskGuard(app)``, each error's id
is in exactly one log record, at its documented level, with the request id."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
from pathlib import Path

import pytest
from flask import Flask

from flask_guard import FlaskGuard

from .catalog import (
    Collect,
    add_error_routes,
    answer_every_error,
    assert_each_id_in_one_line,
    assert_each_id_in_one_record,
    bare_root,
    guarded_app,
    new_app,
)

FORMAT = "%(levelname)s %(name)s [%(request_id)s] %(message)s"

# As Alembic generates it (root at WARN), with a handler the test reads.
ALEMBIC_INI = """
[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = collect

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = collect
qualname =

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_collect]
class = tests.logs.catalog.Collect
args = ()
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] [%(request_id)s] %(message)s
"""


def dict_config(**options: object) -> dict[str, object]:
    return {
        "version": 1,
        "formatters": {"plain": {"format": FORMAT}},
        "handlers": {"collect": {"class": "tests.logs.catalog.Collect", "formatter": "plain"}},
        "root": {"handlers": ["collect"], "level": "INFO"},
        **options,
    }


def guard_warnings() -> list[str]:
    return [
        record.getMessage()
        for record, _ in Collect.seen
        if record.name.startswith("flask_guard")
        and record.levelno == logging.WARNING
        and "error id" not in record.getMessage()
    ]


def test_an_app_factory_running_file_config_from_an_ini_file_loses_no_error_id(
    tmp_path: Path,
) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(ALEMBIC_INI)
    bare_root()
    guard = FlaskGuard()
    name = new_app().name

    def create_app() -> Flask:
        app = Flask(name)
        app.config["PROPAGATE_EXCEPTIONS"] = False
        guard.init_app(app)
        add_error_routes(app)
        logging.config.fileConfig(ini)  # as Alembic's env.py does on every create_app
        return app

    first = answer_every_error(create_app())
    # The second call turns off the logger of the app the first call made, as a test
    # suite calling the factory for each test does.
    second = answer_every_error(create_app())
    assert_each_id_in_one_record(first + second, Collect.seen)
    ours, apps = guard_warnings()
    assert "disable_existing_loggers=False" in ours
    assert f"The app's logger '{name}' is turned off" in apps
    assert logging.getLogger("flask_guard.handlers").disabled is False


def test_dict_config_run_after_the_guard_loses_no_error_id() -> None:
    app = guarded_app()
    logging.config.dictConfig(dict_config())
    answers = answer_every_error(app)
    assert_each_id_in_one_record(answers, Collect.seen)
    (warning,) = guard_warnings()
    assert "flask_guard.handlers" in warning
    assert "fileConfig() and dictConfig()" in warning


def test_dict_config_keeping_existing_loggers_needs_no_warning() -> None:
    app = guarded_app()
    logging.config.dictConfig(dict_config(disable_existing_loggers=False))
    assert_each_id_in_one_record(answer_every_error(app), Collect.seen)
    assert guard_warnings() == []


def test_dict_config_run_before_the_guard_loses_no_error_id() -> None:
    logging.config.dictConfig(dict_config())  # flask_guard was imported before it ran
    app = guarded_app()
    assert_each_id_in_one_record(answer_every_error(app), Collect.seen)


def test_basic_config_at_its_default_level_keeps_the_4xx_lines() -> None:
    app = guarded_app()
    bare_root()
    logging.basicConfig(format=FORMAT)  # root at WARNING; the guard's INFO lines still count
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    answers = answer_every_error(app)
    lines = stream.getvalue().splitlines()
    assert_each_id_in_one_line(answers, lines, lambda line: logging.getLevelName(line.split()[0]))


def test_root_handlers_replaced_after_the_guard_lose_no_error_id() -> None:
    app = guarded_app()
    root = bare_root()
    root.addHandler(logging.StreamHandler(io.StringIO()))
    root.handlers = [Collect()]
    root.setLevel(logging.INFO)
    assert_each_id_in_one_record(answer_every_error(app), Collect.seen)


def test_app_logger_handlers_cleared_lose_no_error_id() -> None:
    root = bare_root()
    root.addHandler(Collect())
    app = guarded_app()
    app.logger.handlers.clear()
    assert_each_id_in_one_record(answer_every_error(app), Collect.seen)


def test_flask_default_handler_is_not_added_by_the_guard_behind_the_app_s_back() -> None:
    bare_root()
    app = guarded_app()
    logging.basicConfig(level=logging.INFO)  # after the guard: app.logger is made later
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    answers = answer_every_error(app)
    (crash,) = [answer for answer in answers if answer.path == "/crash"]
    assert stream.getvalue().count(f"error id {crash.error_id}") == 1
    assert app.logger.handlers == []  # Flask's own stderr handler would write it twice


def test_an_app_logger_turned_off_by_the_config_gets_its_crash_written_by_the_guard() -> None:
    app = guarded_app()
    app.logger.info("starting")  # makes app.logger before the config turns it off
    logging.config.dictConfig(dict_config())
    answers = answer_every_error(app)
    assert_each_id_in_one_record(answers, Collect.seen)
    (crash,) = [answer for answer in answers if answer.path == "/crash"]
    ((record, _),) = [(r, t) for r, t in Collect.seen if crash.error_id in t]
    assert record.name == "flask_guard.handlers"
    assert record.exc_info is not None
    warnings = guard_warnings()
    assert len(warnings) == 2  # the guard's loggers, and the app's
    assert f"The app's logger '{app.name}' is turned off" in warnings[1]


def test_the_warning_about_turned_off_loggers_is_written_once() -> None:
    app = guarded_app()
    for _ in range(3):
        logging.config.dictConfig(dict_config())
        answer_every_error(app)
    ours, apps = guard_warnings()  # the second config turned off the app's logger too
    assert ours.startswith("A logging configuration turned off flask-guard's loggers")
    assert apps.startswith(f"The app's logger '{app.name}' is turned off")


def test_every_record_of_a_request_carries_its_request_id() -> None:
    app = guarded_app()
    logging.config.dictConfig(dict_config())
    response = app.test_client().get("/chatty", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 409
    mine = [record for record, _ in Collect.seen if record.name != "flask_guard.handlers"]
    assert {record.name for record in mine} == {app.name, f"{app.name}.orders"}
    assert {record.__dict__["request_id"] for record, _ in Collect.seen} == {"req-42"}
    assert not any("error_id" in record.__dict__ for record in mine)


def test_a_request_id_passed_through_extra_is_kept() -> None:
    app = guarded_app()
    logging.config.dictConfig(dict_config())

    @app.get("/mine")
    def mine() -> str:
        app.logger.info("mine", extra={"request_id": "my-own"})
        return "ok"

    assert app.test_client().get("/mine").status_code == 200
    ((record, text),) = Collect.seen
    assert record.__dict__["request_id"] == "my-own"
    assert "[my-own]" in text


def test_records_outside_a_request_carry_a_dash() -> None:
    app = guarded_app()
    logging.config.dictConfig(dict_config())
    app.logger.warning("starting")
    ((_, text),) = Collect.seen
    assert text == f"WARNING {app.name} [-] starting"


def test_json_lines_after_a_dict_config_still_carry_both_ids() -> None:
    app = guarded_app()
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "formatters": {"json": {"()": "flask_guard.logs.JsonFormatter"}},
            "handlers": {
                "out": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream}
            },
            "root": {"handlers": ["out"], "level": "INFO"},
        }
    )
    answers = answer_every_error(app)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for answer in answers:
        (line,) = [line for line in lines if line.get("error_id") == answer.error_id]
        assert line["request_id"] == answer.request_id
        assert logging.getLevelName(line["level"]) == answer.level
    assert_each_id_in_one_line(
        answers,
        stream.getvalue().splitlines(),
        lambda line: logging.getLevelName(json.loads(line)["level"]),
    )


def test_an_app_that_never_set_up_logging_gets_every_error_id_on_its_error_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare_root()
    app = guarded_app()
    stream = io.StringIO()
    answers = answer_every_error(app, errors_stream=stream)
    # Outside Flask's request context (a teardown function raising) it is stderr.
    lines = stream.getvalue().splitlines() + capsys.readouterr().err.splitlines()

    def level_of(line: str) -> int:
        level: int = logging.getLevelName(re.findall(r"\] (\w+) in ", line)[0])
        return level

    assert_each_id_in_one_line(answers, lines, level_of)


def test_the_guard_s_last_resort_stays_silent_once_the_app_has_a_handler() -> None:
    app = guarded_app()
    logging.config.dictConfig(dict_config(disable_existing_loggers=False))
    stream = io.StringIO()
    answers = answer_every_error(app, errors_stream=stream)
    assert_each_id_in_one_record(answers, Collect.seen)
    assert stream.getvalue() == ""


def test_a_level_the_app_sets_on_the_guard_s_logger_decides() -> None:
    app = guarded_app()
    logging.config.dictConfig(
        dict_config(disable_existing_loggers=False, loggers={"flask_guard": {"level": "WARNING"}})
    )
    answers = answer_every_error(app)
    quiet = [answer for answer in answers if answer.level < logging.WARNING]
    assert quiet
    assert not any(answer.error_id in text for answer in quiet for _, text in Collect.seen)
    loud = [answer for answer in answers if answer.level >= logging.WARNING]
    assert_each_id_in_one_record(loud, Collect.seen)


def test_records_of_an_async_view_carry_the_request_id() -> None:
    app = guarded_app()
    logging.config.dictConfig(dict_config(disable_existing_loggers=False))

    @app.get("/async")
    async def in_a_loop() -> str:
        app.logger.info("inside the event loop")
        return "ok"

    assert app.test_client().get("/async", headers={"X-Request-ID": "req-async"}).data == b"ok"
    ((record, text),) = Collect.seen
    assert record.__dict__["request_id"] == "req-async"
    assert "[req-async]" in text
