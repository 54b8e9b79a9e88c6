"""The whole point of gatekeeper in one command: two deploys under live traffic, no failures.

``python -m examples.demo`` (what ``scripts/demo.sh`` runs) starts a Redis, serves the
Django example under gunicorn (with gatekeeper's hooks) on a database one migration
behind, on release v1, and sends open-loop traffic (100 requests a second, a quarter of
them writes, from a client that follows redirects). Then it deploys twice with the
example's ``manage.py gatekeeper``: new code v2 with the pending migration (a backfill
that holds SQLite's write lock for a few seconds), through ``run-migration --restart
... --await-release v2 --handoff``, and new code v3 alone, through ``reload
--await-release v3``; each restart writes the release file and sends gunicorn SIGHUP.
It prints what happened to every request and draws a timeline as an SVG file.

Modules: ``services`` (Redis, the app, the deploy commands: started and always
stopped), ``traffic`` (the requests), ``report`` (the numbers), ``svg`` (the picture).
"""
