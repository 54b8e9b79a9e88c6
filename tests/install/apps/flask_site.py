"""A Flask app without Flask-Migrate (or Alembic) behind the gate (extra ``flask``)."""

from __future__ import annotations

from flask import Flask

from gatekeeper.contrib.flask import Gatekeeper

app = Flask(__name__)
Gatekeeper(app)  # GATEKEEPER_* from the environment; adds `flask gatekeeper`


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/")
def index() -> str:
    return "hello from flask"
