"""Quick demo: traffic keeps flowing through a 3-second hold without one failed request.

Starts a throwaway redis-server (unless GATEKEEPER_REDIS_URL answers), serves
examples/quickstart/app.py with gunicorn, sends steady traffic, holds the gate for
three seconds by writing the state to Redis, releases it, and prints what happened.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

from gatekeeper.keys import Keys
from gatekeeper.testing import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    with ExitStack() as stack:
        url = os.environ.get("GATEKEEPER_REDIS_URL", "")
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.5).ping() if url else None
        except redis.RedisError:
            url = ""
        if not url:
            url = stack.enter_context(RedisServer()).url
        prefix = f"demo{os.getpid()}"
        port = free_port()
        env = {**os.environ, "GATEKEEPER_REDIS_URL": url, "GATEKEEPER_PREFIX": prefix}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "examples.quickstart.app:app",
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "16",
             "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        stack.callback(server.wait, 10)
        stack.callback(server.terminate)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    print("gunicorn did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)

        results: list[tuple[float, float, int]] = []
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=base, timeout=20) as http:
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        status = http.get("/").status_code
                    except httpx.HTTPError:
                        status = 0
                    results.append((started, time.monotonic() - started, status))
                    time.sleep(0.02)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        keys = Keys(prefix)
        r = redis.Redis.from_url(url)
        time.sleep(2)
        print("holding traffic for 3 s ...")
        hold_start = time.monotonic()
        r.set(keys.state, "hold")
        r.publish(keys.events, "hold")
        time.sleep(3)
        r.delete(keys.state)
        r.publish(keys.events, "open")
        hold_end = time.monotonic()
        print("released")
        time.sleep(2)
        stop.set()
        for thread in threads:
            thread.join()

        failed = [res for res in results if res[2] != 200]
        held = [res for res in results if hold_start <= res[0] + res[1] and res[0] < hold_end]
        longest = max((res[1] for res in results), default=0.0)
        print(f"requests sent:   {len(results)}")
        print(f"failed:          {len(failed)}")
        print(f"held:            {len(held)} (answered after the release)")
        print(f"longest wait:    {longest:.2f} s")
        print(f"median latency:  {statistics.median(r[1] for r in results) * 1000:.1f} ms")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
