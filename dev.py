#!/usr/bin/env python3
"""The two Quick start commands. Needs only Python 3.11+; everything else is installed into .venv.

    python3 dev.py demo   # install, migrate, seed, start the emulators, the worker and the portal
    python3 dev.py test   # install, then ruff (lint + format check), mypy and the whole test suite

Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".portal-install-stamp"

DEMO_PORTS = {"keycloak": 8180, "openedx": 8190, "payment": 8195, "portal": 5000}


def log(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def ensure_environment() -> None:
    """Create .venv and install the project with its dev tools, unless pyproject.toml is unchanged;
    then the browser suite's npm tools (axe-core, pinned by package-lock.json), unless the lock file
    is unchanged. Without npm the Python side still installs: the browser suite's accessibility
    checks then fail, naming what to install, rather than pass without having looked."""
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed (found %d.%d)." % sys.version_info[:2])
    if not PY.exists():
        log("creating .venv")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not (STAMP.exists() and STAMP.read_text() == digest):
        log("installing the portal and its tools into .venv (first run takes a minute or two)")
        pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "install", "-e", ".[dev]"], cwd=ROOT, check=True)
        STAMP.write_text(digest)
    # The stamp lives in node_modules: removing that folder also forgets the install.
    node_stamp = ROOT / "node_modules" / ".portal-install-stamp"
    lock_digest = hashlib.sha256((ROOT / "package-lock.json").read_bytes()).hexdigest()
    installed = (ROOT / "node_modules" / "axe-core").is_dir()
    if installed and node_stamp.exists() and node_stamp.read_text() == lock_digest:
        return
    npm = shutil.which("npm")
    if npm is None:
        log(
            "npm was not found: install Node.js with npm (e.g. apt-get install npm) and run this "
            "again; until then the browser suite's axe-core accessibility checks fail"
        )
        return
    log("installing axe-core for the browser suite's accessibility checks (npm ci)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    node_stamp.write_text(lock_digest)


def run(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(PY), *args], cwd=ROOT, check=True, env=env)


def wait_for_port(port: int, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"{name} did not start on port {port} within {timeout:.0f}s")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


# POSIX: a new process group per child (Windows has no process groups to share).
OWN_PROCESS_GROUP: dict[str, int] = {} if os.name == "nt" else {"process_group": 0}
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP (the terminal closed) stop the demo as Ctrl-C does, so its processes,
    in groups of their own, are not left running."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for name in STOP_SIGNALS[1:]:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)


def ignore_stop_signals() -> None:
    for name in STOP_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def forget_last_demo(env: dict[str, str]) -> None:
    """Start the demo's own SQLite database afresh. The emulators keep nothing between runs, so a
    database from an earlier demo would name users and course runs the new emulators do not know
    (edX then refuses every enrollment). A database named by DATABASE_URL is never touched."""
    if env.get("DATABASE_URL") or env.get("PORTAL_MODE") != "demo":
        return
    instance = Path(env.get("PORTAL_INSTANCE_PATH") or ROOT / "instance")
    old = [instance / f"portal.sqlite{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
    if any(path.exists() for path in old):
        log("starting from fresh demo data (the emulators keep nothing between runs)")
        for path in old:
            path.unlink(missing_ok=True)


def demo() -> int:
    ensure_environment()
    env = {**os.environ, "PORTAL_MODE": os.environ.get("PORTAL_MODE", "demo")}
    busy = [f"{name} ({port})" for name, port in DEMO_PORTS.items() if not port_free(port)]
    if busy:
        sys.exit("These ports are in use, stop what runs there first: " + ", ".join(busy))
    forget_last_demo(env)
    run("-m", "flask", "--app", "portal", "db", "upgrade", env=env)
    run("-c", "from portal.i18n import compile_catalogs; compile_catalogs()")  # the .mo files
    children: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> None:
        # Each in a process group of its own: a terminal's Ctrl-C reaches only this process, which
        # passes one SIGINT on to each. In the terminal's group they would get the terminal's and
        # then this one, and a second SIGINT while a process is already stopping prints tracebacks.
        children.append(
            subprocess.Popen(
                [str(PY), "-m", "flask", *args], cwd=ROOT, env=env, **OWN_PROCESS_GROUP
            )
        )

    stop_on_signals()
    try:
        start("--app", "emulators.keycloak", "run", "--port", str(DEMO_PORTS["keycloak"]))
        start("--app", "emulators.openedx", "run", "--port", str(DEMO_PORTS["openedx"]))
        start("--app", "emulators.payment", "run", "--port", str(DEMO_PORTS["payment"]))
        wait_for_port(DEMO_PORTS["keycloak"], "the Keycloak emulator")
        wait_for_port(DEMO_PORTS["openedx"], "the Open edX emulator")
        wait_for_port(DEMO_PORTS["payment"], "the payment emulator")
        # Seeded after the emulators are up: the contract runs' jobs clone source runs in edX.
        run("-m", "flask", "--app", "portal", "seed-demo", env=env)
        start("--app", "portal", "worker")
        start("--app", "portal", "run", "--host", "127.0.0.1", "--port", str(DEMO_PORTS["portal"]))
        wait_for_port(DEMO_PORTS["portal"], "the portal")
        # Outcomes from edX for the demo learners, once the worker has made the contract runs.
        subprocess.run(
            [str(PY), "-m", "flask", "--app", "portal", "seed-demo-outcomes"], cwd=ROOT, env=env
        )
        log(
            "the portal runs at http://127.0.0.1:5000 (Keycloak emulator :8180, Open edX emulator "
            ":8190, payment emulator :8195). Press Ctrl-C to stop."
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        log("a process stopped; shutting the others down")
        return 1
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        ignore_stop_signals()  # stopping already: a second Ctrl-C changes nothing
        # Last started first: the portal and the worker (which finishes the job it runs) stop
        # while the emulators they talk to still answer.
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def test(extra: list[str]) -> int:
    ensure_environment()
    steps = [
        ["-m", "ruff", "check", "."],
        ["-m", "ruff", "format", "--check", "."],
        ["-m", "mypy", "portal"],
        ["-m", "pytest", *extra],
    ]
    for step in steps:
        log("running " + " ".join(step[1:]))
        result = subprocess.run([str(PY), *step], cwd=ROOT)
        if result.returncode != 0:
            log(f"failed: {' '.join(step[1:])} (exit {result.returncode})")
            return result.returncode
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test"}:
        print(__doc__)
        return 2
    return demo() if sys.argv[1] == "demo" else test(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
