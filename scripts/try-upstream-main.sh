#!/usr/bin/env bash
# Run the whole suite, the demo walk included, on Flask's and werkzeug's development branches.
#
#   scripts/try-upstream-main.sh FLASK_CHECKOUT WERKZEUG_CHECKOUT [VENV]
#
# or set FLASK_SRC, WERKZEUG_SRC (and GUARD_UPSTREAM_VENV). The checkouts are local clones of
# pallets/flask and pallets/werkzeug at the commit to try (main before a release). The venv
# (default: a new temporary one) gets werkzeug, then Flask, from those checkouts, then this
# package with its test extras; the other dependencies are the newest pyproject.toml allows.
# Run it before each Flask or werkzeug release; the closing lines print the commits and
# counts. Redis must run as for the suite (GUARD_TEST_REDIS, default db 15 on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

flask_src="${1:-${FLASK_SRC:-}}"
werkzeug_src="${2:-${WERKZEUG_SRC:-}}"
logs="$(mktemp -d)"
venv="${3:-${GUARD_UPSTREAM_VENV:-$logs/venv}}"
if [[ -z "$flask_src" || -z "$werkzeug_src" ]]; then
    echo "usage: $0 FLASK_CHECKOUT WERKZEUG_CHECKOUT [VENV] (or FLASK_SRC, WERKZEUG_SRC)" >&2
    exit 2
fi
for src in "$flask_src" "$werkzeug_src"; do
    if [[ ! -f "$src/pyproject.toml" ]]; then
        echo "$src is not a checkout of a Python project (no pyproject.toml)" >&2
        exit 2
    fi
done

commit_of() {
    git -C "$1" rev-parse --short=12 HEAD 2>/dev/null || echo "unknown commit (not a git checkout)"
}

python3.11 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$werkzeug_src" "$flask_src"
"$venv/bin/python" -m pip install --quiet -e '.[test]'
versions="$("$venv/bin/python" -c 'from importlib.metadata import version
print(", ".join(f"{name} {version(name)}" for name in ("flask", "werkzeug", "sentry-sdk")))')"

export GUARD_REQUIRE_REDIS="${GUARD_REQUIRE_REDIS:-1}"
export GUARD_TEST_REDIS="${GUARD_TEST_REDIS:-redis://127.0.0.1:6379/15}"

echo "== importing every module of flask_guard with every warning an error"
"$venv/bin/python" -W error -c 'import importlib, pkgutil, flask_guard
for module in pkgutil.walk_packages(flask_guard.__path__, "flask_guard."):
    importlib.import_module(module.name)'

# Third-party test dependencies (apiflask, apifairy) still import werkzeug names that the
# development branch deprecates; our own modules were checked above with warnings as errors.
filters=(-W "ignore:The 'HTTP_STATUS_CODES' data is deprecated:DeprecationWarning")

echo "== the whole suite"
suite_status=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider "${filters[@]}" | tee "$logs/suite.log" \
    || suite_status=$?

echo "== the demo walk (tests/test_sample_app.py)"
demo_status=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider "${filters[@]}" tests/test_sample_app.py \
    | tee "$logs/demo.log" || demo_status=$?

echo "== tried: $versions"
echo "   flask at $(commit_of "$flask_src"), werkzeug at $(commit_of "$werkzeug_src")"
echo "   suite: $(tail -n 1 "$logs/suite.log")"
echo "   demo walk: $(tail -n 1 "$logs/demo.log")"
exit $((suite_status || demo_status))
