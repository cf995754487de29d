"""Linux bridges the tier creates for itself: its containers' and pods' only way onto a network."""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass


class NetworkError(RuntimeError):
    """An `ip` command failed; the message carries its output."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetworkError(f"`ip {' '.join(args)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


@dataclass(frozen=True)
class Bridge:
    """A bridge with the host's address on a small subnet that exists only on this machine."""

    name: str
    address: str
    prefix: int

    @property
    def subnet(self) -> str:
        return str(ipaddress.ip_network(f"{self.address}/{self.prefix}", strict=False))

    def exists(self) -> bool:
        return _ip("link", "show", self.name, check=False).returncode == 0

    def create(self) -> None:
        """Creates the bridge with its address, or leaves one already there as it is; brings it up."""
        if not self.exists():
            _ip("link", "add", self.name, "type", "bridge")
        if f" {self.address}/{self.prefix} " not in _ip("-4", "addr", "show", "dev", self.name).stdout:
            _ip("addr", "add", f"{self.address}/{self.prefix}", "dev", self.name)
        _ip("link", "set", self.name, "up")

    def delete(self) -> None:
        if self.exists():
            _ip("link", "delete", self.name)
