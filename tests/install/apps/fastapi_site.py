"""A FastAPI app behind the gate (extra ``fastapi`` + uvicorn)."""

from __future__ import annotations

from fastapi import FastAPI

import gatekeeper

app = FastAPI()
app.add_middleware(gatekeeper.ASGIMiddleware)  # options from GATEKEEPER_* variables


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/")
def index() -> dict[str, str]:
    return {"hello": "from fastapi"}
