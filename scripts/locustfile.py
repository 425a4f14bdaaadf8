"""Locust users for the load benchmark (``scripts/bench_load.py`` writes the plan and runs this).

    BENCH_PLAN=/tmp/plan.json .venv/bin/locust -f scripts/locustfile.py --headless -u 8 -r 8 \\
        -t 20s --host http://127.0.0.1:8123 --csv /tmp/dashboard-8

A plan is one scenario: one request shape, sent back to back by every user (no think time, so
``-u N`` means N requests in flight at all times). It is JSON:

    {"name": "redeem", "method": "POST", "fresh": true, "expect": 302, "expect_location": "/learner/",
     "items": [{"path": "/learner/redeem", "cookie": "<signed session>", "referer": "/learner/redeem",
                "form": {"csrf_token": "...", "code": "..."}}, ...]}

* ``fresh: false`` (pages that are read): each user takes the next item once and repeats it (a
  signed-in learner reloading their dashboard, an org admin their overview); an item without a
  cookie is an anonymous request (the catalog API, the floor).
* ``fresh: true`` (changes): every request takes the next unused item, so each code redemption is a
  fresh code used by a fresh learner and each enrollment a fresh learner's first one. When the
  items run out the user stops, with one failure named "plan exhausted": raise the pool size.

The session cookie is sent as a header and the client's cookie jar accepts nothing: a request is
exactly the browser state in its item. Only the status (and the redirect target) is checked here;
``bench_load.py`` checks in the database afterwards that each change really happened.
"""

from __future__ import annotations

import json
import os
import time
from http.cookiejar import DefaultCookiePolicy
from itertools import count
from typing import Any
from urllib.parse import urlencode, urlsplit

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

USER_AGENT = "bench-load/1.0"


def _load_plan() -> dict[str, Any]:
    path = os.environ.get("BENCH_PLAN")
    if not path:
        raise SystemExit("Set BENCH_PLAN to a plan file written by scripts/bench_load.py.")
    with open(path) as handle:
        plan: dict[str, Any] = json.load(handle)
    return plan


PLAN = _load_plan()
ITEMS: list[dict[str, Any]] = PLAN["items"]
NEXT = count()  # users are greenlets in one process: a plain counter hands out items once


class PortalUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.client.cookiejar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.item: dict[str, Any] | None = None
        if not PLAN["fresh"]:
            self.item = ITEMS[next(NEXT) % len(ITEMS)] if ITEMS else {"path": PLAN["path"]}

    def _take(self) -> dict[str, Any]:
        if self.item is not None:
            return self.item
        n = next(NEXT)
        if n >= len(ITEMS):
            self.environment.events.request.fire(
                request_type=PLAN["method"],
                name="plan exhausted",
                response_time=0,
                response_length=0,
                exception=RuntimeError(f"all {len(ITEMS)} items used"),
                context={},
                start_time=time.time(),
                url="",
            )
            raise StopUser()
        return ITEMS[n]

    @task
    def send(self) -> None:
        item = self._take()
        # As the TLS-terminating proxy sends it (gunicorn trusts it from 127.0.0.1): the app sees
        # HTTPS, as in production, so Flask-WTF also checks a POST's Referer against the host.
        headers = {"User-Agent": USER_AGENT, "X-Forwarded-Proto": "https"}
        if os.environ.get("BENCH_CLOSE") == "1":
            headers["Connection"] = "close"
        if item.get("referer"):
            headers["Referer"] = f"https://{urlsplit(self.host).netloc}{item['referer']}"
        if item.get("cookie"):
            headers["Cookie"] = f"session={item['cookie']}"
        body = None
        if item.get("form"):
            body = urlencode(item["form"])
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        with self.client.request(
            PLAN["method"],
            item.get("path", PLAN.get("path")),
            name=PLAN["name"],
            data=body,
            headers=headers,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != PLAN["expect"]:
                response.failure(f"status {response.status_code}")
            elif PLAN.get("expect_location") and not (
                response.headers.get("Location") or ""
            ).startswith(PLAN["expect_location"]):
                response.failure(f"redirected to {response.headers.get('Location')}")
            else:
                response.success()
