"""A command in a real pseudo-terminal: a tmux server of the test's own, read back with
``capture-pane``. Every wait polls with a deadline.

The command runs under ``bash -c '...; read'`` so that the pane stays alive once it has
exited: tmux reports a dead pane's cursor as hidden whatever the program left, and the
test must see whether the cursor was shown again. Then Enter lets bash exit with the
command's status, which ``#{pane_dead_status}`` reads (``remain-on-exit`` keeps the pane).
Ctrl-C reaches bash as well as the command (one process group): bash waits for the
command, and goes on to ``read`` when it exited normally.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from tests.support.helpers import wait_for

EXITED = "[command exited "


def tmux_binary() -> str:
    found = shutil.which("tmux")
    if found is None:
        # Never a skip: scripts/test.sh installs tmux (scripts/setup.sh tmux:tmux).
        raise AssertionError("tmux is not installed: run scripts/test.sh (it installs it)")
    return found


class Pane:
    def __init__(self, argv: Sequence[str], env: dict[str, str], config: Path,
                 width: int = 140, height: int = 45) -> None:  # fmt: skip
        self.socket = f"gk-watch-{uuid.uuid4().hex[:12]}"
        self.env = {k: v for k, v in env.items() if not k.startswith("TMUX")}
        config.write_text("set-option -g remain-on-exit on\nset-option -g history-limit 0\n")
        command = shlex.join(argv)
        script = f'{command}; s=$?; echo "{EXITED}$s]"; read -r _; exit $s'
        self.tmux(
            "-f", str(config), "new-session", "-d", "-s", "watch", "-x", str(width),
            "-y", str(height), shlex.join(["bash", "-c", script]),
        )  # fmt: skip

    def tmux(self, *args: str) -> str:
        # -u: UTF-8 whatever the locale, so the table's lines are not replaced by '_'
        done = subprocess.run(
            [tmux_binary(), "-u", "-L", self.socket, *args], env=self.env,
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "watch")

    def show(self, name: str) -> str:
        return self.tmux("display-message", "-p", "-t", "watch", f"#{{{name}}}").strip()

    def wait_screen(self, check: Callable[[str], bool], timeout: float, what: str) -> str:
        last = [""]

        def ready() -> str | None:
            last[0] = self.screen()
            return last[0] if check(last[0]) else None

        try:
            return wait_for(ready, timeout=timeout, interval=0.1, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n{last[0]}") from None

    def exit_status(self, timeout: float) -> str:
        """``#{pane_dead_status}`` once tmux has it.

        tmux marks a pane dead when its terminal closes, and records the status when it
        reaps the child on SIGCHLD (the gap is tmux/tmux#4841). Here that reaping was
        sometimes missed for good (bash left a zombie, 4 runs in 15): a ``run-shell``
        child's exit makes the server reap every exited child, ours included."""

        def status() -> str:
            value = self.show("pane_dead_status")
            if not value and self.show("pane_dead") == "1":
                self.tmux("run-shell", "true")
            return value

        return wait_for(status, timeout=timeout, interval=0.1, what="the pane's exit status")

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "watch", *keys)

    def close(self) -> None:
        subprocess.run(
            [tmux_binary(), "-L", self.socket, "kill-server"], env=self.env,
            capture_output=True, timeout=10, check=False,
        )  # fmt: skip

    def __enter__(self) -> Pane:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def capture_to(path_variable: str, screen: str) -> None:
    """Write ``screen`` where ``$path_variable`` says, if it says."""
    target = os.environ.get(path_variable)
    if target:
        Path(target).write_text(screen, encoding="utf-8")
