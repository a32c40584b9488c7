"""azemu from Python: start an isolated emulator and point Azure clients at it.

The wheel installs the `azemu` binary (no Rust needed) and this package. With
pytest, the `azemu` fixture (see `azemu.pytest_plugin`) gives a running
`Azemu`; outside pytest:

    with Azemu() as em:
        subprocess.run(["az", "group", "list"], env=em.env(), check=True)   # after em.az_login()
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
import threading
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["Azemu", "binary", "TENANT_ID", "SUBSCRIPTION_ID", "CLIENT_ID", "CLIENT_SECRET"]

# The well-known identities every emulator starts with (`azemu serve --help`).
TENANT_ID = "a2e0a2e0-0000-4000-8000-000000000001"
SUBSCRIPTION_ID = "a2e0a2e0-0000-4000-8000-000000000002"
CLIENT_ID = "a2e0a2e0-0000-4000-8000-000000000003"
CLIENT_SECRET = "azemu-well-known-secret-not-for-production"


def binary() -> str:
    """The `azemu` binary: `$AZEMU_BINARY`, the one this wheel installed, or the first on PATH."""
    explicit = os.environ.get("AZEMU_BINARY")
    if explicit:
        return explicit
    installed = Path(sysconfig.get_path("scripts")) / ("azemu.exe" if os.name == "nt" else "azemu")
    if installed.is_file():
        return str(installed)
    found = shutil.which("azemu")
    if found:
        return found
    raise FileNotFoundError("no azemu binary: install the azemu wheel, or set AZEMU_BINARY")


class Azemu:
    """One emulator process with its own data directory and a free port.

    `mode` is how clients reach it: "transparent" (HTTPS_PROXY; clients keep
    Azure's real host names) or "explicit" (https://localhost:PORT endpoints).
    """

    def __init__(
        self,
        seed: Optional[os.PathLike | str] = None,
        data_dir: Optional[os.PathLike | str] = None,
        mode: str = "transparent",
        args: Sequence[str] = (),
        az: Optional[str] = None,
    ):
        if mode not in ("transparent", "explicit"):
            raise ValueError(f"mode must be 'transparent' or 'explicit', not {mode!r}")
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="azemu-"))
        self.seed = Path(seed) if seed else None
        self.mode = mode
        self.args = list(args)
        self.az_path = az or os.environ.get("AZEMU_AZ") or shutil.which("az")
        self.port: Optional[int] = None
        self.tenant_id = TENANT_ID
        self.subscription_id = SUBSCRIPTION_ID
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self._proc: Optional[subprocess.Popen] = None
        self._env: Optional[dict] = None
        self._az_dir: Optional[Path] = None
        self._log: list[str] = []

    # -- life cycle -------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> "Azemu":
        """Start `azemu serve` on a free port; returns once it answers."""
        cmd = [binary(), "serve", "--data-dir", str(self.data_dir), "--port", "0"]
        if self.seed:
            cmd += ["--seed", str(self.seed)]
        cmd += self.args
        self._proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        ready = threading.Event()

        def read() -> None:
            assert self._proc and self._proc.stdout
            for line in self._proc.stdout:
                self._log.append(line.rstrip("\n"))
                if line.startswith("azemu ready on port "):
                    self.port = int(line.split()[-1])
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(timeout)
        if self.port is None:
            self.stop()
            raise RuntimeError("azemu did not start:\n" + "\n".join(self._log[-40:]))
        return self

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if self._az_dir:
            shutil.rmtree(self._az_dir, ignore_errors=True)
            self._az_dir = None

    def __enter__(self) -> "Azemu":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def log(self) -> str:
        """What the emulator printed so far."""
        return "\n".join(self._log)

    # -- where it is ------------------------------------------------------------

    @property
    def url(self) -> str:
        """Its HTTPS endpoint (ARM, Entra, the control API under /_emulator)."""
        return f"https://localhost:{self.port}"

    @property
    def proxy(self) -> str:
        """The transparent proxy: HTTPS_PROXY for clients that keep Azure's host names."""
        return f"http://localhost:{self.port}"

    @property
    def ca_path(self) -> Path:
        """The emulator's own CA certificate (PEM)."""
        return self.data_dir / "ca.pem"

    @property
    def bundle_path(self) -> Path:
        """A CA bundle: the system's CAs plus the emulator's (for requests/az)."""
        return self.data_dir / "ca-bundle.pem"

    def env(self) -> dict:
        """`os.environ` plus what makes az, the Azure SDKs and OCI clients use this emulator
        (the same exports as `azemu env`)."""
        if self._env is None:
            out = subprocess.run(
                [binary(), "env", "--data-dir", str(self.data_dir), "--mode", self.mode],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            exports = {}
            for line in out.splitlines():
                words = shlex.split(line)
                if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                    k, v = words[1].split("=", 1)
                    exports[k] = v
            self._env = exports
        env = dict(os.environ)
        env.update(self._env)
        if self._az_dir:
            env["AZURE_CONFIG_DIR"] = str(self._az_dir)
        return env

    # -- ready-made clients -----------------------------------------------------

    def sdk_kwargs(self) -> dict:
        """Keyword arguments for any Azure SDK client (and credential) in this process:
        the proxy and CA bundle, without touching os.environ."""
        kwargs = {"connection_verify": str(self.bundle_path)}
        if self.mode == "transparent":
            kwargs["proxies"] = {"https": self.proxy, "http": self.proxy}
        else:
            kwargs["base_url"] = self.url + "/"
        return kwargs

    def credential(self):
        """An azure-identity credential for the well-known service principal."""
        from azure.identity import ClientSecretCredential

        kwargs = self.sdk_kwargs()
        kwargs.pop("base_url", None)
        if self.mode == "explicit":
            kwargs["authority"] = self.url
            kwargs["disable_instance_discovery"] = True
        return ClientSecretCredential(self.tenant_id, self.client_id, self.client_secret, **kwargs)

    def az_login(self) -> Path:
        """A logged-in AZURE_CONFIG_DIR for az (made once); `env()` names it from then on."""
        if self._az_dir:
            return self._az_dir
        if not self.az_path:
            raise FileNotFoundError("no az CLI: put it on PATH or set AZEMU_AZ")
        self._az_dir = Path(tempfile.mkdtemp(prefix="azemu-az-"))
        steps = []
        if self.mode == "explicit":
            steps += [
                ["config", "set", "core.instance_discovery=false"],
                ["cloud", "register", "-n", "azemu", "--endpoint-resource-manager", self.url + "/"],
                ["cloud", "set", "-n", "azemu"],
            ]
        steps.append(
            [
                "login",
                "--service-principal",
                "-u",
                self.client_id,
                f"--password={self.client_secret}",
                "--tenant",
                self.tenant_id,
                "-o",
                "none",
            ]
        )
        for step in steps:
            self.az(*step, output=None)
        return self._az_dir

    def az(self, *args: str, output: Optional[str] = "json"):
        """Run az against this emulator; parsed JSON (or None with output=None).
        Raises `subprocess.CalledProcessError` with az's stderr if it fails."""
        if not self.az_path:
            raise FileNotFoundError("no az CLI: put it on PATH or set AZEMU_AZ")
        if self._az_dir is None:
            self.az_login()
        cmd = [self.az_path, *args]
        if output:
            cmd += ["-o", output]
        env = self.env()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, cmd, done.stdout, done.stderr)
        if output == "json":
            return json.loads(done.stdout) if done.stdout.strip() else None
        return done.stdout
