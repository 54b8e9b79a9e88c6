"""A small FastAPI notes app deployed with gatekeeper: SQLAlchemy and Alembic.

Serve it with ``uvicorn app:app --workers 2`` from this directory. The gate reads its
options from ``GATEKEEPER_*`` environment variables; the database is ``DATABASE_URL``
(default: SQLite in this directory). See README.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from models import Note, SessionLocal, count_words
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

import gatekeeper

app = FastAPI(title="Notes")
# No keywords: every option comes from GATEKEEPER_* (GATEKEEPER_REDIS_URL above all).
app.add_middleware(gatekeeper.ASGIMiddleware)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Notes (FastAPI)</title></head>
<body><h1>Notes, served by FastAPI behind gatekeeper</h1>
<p>{count} notes so far.</p></body></html>
"""


def get_session() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session


# FastAPI runs a sync dependency's cleanup, and the check of a def endpoint's return
# value, on worker threads of their own, after the endpoint. A request that still held a
# pooled connection while it waits for a thread can deadlock the pool when more requests
# arrive at once than there are connections: every thread waits for a connection that
# only a thread can give back, until the pool's 30 s timeout. A released hold is such a
# burst, so each endpoint ends its transaction, giving the connection back, before it
# returns (tests/examples/test_fastapi_example.py queues 300 behind a hold to show it).


SessionDep = Annotated[Session, Depends(get_session)]


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)


def count_notes(session: Session) -> int:
    with session.begin():
        return session.scalar(sa.select(sa.func.count(Note.id))) or 0


@app.get("/healthz")
def healthz() -> dict[str, str]:
    # No database here: the load balancer must not see a migration as an outage.
    return {"status": "ok"}


@app.get("/", response_class=HTMLResponse)
def index(session: SessionDep) -> str:
    return PAGE.format(count=count_notes(session))


@app.get("/notes")
def list_notes(session: SessionDep) -> dict[str, int]:
    return {"count": count_notes(session)}


@app.post("/notes", status_code=201)
def create_note(note_in: NoteIn, session: SessionDep) -> dict[str, Any]:
    note = Note(text=note_in.text, words=count_words(note_in.text))
    session.add(note)
    session.commit()
    return {"id": note.id, "text": note.text, "words": note.words}
