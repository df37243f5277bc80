"""Events carry the source lines around each frame, read once per file and again when the
file changes."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import sentry_sdk

from flask_guard import FlaskGuard
from flask_guard.testing import SentryIngest

from ..conftest import error_of, make_app

VIEWS = """\
    # views of a shop, version {version}
    def fail(order_id):
        total = order_id * 2
        raise RuntimeError("checkout failed")
"""


def _load(path: Path, version: int) -> ModuleType:
    path.write_text(textwrap.dedent(VIEWS.format(version=version)))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + version * 1_000_000_000))
    spec = importlib.util.spec_from_file_location(f"shop_views_{version}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _frame_of(ingest: SentryIngest, app: Any, path: Path) -> dict[str, Any]:
    error_id = error_of(app.test_client().get("/checkout/3"))["id"]
    sentry_sdk.flush(timeout=5)
    event = ingest.wait_for(str(error_id))
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    found: list[dict[str, Any]] = [f for f in frames if f.get("abs_path") == str(path)]
    (frame,) = found
    return frame


def test_frames_carry_the_lines_around_them_and_new_lines_after_an_edit(
    sentry_ingest: SentryIngest, tmp_path: Path
) -> None:
    path = tmp_path / "shop_views.py"
    views = _load(path, 1)
    app = make_app(SENTRY_DSN=sentry_ingest.dsn)
    FlaskGuard(app)
    app.add_url_rule("/checkout/<int:order_id>", view_func=lambda order_id: views.fail(order_id))

    frame = _frame_of(sentry_ingest, app, path)
    assert frame["context_line"] == '    raise RuntimeError("checkout failed")'
    assert frame["pre_context"] == [
        "# views of a shop, version 1",
        "def fail(order_id):",
        "    total = order_id * 2",
    ]
    assert frame["post_context"] == []

    views = _load(path, 2)
    frame = _frame_of(sentry_ingest, app, path)
    assert frame["pre_context"][0] == "# views of a shop, version 2"
    sys.modules.pop("shop_views_1", None)
