"""A real Debian nginx on loopback as the reverse proxy teams put in front of an app.

The point is to see what a deploy does to requests that pass through the proxy people
actually run, with the configuration they actually write::

    upstream app { server 127.0.0.1:P1; server 127.0.0.1:P2; keepalive 32; }
    location / {
        proxy_pass http://app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        ...
    }

and nginx's defaults otherwise (``max_fails=1 fail_timeout=10s``, ``proxy_next_upstream
error timeout``), because those defaults decide whether a connection an upstream closes
becomes a retry or a 502. Everything nginx writes (config, pid, logs, temp files) lives
in one temporary directory, so several can run at once and nothing touches /etc/nginx
or /var/log/nginx. The access log records status, upstream address and status, method
and URI per request, tab-separated, so a test can count 502s and see which upstream
served what (and when nginx tried a second one).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.servers import children
from tools.procs import ServerProcess, free_port, poll_until, tail

__all__ = ["AccessEntry", "Nginx", "find_nginx"]

# Debian puts nginx in /usr/sbin, which is not on every user's PATH.
DEFAULT_BINARY = "/usr/sbin/nginx"


def find_nginx(binary: str | None = None) -> str:
    """The nginx binary to run; a clear error (never a skip) when there is none."""
    found = binary or shutil.which("nginx") or DEFAULT_BINARY
    if not os.access(found, os.X_OK):
        raise RuntimeError(f"nginx not found ({found}): install it (Debian: apt-get install nginx)")
    return found


@dataclass(frozen=True)
class AccessEntry:
    """One access-log line.

    ``upstream_addrs`` and ``upstream_statuses`` hold one item per upstream nginx tried,
    in order: ``("127.0.0.1:P1", "127.0.0.1:P2")`` with ``("502", "200")`` is a request
    the first upstream failed and nginx passed on to the second.
    """

    status: int
    upstream_addrs: tuple[str, ...]
    upstream_statuses: tuple[str, ...]
    method: str
    uri: str


def _split_upstream(value: str) -> tuple[str, ...]:
    # nginx separates tries with ", " and internal redirects with " : "; "-" means none.
    if value == "-":
        return ()
    return tuple(part.strip() for part in value.replace(" : ", ", ").split(", "))


class Nginx(ServerProcess):
    """nginx on 127.0.0.1:``port`` proxying ``location /`` to ``upstreams``.

    ``server_params`` is appended to every ``server`` line of the upstream block (say
    ``"max_fails=0"``), ``extra_location`` goes inside ``location /`` (say
    ``"proxy_next_upstream error timeout non_idempotent;"``) and ``extra_server`` inside
    the ``server`` block (say ``'location = /ok { return 200 "ok"; }'``). The attributes
    may be changed and :meth:`reload` applied. Everything lives in one temporary
    directory, removed by ``close()`` (the end of a ``with`` block).
    """

    def __init__(
        self,
        upstreams: list[int],
        *,
        keepalive: int = 32,
        server_params: str = "",
        extra_location: str = "",
        extra_server: str = "",
        port: int | None = None,
        binary: str | None = None,
    ) -> None:
        if not upstreams:
            raise ValueError("nginx needs at least one upstream port")
        self.binary = find_nginx(binary)
        self.upstreams = list(upstreams)
        self.keepalive = keepalive
        self.server_params = server_params
        self.extra_location = extra_location
        self.extra_server = extra_server
        self._tmp = tempfile.TemporaryDirectory(prefix="gk-nginx-")
        self.dir = Path(self._tmp.name)
        self.conf_path = self.dir / "nginx.conf"
        self.error_log_path = self.dir / "error.log"
        self.access_log_path = self.dir / "access.log"
        super().__init__(
            self._argv("-g", "daemon off;"),
            port or free_port(),
            name="nginx",
            log_path=self.dir / "stderr.log",
            start_timeout=10.0,
            # SIGQUIT to the master alone: a graceful stop (requests in flight finish,
            # idle connections close), which the master passes on to its workers.
            stop_signals=(signal.SIGQUIT,),
            stop_timeout=10.0,
            group_signals=False,
        )

    def config(self) -> str:
        """The nginx.conf for the current attributes."""
        d = self.dir
        params = f" {self.server_params}" if self.server_params else ""
        servers = "\n".join(f"        server 127.0.0.1:{p}{params};" for p in self.upstreams)
        keepalive = f"        keepalive {self.keepalive};\n" if self.keepalive else ""
        location = f"            {self.extra_location}\n" if self.extra_location else ""
        server = f"        {self.extra_server}\n" if self.extra_server else ""
        # As root, nginx would run its workers as "nobody", who cannot write the temp
        # directories; outside root the directive is only a warning, so leave it out.
        user = ""
        if os.geteuid() == 0:
            group = grp.getgrgid(os.getegid()).gr_name
            user = f"user {pwd.getpwuid(0).pw_name} {group};\n"
        return f"""{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    log_format gk "$status\\t$upstream_addr\\t$upstream_status\\t$request_method\\t$request_uri";
    access_log {d}/access.log gk;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    upstream app {{
{servers}
{keepalive}    }}

    server {{
        listen 127.0.0.1:{self.port};

        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
{location}        }}
{server}    }}
}}
"""

    def _argv(self, *extra: str) -> list[str]:
        # -e: nginx opens its compiled-in error log (/var/log/nginx) before reading the
        # config unless told otherwise.
        return [
            self.binary,
            "-p", f"{self.dir}/",
            "-c", str(self.conf_path),
            "-e", str(self.error_log_path),
            *extra,
        ]  # fmt: skip

    def start(self, timeout: float | None = None) -> None:
        """Write the config for the current attributes and start; ready when it listens."""
        self.conf_path.write_text(self.config())
        super().start(timeout)

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        return children(self.process.pid)

    def reload(self, timeout: float = 10.0) -> None:
        """Write the config for the current attributes, SIGHUP, wait for a new worker.

        nginx starts new workers on the new config and lets the old ones finish their
        requests; an invalid config leaves the old workers serving and raises here.
        """
        assert self.process is not None, "nginx is not running"
        self.conf_path.write_text(self.config())
        test = subprocess.run(self._argv("-t", "-q"), capture_output=True, text=True, check=False)
        if test.returncode != 0:
            raise RuntimeError(f"nginx rejects the new config:\n{test.stdout}{test.stderr}")
        before = set(self.worker_pids())
        self.signal(signal.SIGHUP)
        if not poll_until(lambda: bool(set(self.worker_pids()) - before), timeout):
            raise RuntimeError(f"nginx started no new worker within {timeout}s:\n{self.output()}")

    def error_log(self) -> str:
        try:
            return self.error_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self) -> str:
        """The error log and anything nginx printed, for failure messages."""
        printed = tail(self.log_path) if self.log_path.exists() else ""
        return (self.error_log() + printed)[-4000:]

    def access_entries(self) -> list[AccessEntry]:
        """The access log so far (nginx writes a line when a request ends)."""
        try:
            text = self.access_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        entries: list[AccessEntry] = []
        for line in text.splitlines():
            fields = line.split("\t")
            if len(fields) != 5:
                continue
            status, addrs, statuses, method, uri = fields
            entries.append(
                AccessEntry(int(status), _split_upstream(addrs), _split_upstream(statuses),
                            method, uri)
            )  # fmt: skip
        return entries

    def access_statuses(self) -> Counter[int]:
        """How many requests nginx answered with each status."""
        return Counter(entry.status for entry in self.access_entries())

    def close(self) -> None:
        super().close()
        self._tmp.cleanup()
