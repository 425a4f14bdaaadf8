"""Signing in and out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import logout_user
from werkzeug.wrappers import Response

from portal.core.access import safe_next

bp = Blueprint("auth", __name__)


@bp.get("/login")
def login() -> str:
    """Sign-in page. The OpenID Connect flow through Keycloak arrives with the sign-in issue; until
    then this page says so plainly instead of pretending."""
    return render_template("auth/login.html", next=safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("core.home"))
