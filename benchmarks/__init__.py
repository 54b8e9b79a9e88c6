"""The gatekeeper benchmark suite (issue 5): ``python -m benchmarks``.

One command starts its own Redis and servers on loopback, loads them with wrk (or a
Python generator of the same shape), alternates the variants over rounds, and reports
medians and ratios against a baseline measured in the same run:

1. open-path overhead (``open_path``): bare vs gate vs a naive per-request Redis GET,
   for plain WSGI, Flask and Django under gunicorn and pure ASGI and Starlette under
   uvicorn, with Redis commands per request from ``INFO commandstats``;
2. release latency (``release``, ``multiproc``): N held requests released by one
   PUBLISH, against a floor app holding on a bare event;
3. propagation (``propagation``): a state change to every process obeying it;
4. memory (``release``): RSS per held request against the floor;
5. runner overhead (``runner``): ``gatekeeper run-migration`` against the command alone.

Results go to ``benchmarks/results/latest.json`` and ``latest.svg``; see
``benchmarks/README.md`` for what each figure means and how it is measured.

Benchmark-only dependencies are the ``bench`` extra: ``pip install -e ".[bench]"``.
"""
