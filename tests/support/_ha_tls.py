"""The TLS files of a topology with ``tls=True``, and redis-py's arguments to use them.

Re-exported by :mod:`tests.support._ha_common`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TLSFiles", "make_tls_files", "tls_options"]


@dataclass(frozen=True)
class TLSFiles:
    """A CA's certificate, and a server certificate it signed (for 127.0.0.1 and
    localhost, client use allowed too: nodes present it to each other) with its key."""

    ca: Path
    cert: Path
    key: Path


_SERVER_EXTENSIONS = """\
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def make_tls_files(directory: Path) -> TLSFiles:
    """Make a CA and a server key and certificate in ``directory`` (``openssl`` CLI, EC
    P-256 keys: three quick runs), valid for two days."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError(
            "openssl is needed on PATH for tls=True (Debian: apt-get install openssl)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    ca_key, request, extensions = (directory / name for name in ("ca.key", "server.csr", "ext"))
    extensions.write_text(_SERVER_EXTENSIONS)
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        ["req", "-x509", *new_key, "-keyout", ca_key, "-out", files.ca, "-days", "2",
         "-subj", "/CN=gatekeeper test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", "-new", *new_key, "-keyout", files.key, "-out", request, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", request, "-CA", files.ca, "-CAkey", ca_key, "-CAcreateserial",
         "-days", "2", "-extfile", extensions, "-out", files.cert],
    ]  # fmt: skip
    for step in steps:
        argv = [openssl, *map(str, step)]
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return files


def tls_options(ca: Path | None) -> dict[str, Any]:
    """redis-py's arguments for a TLS connection checked against ``ca`` (none: plain)."""
    return {} if ca is None else {"ssl": True, "ssl_ca_certs": str(ca)}
