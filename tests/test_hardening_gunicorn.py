"""Two gunicorn instances on one machine keep out of each other's way: the control
socket (per user by default in gunicorn 25+) is off, or at a path of the instance's
own (GUNICORN_CONTROL_SOCKET)."""

from __future__ import annotations

import os
import runpy
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from gunicorn.config import Config

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "gunicorn.conf.py"


def control_settings(monkeypatch, socket_path: str | None) -> Config:
    """gunicorn's settings as gunicorn.conf.py sets them."""
    if socket_path is None:
        monkeypatch.delenv("GUNICORN_CONTROL_SOCKET", raising=False)
    else:
        monkeypatch.setenv("GUNICORN_CONTROL_SOCKET", socket_path)
    ours = runpy.run_path(str(CONFIG))
    config = Config()
    for name in ("control_socket", "control_socket_disable"):
        config.set(name, ours[name])
    return config


def test_the_control_socket_is_off_by_default(monkeypatch):
    assert control_settings(monkeypatch, None).control_socket_disable


def test_an_instance_can_name_its_own_control_socket(monkeypatch, tmp_path):
    config = control_settings(monkeypatch, str(tmp_path / "a.ctl"))
    assert not config.control_socket_disable
    assert config.control_socket == str(tmp_path / "a.ctl")


APP = """
def app(environ, start_response):
    start_response("200 OK", [])
    return [b"ok"]
"""
# Our control settings, with a tiny app (gunicorn.conf.py's hook would warm litellm).
INSTANCE_CONFIG = f"""
import runpy
_ours = runpy.run_path({str(CONFIG)!r})
control_socket = _ours["control_socket"]
control_socket_disable = _ours["control_socket_disable"]
workers = 1
"""  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(tmp_path: Path, control_socket: str = "") -> tuple[subprocess.Popen, str]:
    """An instance on a free port with HOME and XDG_RUNTIME_DIR in tmp_path, where
    gunicorn's default control socket would be."""
    address = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "gunicorn", "-c", "instance.py", "-b", address]
    env = {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    env["GUNICORN_CONTROL_SOCKET"] = control_socket
    server = subprocess.Popen(
        [*command, "app:app"], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://{address}", timeout=1)
        except requests.ConnectionError:
            time.sleep(0.1)
        else:
            return server, f"http://{address}"
    server.kill()
    pytest.fail("gunicorn did not start")


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def test_a_second_instance_leaves_the_first_ones_socket_alone(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "instance.py").write_text(INSTANCE_CONFIG)
    own_socket = tmp_path / "first.ctl"
    first, first_url = start(tmp_path, control_socket=str(own_socket))
    try:
        second, _ = start(tmp_path)
        stop(second)
        assert own_socket.is_socket()
        assert not (tmp_path / "gunicorn.ctl").exists()
        assert requests.get(first_url, timeout=5).text == "ok"
    finally:
        stop(first)
