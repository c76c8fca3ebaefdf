"""The dummy/local provider: libcloud's DummyNodeDriver (made persistent) and LocalStorageDriver under a folder.

Used by the demo, the tests and the benchmark. State lives in `<root>/nodes.json` so the web process, the job
worker and the reconciler see the same "cloud"; buckets are folders under `<root>/buckets`. Utilisation follows a
deterministic daily curve per node (office hours peak, night trough, some nodes idle), so metering and the idle
rule have realistic input. `fail_creates: N` in the config makes the next N creates fail (retry tests).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import uuid
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from libcloud.compute.base import Node, NodeImage, NodeLocation, NodeSize, StorageVolume
from libcloud.compute.drivers.dummy import DummyNodeDriver
from libcloud.compute.types import NodeState
from libcloud.storage.types import ContainerDoesNotExistError

from cityhub.cloud.plugins import (
    BucketInfo,
    ImageInfo,
    NodeInfo,
    ProviderError,
    RegionInfo,
    SizeInfo,
    VolumeInfo,
    register,
)
from cityhub.kit.settings import get_settings

SIZES = (
    SizeInfo("ecs.s1", "ecs.small 2C4G", 2, 4096, 40),
    SizeInfo("ecs.m1", "ecs.medium 4C8G", 4, 8192, 80),
    SizeInfo("ecs.l1", "ecs.large 8C16G", 8, 16384, 160),
    SizeInfo("ecs.x1", "ecs.xlarge 16C64G", 16, 65536, 320),
)
IMAGES = (ImageInfo("img-kylin-v10", "Kylin V10"), ImageInfo("img-uos-20", "UOS 20"),
          ImageInfo("img-centos-7", "CentOS 7.9"))
_LOCKS: dict[str, threading.Lock] = {}


class PersistentDummyDriver(DummyNodeDriver):
    """DummyNodeDriver whose nodes and volumes persist in a JSON file and honour name and size."""

    name = "cityhub dummy"

    def __init__(self, root: Path) -> None:
        super().__init__(0)  # type: ignore[no-untyped-call]  # libcloud method without annotations
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / "nodes.json"
        self.lock = _LOCKS.setdefault(str(self.path), threading.Lock())

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"nodes": {}, "volumes": {}, "fail_creates": 0}
        return json.loads(self.path.read_text())  # type: ignore[no-any-return]  # the state file is the JSON object this class writes

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)

    def _node(self, data: dict[str, Any]) -> Node:
        size = next((s for s in SIZES if s.id == data["size"]), SIZES[0])
        node_state = NodeState.RUNNING if data["state"] == "running" else NodeState.STOPPED
        return Node(id=data["id"], name=data["name"], state=node_state,
                    public_ips=[], private_ips=[data["ip"]], driver=self,
                    size=NodeSize(size.id, size.name, size.ram_mb, size.disk_gb, None, 0.0, self),
                    extra={"vcpus": size.vcpus, "ram_mb": size.ram_mb, "image": data["image"]})

    def list_nodes(self) -> list[Node]:
        """Every node in the state file."""
        with self.lock:
            return [self._node(n) for n in self._load()["nodes"].values()]

    def list_sizes(self, location: NodeLocation | None = None) -> list[NodeSize]:
        """The fixed flavor list."""
        return [NodeSize(s.id, s.name, s.ram_mb, s.disk_gb, None, 0.0, self, extra={"vcpus": s.vcpus})
                for s in SIZES]

    def list_images(self, location: NodeLocation | None = None) -> list[NodeImage]:
        """The fixed image list."""
        return [NodeImage(i.id, i.name, self) for i in IMAGES]

    def create_node(self, name: str, size: NodeSize, image: NodeImage, **_kw: Any) -> Node:  # type: ignore[override]  # libcloud's signature takes location/auth; the adapter calls with these three
        """Create a node with the given name and size."""
        with self.lock:
            state = self._load()
            if state.get("fail_creates", 0) > 0:
                state["fail_creates"] -= 1
                self._save(state)
                raise ProviderError("dummy provider: simulated capacity error (InsufficientInstanceCapacity)")
            nid = uuid.uuid4().hex[:16]
            data = {"id": nid, "name": name, "state": "running", "size": size.id, "image": image.id,
                    "ip": f"10.{len(state['nodes']) // 65536 % 256}.{len(state['nodes']) // 256 % 256}."
                          f"{len(state['nodes']) % 256}"}
            state["nodes"][nid] = data
            self._save(state)
            return self._node(data)

    def _set_state(self, node_id: str, value: str | None) -> bool:
        with self.lock:
            state = self._load()
            if node_id not in state["nodes"]:
                return False
            if value is None:
                del state["nodes"][node_id]
            else:
                state["nodes"][node_id]["state"] = value
            self._save(state)
            return True

    def start_node(self, node: Node) -> bool:
        """Start."""
        return self._set_state(str(node.id), "running")

    def stop_node(self, node: Node) -> bool:
        """Stop."""
        return self._set_state(str(node.id), "stopped")

    def destroy_node(self, node: Node) -> bool:
        """Remove."""
        return self._set_state(str(node.id), None)

    def create_volume(self, size: int, name: str, location: NodeLocation | None = None,
                      snapshot: Any = None) -> StorageVolume:
        """Create a volume."""
        with self.lock:
            state = self._load()
            vid = uuid.uuid4().hex[:16]
            state["volumes"][vid] = {"id": vid, "name": name, "size": size}
            self._save(state)
        return StorageVolume(vid, name, size, self)

    def list_volumes(self) -> list[StorageVolume]:
        """Every volume."""
        with self.lock:
            return [StorageVolume(v["id"], v["name"], v["size"], self) for v in self._load()["volumes"].values()]

    def destroy_volume(self, volume: StorageVolume) -> bool:
        """Remove a volume."""
        with self.lock:
            state = self._load()
            found = state["volumes"].pop(volume.id, None) is not None
            self._save(state)
            return found

    def set_failures(self, n: int) -> None:
        """Make the next `n` creates fail (tests of retries)."""
        with self.lock:
            state = self._load()
            state["fail_creates"] = n
            self._save(state)


def daily_curve(external_id: str, day: date) -> list[float]:
    """24 hourly CPU % values: a per-node level (a fifth of nodes idle), office-hours peak, weekend dip, noise."""
    seed = int.from_bytes(hashlib.sha256(external_id.encode()).digest()[:8], "big")
    idle = seed % 5 == 0
    level = 2.0 + (seed >> 8) % 4 if idle else 15.0 + (seed >> 8) % 50
    weekend = day.weekday() >= 5
    out = []
    for hour in range(24):
        shape = 0.35 + 0.65 * max(0.0, math.sin(math.pi * (hour - 7) / 13)) if 7 <= hour <= 20 else 0.3
        if weekend:
            shape *= 0.55
        noise = ((seed >> (hour % 40)) ^ (day.toordinal() * 2654435761)) % 1000 / 1000 - 0.5
        out.append(round(max(0.0, min(100.0, level * shape * (1 + 0.3 * noise))), 2))
    return out


class DummyProvider:
    """The dummy/local provider (DummyNodeDriver + LocalStorageDriver)."""

    kind = "dummy"

    def __init__(self, root: Path, quotas: Mapping[str, int] | None = None) -> None:
        from libcloud.storage.drivers.local import LocalStorageDriver

        self.root = root
        self.driver = PersistentDummyDriver(root)
        (root / "buckets").mkdir(parents=True, exist_ok=True)
        self.storage: Any = LocalStorageDriver(str(root / "buckets"))  # type: ignore[no-untyped-call]  # untyped
        self._quotas = dict(quotas or {"instances": 100000, "vcpus": 1000000})

    def regions(self) -> list[RegionInfo]:
        """One local region."""
        return [RegionInfo("local-1", "Local region 1"), RegionInfo("local-2", "Local region 2")]

    def sizes(self) -> list[SizeInfo]:
        """The fixed flavors."""
        return list(SIZES)

    def images(self) -> list[ImageInfo]:
        """The fixed images."""
        return list(IMAGES)

    def _find(self, external_id: str) -> Node | None:
        return next((n for n in self.driver.list_nodes() if n.id == external_id), None)

    def node_create(self, name: str, size_id: str, image_id: str, region: str | None = None) -> NodeInfo:
        """Create a node."""
        size = next((s for s in self.driver.list_sizes() if s.id == size_id), None)
        if size is None:
            raise ProviderError(f"unknown size {size_id!r}")
        return _node_info(self.driver.create_node(name, size, NodeImage(image_id, image_id, self.driver)))

    def node_start(self, external_id: str) -> None:
        """Start."""
        if not self.driver._set_state(external_id, "running"):
            raise ProviderError(f"node {external_id} not found")

    def node_stop(self, external_id: str) -> None:
        """Stop."""
        if not self.driver._set_state(external_id, "stopped"):
            raise ProviderError(f"node {external_id} not found")

    def node_resize(self, external_id: str, size_id: str) -> None:
        """Change a node's flavor."""
        if not any(s.id == size_id for s in SIZES):
            raise ProviderError(f"unknown size {size_id!r}")
        with self.driver.lock:
            state = self.driver._load()
            if external_id not in state["nodes"]:
                raise ProviderError(f"node {external_id} not found")
            state["nodes"][external_id]["size"] = size_id
            self.driver._save(state)

    def node_destroy(self, external_id: str) -> None:
        """Destroy (idempotent)."""
        self.driver._set_state(external_id, None)

    def nodes(self) -> list[NodeInfo]:
        """Every node."""
        return [_node_info(n) for n in self.driver.list_nodes()]

    def volume_create(self, name: str, size_gb: int, region: str | None = None) -> VolumeInfo:
        """Create a volume."""
        v = self.driver.create_volume(size_gb, name)
        return VolumeInfo(v.id, v.name, v.size)

    def volumes(self) -> list[VolumeInfo]:
        """Every volume."""
        return [VolumeInfo(v.id, v.name, v.size) for v in self.driver.list_volumes()]

    def volume_destroy(self, external_id: str) -> None:
        """Destroy a volume."""
        self.driver.destroy_volume(StorageVolume(external_id, "", 0, self.driver))

    def bucket_create(self, name: str) -> BucketInfo:
        """Create a bucket folder."""
        return BucketInfo(self.storage.create_container(name).name)

    def buckets(self) -> list[BucketInfo]:
        """Every bucket folder."""
        return [BucketInfo(c.name) for c in self.storage.list_containers()]

    def bucket_delete(self, name: str) -> None:
        """Delete a bucket folder (absent is fine)."""
        try:
            self.storage.delete_container(self.storage.get_container(name))
        except ContainerDoesNotExistError:
            return

    def utilisation(self, external_id: str, day: date) -> list[float]:
        """The deterministic daily curve of a node."""
        return daily_curve(external_id, day)

    def quotas(self) -> dict[str, int]:
        """Configured limits."""
        return dict(self._quotas)


def _node_info(node: Node) -> NodeInfo:
    extra = node.extra or {}
    return NodeInfo(external_id=str(node.id), name=node.name, state=str(node.state),
                    vcpus=int(extra.get("vcpus", 0)), ram_mb=int(extra.get("ram_mb", 0)))


def dummy_root(config: Mapping[str, Any]) -> Path:
    """The folder of a dummy account (config `root`, else `<var_dir>/cloud/<slug or name>`)."""
    if config.get("root"):
        return Path(str(config["root"]))
    return get_settings().var_dir / "cloud" / str(config.get("slug") or config.get("name") or "dummy")


@register("dummy")
def _factory(config: Mapping[str, Any], credentials: Mapping[str, str]) -> DummyProvider:
    return DummyProvider(dummy_root(config))
