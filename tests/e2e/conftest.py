"""Fixtures for the real-browser tests: a headless JupyterLab 4 / Notebook 7 server per front end,
Debian's chromium driven by Playwright, and a kernel probe (jupyter_client) for kernel-side checks.

Recipe: /work/shared/notes/browser-tests.md. Never `playwright install`: we only drive
/usr/bin/chromium. Every test here is marked ``e2e`` and skips (with the reason) when chromium,
Playwright or the built front end (kan_widget/static/widget.js, ``npm run build``) is missing.

Screenshots and server logs go to ``test-artifacts/`` at the repository root (git-ignored), or to
``$E2E_ARTIFACTS``.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NOTEBOOK = HERE / "kan_e2e.ipynb"
BUNDLE = ROOT / "kan_widget" / "static" / "widget.js"
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
]
# console errors that are ours: the widget's names, its bundle, anywidget's loader
OUR_NAMES = ("kan", "anywidget", "widget.js")
TIMINGS: dict[str, float] = {}


def _missing_requirement() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found (apt-get install chromium; never `playwright install`)"
    if not BUNDLE.is_file():
        return f"{BUNDLE} is not built (run `npm run build`)"
    for mod in ("playwright", "jupyter_client", "jupyterlab", "notebook", "ipykernel"):
        if importlib.util.find_spec(mod) is None:
            return f"e2e dependency {mod} is not installed (pip install -e '.[dev]')"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def e2e_ready() -> None:
    reason = _missing_requirement()
    if reason:
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class JupyterServer:
    frontend: str  # "lab" (JupyterLab 4) or "notebook" (Notebook 7)
    base_url: str
    token: str
    root_dir: Path
    runtime_dir: Path
    proc: subprocess.Popen
    log_path: Path

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> Any:
        req = urllib.request.Request(
            f"{self.base_url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def notebook_url(self, name: str) -> str:
        path = f"/lab/tree/{name}" if self.frontend == "lab" else f"/notebooks/{name}"
        # lab's "reset": an empty workspace, so the notebook an earlier test had open is not
        # restored beside this one (its kernel would be a second session)
        reset = "&reset" if self.frontend == "lab" else ""
        return f"{self.base_url}{path}?token={self.token}{reset}"

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def shutdown_sessions(self) -> None:
        """Shut every kernel down, so that the next test starts on a fresh one."""
        try:
            for s in self.api("/api/sessions"):
                self.api(f"/api/sessions/{s['id']}", method="DELETE")
        except Exception:
            pass


@contextlib.contextmanager
def run_jupyter(frontend: str, root: Path, home: Path) -> Iterator[JupyterServer]:
    """JupyterLab 4 (``"lab"``) or Notebook 7 (``"notebook"``) on 127.0.0.1:<free port>, with
    tests/e2e/kan_e2e.ipynb in ``root`` and every Jupyter/IPython dir under ``home``; shut down
    (kernels included) on exit. Also used by measure_latency.py."""
    app = "LabApp" if frontend == "lab" else "JupyterNotebookApp"
    for nb in HERE.glob("*.ipynb"):  # kan_e2e.ipynb and playground_e2e.ipynb
        shutil.copy(nb, root / nb.name)
    port, token = _free_port(), "e2e-" + os.urandom(8).hex()
    runtime_dir = home / "runtime"
    pythonpath = os.environ.get("PYTHONPATH", "")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(runtime_dir),
        "IPYTHONDIR": str(home / "ipython"),
        # Notebook 7 also loads jupyterlab's server extension, whose settings API answers from
        # this directory (not from --JupyterNotebookApp.user_settings_dir)
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "ANYWIDGET_HMR": "0",  # no watchfiles threads (browser-tests.md pitfall 9)
        # the kernel imports the package under test even if it is not pip-installed
        "PYTHONPATH": str(ROOT) + (os.pathsep + pythonpath if pythonpath else ""),
    }
    # the venv's kernelspec and lab extensions live under sys.prefix, which jupyter always
    # searches, so JUPYTER_DATA_DIR can be isolated too
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab" if frontend == "lab" else "notebook",
        "--no-browser",
        "--allow-root",  # root in containers/CI; lab refuses to start otherwise
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--expose-app-in-browser",  # window.jupyterapp
        f"--{app}.user_settings_dir={home / 'settings'}",
        f"--{app}.workspaces_dir={home / 'workspaces'}",
    ]
    if frontend == "lab":
        cmd += [
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
    # no "get Jupyter news?" toast over the widget
    notif = home / "settings" / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True, exist_ok=True)
    (notif / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    # "Save Jupyter widget state in notebooks" (off by default): a saved notebook keeps the
    # widgets' last state, so that reopened it shows the last drawing (README, Saving)
    widgets = home / "settings" / "@jupyter-widgets" / "jupyterlab-manager"
    widgets.mkdir(parents=True, exist_ok=True)
    (widgets / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
    log_path = home / "server.log"
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )  # own process group: kernels too
        server = JupyterServer(
            frontend, f"http://127.0.0.1:{port}", token, root, runtime_dir, proc, log_path
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter {frontend} exited early:\n{server.log_tail()}")
                try:
                    server.api("/api/status")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(server.log_tail()) from None
                    time.sleep(0.2)
            TIMINGS[f"{frontend}_server_ready_s"] = time.perf_counter() - t0
            yield server
        finally:
            _stop(proc, server)


def _stop(proc: subprocess.Popen, server: JupyterServer) -> None:
    """Ask the server to shut down (it stops its kernels), then signal its process group."""
    try:
        server.api("/api/shutdown", method="POST")
        proc.wait(timeout=20)
        return
    except Exception:
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session", params=["lab", "notebook"])
def jupyter_server(request, e2e_ready, tmp_path_factory):
    """JupyterLab 4 or Notebook 7, one server per front end for the session."""
    frontend = request.param
    root = tmp_path_factory.mktemp(f"nbroot-{frontend}")
    home = tmp_path_factory.mktemp(f"jhome-{frontend}")
    try:
        with run_jupyter(frontend, root, home) as server:
            yield server
    finally:
        if (home / "server.log").exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(home / "server.log", ARTIFACTS / f"server-{frontend}.log")


@pytest.fixture(scope="session")
def browser(e2e_ready):
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    with sync_playwright() as p:
        # keep scrollbars (Playwright hides them in headless mode): the formula panel's
        # sideways scrollbar is under test, and screenshots show what a person sees
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            ignore_default_args=["--hide-scrollbars"],
        )
        TIMINGS["browser_launch_s"] = time.perf_counter() - t0
        yield b
        b.close()


@pytest.fixture
def page(browser, jupyter_server, request):
    """A new browser context per test; console errors and non-local requests are collected.
    At teardown every kernel is shut down, so each test starts on a fresh kernel."""
    from playwright.sync_api import expect

    # a kernel round trip on a busy 2-core machine can take far longer than expect's 5 s
    expect.set_options(timeout=60_000)
    ctx = browser.new_context(viewport={"width": 1280, "height": 1400})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.external_requests = []  # type: ignore[attr-defined]
    pg.our_errors = lambda: our_errors(pg.console_errors)  # type: ignore[attr-defined]
    pg.timings = TIMINGS  # type: ignore[attr-defined]

    def on_console(m):
        if m.type == "error":
            loc = m.location.get("url", "") if isinstance(m.location, dict) else ""
            pg.console_errors.append(f"{m.text} @ {loc}" if loc else m.text)

    pg.on("console", on_console)
    pg.on("pageerror", lambda e: pg.console_errors.append(f"pageerror: {e} {e.stack or ''}"))
    pg.on(
        "request",
        lambda r: (
            r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
            or pg.external_requests.append(r.url)
        ),
    )
    yield pg
    ctx.close()
    jupyter_server.shutdown_sessions()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    (ARTIFACTS / f"console-{name}.log").write_text(
        "".join(f"{e}\n" for e in pg.console_errors) or "(no console errors)\n"
    )


def our_errors(errors: list[str]) -> list[str]:
    """Console errors that name our widget (JupyterLab / Notebook 7 log unrelated ones)."""
    return [e for e in errors if any(n in e.lower() for n in OUR_NAMES)]


# --------------------------------------------------------------------------- kernel probe
class KernelProbe:
    """Evaluates expressions in the notebook's kernel through a second jupyter_client, with no
    UI involved (``user_expressions`` on a silent execute). On the main shell it waits while a
    cell runs; ``subshell=True`` asks on a kernel subshell of its own (ipykernel 7), which answers
    at once. Connect (any ``eval``) before a blocking cell starts: connecting asks kernel_info on
    the main shell."""

    def __init__(self, server: JupyterServer):
        self.server = server
        self.kc = None
        self.kernel_id: str | None = None
        self.subshell_id: str | None = None

    def _client(self):
        from jupyter_client import BlockingKernelClient

        sessions = self.server.api("/api/sessions")
        assert len(sessions) == 1, f"expected one kernel session, got {sessions}"
        kid = sessions[0]["kernel"]["id"]
        if self.kc is not None and kid == self.kernel_id:
            return self.kc
        self.close()
        self.subshell_id = None
        cf = self.server.runtime_dir / f"kernel-{kid}.json"
        kc = BlockingKernelClient(connection_file=str(cf))
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        self.kc, self.kernel_id = kc, kid
        return kc

    def _subshell(self) -> str:
        """A kernel subshell of our own (ipykernel 7), to read state while a cell runs."""
        kc = self._client()
        if self.subshell_id is None:
            req = kc.session.msg("create_subshell_request", {})
            kc.control_channel.send(req)
            deadline = time.monotonic() + 60
            while True:
                rep = kc.control_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
                if rep["parent_header"].get("msg_id") == req["header"]["msg_id"]:
                    break
            assert rep["content"].get("status") == "ok", rep["content"]
            self.subshell_id = rep["content"]["subshell_id"]
        return self.subshell_id

    def eval(self, expr: str, timeout: float = 60, subshell: bool = False) -> Any:
        """The value of ``expr`` in the kernel (via ``repr`` and ``ast.literal_eval``). With
        ``subshell``, it runs on a kernel subshell, so it answers while a cell is running."""
        kc = self._client()
        deadline = time.monotonic() + timeout
        while True:
            msg = kc.session.msg(
                "execute_request",
                {
                    "code": "",
                    "silent": True,
                    "store_history": False,
                    "allow_stdin": False,
                    "user_expressions": {"r": f"repr({expr})"},
                    "stop_on_error": False,
                },
            )
            if subshell:
                msg["header"]["subshell_id"] = self._subshell()
            kc.shell_channel.send(msg)
            msg_id = msg["header"]["msg_id"]
            while True:
                reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            content = reply["content"]
            if "user_expressions" in content:
                break
            # "aborted": queued behind a cell that raised (an interrupt); ask again
            assert content.get("status") == "aborted", f"kernel probe failed: {content}"
            assert time.monotonic() < deadline, f"kernel probe kept being aborted: {expr}"
            time.sleep(0.2)
        res = content["user_expressions"]["r"]
        assert res["status"] == "ok", f"kernel could not evaluate {expr!r}: {res}"
        text = ast.literal_eval(res["data"]["text/plain"])  # the repr string
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    def wait_for(
        self,
        expr: str,
        pred: Callable[[Any], bool],
        timeout: float = 60,
        what: str = "",
        subshell: bool = False,
    ) -> Any:
        """Poll ``expr`` until ``pred(value)``; fails with the last value."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.eval(expr, subshell=subshell)
            if pred(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"kernel: {what or expr} not reached in {timeout} s; {expr} = {got!r}"
                )
            time.sleep(0.25)

    def close(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        self.kc = None


@pytest.fixture
def kernel(jupyter_server):
    probe = KernelProbe(jupyter_server)
    yield probe
    probe.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if TIMINGS:
        terminalreporter.write_sep("-", "e2e timings (s)")
        for k, v in TIMINGS.items():
            terminalreporter.write_line(f"{k:55s} {v:7.2f}")
