"""A login for the --web-login test: Locust leaves the user store to the locustfile (a plugin in real use).

Loaded beside the chatbench locustfile (``-f bench/load/locustfile.py,tests/live/auth_locustfile.py``).
``/test-login`` logs the caller in as ``tester``; every other page needs that login.
"""

from __future__ import annotations

from typing import Any

from flask_login import UserMixin, login_user
from locust import events


class Tester(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


@events.init.add_listener
def _auth(environment: Any, **_kw: Any) -> None:
    web_ui = environment.web_ui
    if web_ui is None:
        return
    web_ui.app.secret_key = "chatbench-test-only"
    web_ui.login_manager.user_loader(lambda user_id: Tester(user_id) if user_id == "tester" else None)

    @web_ui.app.route("/test-login")
    def test_login() -> str:
        login_user(Tester("tester"))
        return "ok"
