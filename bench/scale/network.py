"""Where each replica lives, so that the replicas look like separate hosts to the balancer and to Prometheus.

Where the machine allows it (root, CAP_NET_ADMIN): one network namespace per replica, joined to this machine by a
veth pair, the replica on its own link-local address (169.254.0.0/16: by definition never routed off the link, so
no traffic leaves this machine and no private range of anyone's network is borrowed), every replica on the same
ports as a real fleet would be. Otherwise (an unprivileged container, a rootless user): distinct ports on 127.0.0.1,
and `Network.kind` says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from ..processes import free_port

HTTP_PORT, GRPC_PORT = 8000, 8001  # inside a namespace every replica has the service's default ports


@dataclass(frozen=True)
class Placement:
    """One replica's address, and the command prefix that runs a process there."""

    name: str
    host: str
    http_port: int
    grpc_port: int
    prefix: tuple[str, ...] = ()

    @property
    def http(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"{self.host}:{self.grpc_port}"


@dataclass
class Network:
    kind: str  # "network namespaces" or "loopback ports"
    note: str
    placements: list[Placement]
    _undo: list[list[str]] = field(default_factory=list)

    def close(self) -> None:
        """Remove the namespaces and links (deleting a namespace deletes its end of the veth pair, and the pair)."""
        for command in reversed(self._undo):
            subprocess.run(command, capture_output=True)
        self._undo.clear()


def make_network(count: int, loopback: bool = False) -> Network:
    ip = shutil.which("ip")
    if loopback:
        return _loopback(count, "asked for (--loopback)")
    if ip is None:
        return _loopback(count, "no `ip` command (iproute2)")
    network = Network("network namespaces", "", [])
    token = os.getpid() % 100000
    octet = 1 + os.getpid() % 254  # one /24 per run: two runs at once rarely share it
    try:
        for index in range(1, count + 1):
            namespace, outside, inside = f"sigscale-{token}-{index}", f"ss{token}h{index}", f"ss{token}r{index}"
            host_address, replica_address = f"169.254.{octet}.{4 * index + 1}", f"169.254.{octet}.{4 * index + 2}"
            _run(network, [ip, "netns", "add", namespace], undo=[ip, "netns", "delete", namespace])
            _run(network, [ip, "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", namespace])
            network._undo.append([ip, "link", "delete", outside])
            _run(network, [ip, "addr", "add", f"{host_address}/30", "dev", outside])
            _run(network, [ip, "link", "set", outside, "up"])
            _run(network, [ip, "-n", namespace, "addr", "add", f"{replica_address}/30", "dev", inside])
            _run(network, [ip, "-n", namespace, "link", "set", inside, "up"])
            _run(network, [ip, "-n", namespace, "link", "set", "lo", "up"])
            network.placements.append(
                Placement(f"replica{index}", replica_address, HTTP_PORT, GRPC_PORT, (ip, "netns", "exec", namespace))
            )
    except subprocess.CalledProcessError as failure:
        network.close()
        reason = (failure.stderr or "").strip().splitlines()[-1:] or [f"exit status {failure.returncode}"]
        return _loopback(count, f"network namespaces are not permitted here ({reason[0]})")
    network.note = f"each replica in its own network namespace, on 169.254.{octet}.0/24 (link-local, this machine)"
    return network


def _run(network: Network, command: list[str], undo: list[str] | None = None) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)
    if undo is not None:
        network._undo.append(undo)


def _loopback(count: int, why: str) -> Network:
    placements = [Placement(f"replica{i}", "127.0.0.1", free_port(), free_port()) for i in range(1, count + 1)]
    return Network("loopback ports", f"distinct ports on 127.0.0.1: {why}", placements)
