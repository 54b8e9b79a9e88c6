"""The whole point of gatekeeper in one command: a deploy under live traffic, no failures.

``python -m examples.demo`` (what ``scripts/demo.sh`` runs) starts a Redis, serves the
Django example under gunicorn with a database one migration behind, sends steady reads
and writes, deploys the last migration (a backfill that holds SQLite's write lock for
about 5 s) with ``manage.py gatekeeper run-migration``, and prints what happened to every
request, with a timeline drawn as an SVG file.

Modules: ``services`` (Redis, the app, the runner: started and always stopped),
``traffic`` (the requests), ``report`` (the numbers), ``svg`` (the picture).
"""
