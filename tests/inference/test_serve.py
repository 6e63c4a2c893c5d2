"""A real ``mlflow models serve`` process answering HTTP requests with the emotion of a clip."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from distser.arrays import EMOTIONS

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_models_serve_answers_with_the_emotion_of_a_clip(registry, clips, corrupt, tmp_path):
    port = _free_port()
    bin_dir = Path(sys.executable).parent  # mlflow and uvicorn of this environment
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry.uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(bin_dir / "mlflow"), "models", "serve", "-m", f"models:/{registry.name}/1", "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, f"server exited early:\n{(tmp_path / 'serve.log').read_text()}"
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no /ping answer:\n{(tmp_path / 'serve.log').read_text()}"
            time.sleep(0.5)

        encoded = base64.b64encode(clips[0].read_bytes()).decode()
        broken = base64.b64encode(corrupt(clips[1], tmp_path / "broken.flac").read_bytes()).decode()
        status, answer = _post(f"{base}/invocations", {"dataframe_records": [
            {"audio_base64": encoded}, {"path": str(clips[2])}, {"audio_base64": broken}]})
        assert status == 200, answer
        first, second, third = answer["predictions"]
        assert first["emotion"] in EMOTIONS and first["error"] == ""
        assert sum(first[f"p_{c}"] for c in EMOTIONS) == pytest.approx(1, abs=1e-5)
        assert second["emotion"] in EMOTIONS and second["error"] == ""
        assert third["emotion"] == "" and "unreadable audio" in third["error"] and third["p_happy"] is None

        status, answer = _post(f"{base}/invocations", {"dataframe_split": {"columns": ["audio_base64"],
                                                                           "data": [[encoded]]}})
        assert status == 200 and answer["predictions"][0]["emotion"] == first["emotion"]

        # the stored serving example (what docs/serving.md tells users to send) is accepted as is
        from distser.inference import input_example

        status, answer = _post(f"{base}/invocations",
                               {"dataframe_records": input_example().to_dict("records")})
        assert status == 200 and answer["predictions"][0]["emotion"] in EMOTIONS

        status, answer = _post(f"{base}/invocations", {"dataframe_records": [{"wav": "x"}]})
        assert status >= 400
    finally:
        _stop(server)
        log.close()


def _stop(server: subprocess.Popen) -> None:
    """Stop the session started above (its id is the server's pid): mlflow and the uvicorn it runs."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, sig)
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
