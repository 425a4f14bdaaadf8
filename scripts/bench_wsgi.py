"""WSGI entry point for the load benchmark: the portal plus one "floor" route (not product code).

    gunicorn --chdir /work/main 'scripts.bench_wsgi:build_app()'    # with the portal's environment set

``build_app()`` makes the portal with ``create_app()`` from the environment, exactly as ``wsgi.py``
does, then adds ``GET /_bench/floor``: one indexed ``SELECT id FROM organizations WHERE key = :k``
(the unique index on ``organizations.key``) through ``db.session``, answered with a few bytes of
JSON. The route goes through everything a page goes through (gunicorn, Flask's routing and session
handling, the deny-by-default hook, the security headers, the connection pool, the transaction
that ends with the request), so its throughput is the ceiling a real page is compared against by
``scripts/bench_load.py``.

The portal denies every endpoint to signed-out visitors unless it is on the allowlist in
``portal.core.access``. The floor is made public the way ``core.healthz`` is: its endpoint name is
added to ``PUBLIC_ENDPOINTS`` in this process only (the portal's files are unchanged), so it is an
anonymous request like the catalog API, with no session to load.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text
from werkzeug.wrappers import Response

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FLOOR_PATH = "/_bench/floor"
FLOOR_ENDPOINT = "bench_floor"
FLOOR_QUERY = text("SELECT id FROM organizations WHERE key = :k")


def build_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The portal (settings from the environment, ``config`` overriding them) with the floor route."""
    from portal import create_app
    from portal.core.access import PUBLIC_ENDPOINTS
    from portal.extensions import db

    app = create_app(config)
    key = os.environ.get("BENCH_FLOOR_KEY", "BENCH")

    def floor() -> Response:
        return jsonify(id=db.session.execute(FLOOR_QUERY, {"k": key}).scalar())

    app.add_url_rule(FLOOR_PATH, endpoint=FLOOR_ENDPOINT, view_func=floor, methods=["GET"])
    PUBLIC_ENDPOINTS.add(FLOOR_ENDPOINT)
    return app
