"""vLLM's CPU build serving the embedded model on 127.0.0.1, started by the tests and the server benchmark.

The flags are the CPU recipe of docs/deployment.md. vLLM lives in its own environment (`make setup-vllm`:
``.venv-vllm``; ``REER_VLLM_PYTHON`` names another interpreter) because it pins its own torch and
transformers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VLLM_PYTHON = Path(os.environ.get("REER_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
SERVED_NAME = "smollm2"


def recipe(model_dir: Path, context: int, chunked_prefill: bool = False) -> list[str]:
    """The server's command line. Without chunked prefill, a seeded request is never split across steps:
    splitting one kills the CPU engine (docs/deployment.md). Eager mode starts in about 45 s instead of
    2.5 minutes of torch.compile."""
    command = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir)]
    command += ["--served-model-name", SERVED_NAME, "--dtype", "float32", "--max-model-len", str(context)]
    command += ["--max-logprobs", "5", "--enforce-eager", "--disable-log-stats"]
    if not chunked_prefill:
        command += ["--no-enable-chunked-prefill", "--max-num-batched-tokens", str(context)]
    return command


class VllmServer:
    """One vLLM server on a fixed port, which can be killed with -9 and started again on the same port."""

    def __init__(
        self,
        model_dir: Path,
        port: int,
        log: Path,
        context: int = 4096,
        chunked_prefill: bool = False,
        api_key: str | None = None,
    ) -> None:
        self.command = recipe(model_dir, context, chunked_prefill) + ["--host", "127.0.0.1", "--port", str(port)]
        self.command += ["--api-key", api_key] if api_key else []
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = f"http://127.0.0.1:{port}/v1"
        self.log = log
        self.process: subprocess.Popen | None = None
        self.launched = 0.0
        self.started_in = 0.0  # the last start: seconds from launch to the first answer

    def start(self, deadline: float = 600) -> VllmServer:
        return self.launch().wait(deadline)

    def launch(self) -> VllmServer:
        """Start the process and return at once (:meth:`wait` for it to answer)."""
        self.launched, self.started_in = time.monotonic(), 0.0
        # 1 GiB of KV cache holds about 23,000 of this model's tokens; no telemetry, no hub: nothing leaves here.
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1"}
        with self.log.open("a") as log:  # a file, not a pipe: a full pipe would block the server
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        return self

    def wait(self, deadline: float = 600) -> VllmServer:
        """Until the server answers with its model list; an error with its log's end if it exits or stalls."""
        assert self.process is not None, "launch() first"
        if self.started_in and self.process.poll() is None:
            return self  # answered since this launch
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.process.returncode} while starting:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/models", headers=self.headers, timeout=5).status_code == 200:
                    self.started_in = time.monotonic() - self.launched
                    return self
            except httpx.TransportError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"vLLM did not answer within {deadline:.0f} s:\n{self.tail()}")

    def kill(self) -> None:
        """kill -9 of the server and its engine processes (one process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join([line for line in text.splitlines() if "Location 'file://" not in line][-lines:])
