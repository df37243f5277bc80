"""Real Redis topologies on free loopback ports: a Cluster of three primaries, and a primary
with a replica watched by Sentinel. Every process is started and stopped by pid, and keeps
nothing but its own files in a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import redis

from flask_guard.testing import free_port

WAIT = 10


def wait_until_answering(port: int) -> None:
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            assert time.monotonic() < deadline, f"nothing answers on port {port}"
            time.sleep(0.05)


class Processes:
    """Redis processes of one topology, each stopped by its pid."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="guard-redis-"))
        self.by_port: dict[int, subprocess.Popen[bytes]] = {}

    def server(self, port: int, *options: str) -> None:
        """Start ``redis-server`` on ``port`` with ``options``; wait until it answers."""
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        self.spawn(port, [*command, "--appendonly", "no", "--dir", str(self.directory), *options])

    def spawn(self, port: int, command: list[str]) -> None:
        """Run ``command``, a server that will listen on ``port``; wait until it answers."""
        self.by_port[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_until_answering(port)

    def kill(self, port: int) -> None:
        process = self.by_port.pop(port)
        process.kill()
        process.wait()

    def stop(self) -> None:
        for port in list(self.by_port):
            self.kill(port)
        shutil.rmtree(self.directory, ignore_errors=True)


class LocalCluster(Processes):
    """Three primaries, no replicas, all 16384 slots covered."""

    def __init__(self) -> None:
        super().__init__()
        self.ports = [free_port() for _ in range(3)]

    @property
    def url(self) -> str:
        """A cluster URL naming one node: the client finds the others."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self) -> None:
        for port in self.ports:
            self.server(
                port,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"nodes-{port}.conf",
                "--cluster-port",
                str(free_port()),
                "--cluster-node-timeout",
                "2000",
            )
        create = ["redis-cli", "--cluster", "create"]
        create += [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [*create, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT
        for port in self.ports:
            client = redis.Redis(port=port)
            while client.cluster("info")["cluster_state"] != "ok":
                assert time.monotonic() < deadline, "the cluster never became ok"
                time.sleep(0.05)

    def node_of(self, key: str) -> int:
        """Return the port of the primary that serves ``key``."""
        client = redis.Redis(port=self.ports[0])
        slot = client.cluster("keyslot", key)
        ranges: list[list[Any]] = client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
        for start, end, (_, port, *_), *_ in ranges:
            if start <= slot <= end:
                return int(port)
        raise AssertionError(f"no node serves slot {slot}")


class LocalSentinel(Processes):
    """A primary, one replica, and one Sentinel (quorum 1) that fails over in a second."""

    service = "guard-primary"

    def __init__(self) -> None:
        super().__init__()
        self.primary, self.replica, self.sentinel = free_port(), free_port(), free_port()

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel}/{self.service}/0"

    def start(self) -> None:
        self.server(self.primary)
        self.server(self.replica, "--replicaof", "127.0.0.1", str(self.primary))
        config = self.directory / "sentinel.conf"  # Sentinel rewrites it: a file of its own
        config.write_text(
            f"port {self.sentinel}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.primary} 1\n"
            f"sentinel down-after-milliseconds {self.service} 1000\n"
            f"sentinel failover-timeout {self.service} 5000\n"
        )
        self.spawn(self.sentinel, ["redis-server", str(config), "--sentinel"])
        sentinel = redis.Redis(port=self.sentinel)
        deadline = time.monotonic() + WAIT
        while int(cast(dict[str, Any], sentinel.sentinel_master(self.service))["num-slaves"]) < 1:
            assert time.monotonic() < deadline, "Sentinel never saw the replica"
            time.sleep(0.05)

    def fail_over(self) -> int:
        """Promote the replica now (``SENTINEL FAILOVER``); return the new primary's port
        once Sentinel announces it (``+switch-master``)."""
        sentinel = redis.Redis(port=self.sentinel)
        announcements = sentinel.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        announcements.subscribe("+switch-master")
        try:
            sentinel.execute_command("SENTINEL", "FAILOVER", self.service)  # type: ignore[no-untyped-call]
            return self.wait_for_switch(announcements)
        finally:
            announcements.close()

    def wait_for_switch(self, announcements: redis.client.PubSub) -> int:
        """Wait for Sentinel's ``+switch-master``; return the new primary's port."""
        deadline = time.monotonic() + WAIT
        while (left := deadline - time.monotonic()) > 0:
            message = announcements.get_message(timeout=left)
            if message is not None:
                return int(message["data"].split()[-1])
        raise AssertionError("Sentinel never switched the primary")
