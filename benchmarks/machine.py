"""The machine line: cores, CPU model, load, and the versions of everything measured."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.wrk import wrk_version

__all__ = ["machine_info", "machine_line"]

DISTRIBUTIONS = (
    "gatekeeper-deploy",
    "redis",
    "gunicorn",
    "uvicorn",
    "uvloop",
    "httptools",
    "django",
    "flask",
    "starlette",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def redis_server_version() -> str | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"v=(\S+)", out.stdout)
    return match.group(1) if match else None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    has = importlib.util.find_spec
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": redis_server_version(),
        "wrk": wrk_version(),
        "versions": {dist: _version(dist) for dist in DISTRIBUTIONS},
        "uvicorn_loop": "uvloop" if has("uvloop") else "asyncio",
        "uvicorn_http": "httptools" if has("httptools") else "h11",
        "loadavg_start": list(os.getloadavg()),
    }


def machine_line(info: dict[str, Any]) -> str:
    v = info["versions"]
    parts = [
        f"{info['cores']} cores, {info['cpu']}",
        f"Linux {info['kernel']}",
        f"Python {info['python']}",
        f"redis-server {info['redis_server']}",
        f"redis-py {v['redis']}",
        f"gunicorn {v['gunicorn']}",
        f"uvicorn {v['uvicorn']} ({info['uvicorn_loop']} + {info['uvicorn_http']})",
        f"wrk {info['wrk'] or 'absent'}",
        f"Django {v['django']}, Flask {v['flask']}, Starlette {v['starlette']}",
        f"gatekeeper-deploy {v['gatekeeper-deploy']}",
    ]
    load = info.get("loadavg_start")
    if load:
        parts.append(f"load avg at start {load[0]:.2f}")
    if info.get("loadavg_end"):
        parts.append(f"at end {info['loadavg_end'][0]:.2f}")
    return "; ".join(parts)
