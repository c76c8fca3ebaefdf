"""Cloud provider adapters behind one typed Protocol, and the registry that builds them from an account's settings.

Every adapter is built on Apache Libcloud drivers; the service never sees libcloud types, only the dataclasses
below, and every provider failure surfaces as `ProviderError` (mapped to a clear 503 by the service).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable


class ProviderError(Exception):
    """A provider call failed (network, auth, quota, unsupported); the message is safe to show."""


@dataclass(frozen=True)
class RegionInfo:
    """A region / location the provider offers."""

    code: str
    name: str


@dataclass(frozen=True)
class SizeInfo:
    """A flavor / instance type."""

    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


@dataclass(frozen=True)
class ImageInfo:
    """A machine image."""

    id: str
    name: str


@dataclass(frozen=True)
class NodeInfo:
    """A virtual machine as the provider reports it."""

    external_id: str
    name: str
    state: str  # running | stopped | pending | terminated | unknown
    vcpus: int = 0
    ram_mb: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeInfo:
    """A block volume."""

    external_id: str
    name: str
    size_gb: int


@dataclass(frozen=True)
class BucketInfo:
    """An object-storage bucket."""

    name: str


@runtime_checkable
class CloudProvider(Protocol):
    """What cityhub needs from a cloud: inventory, node lifecycle, volumes, buckets, utilisation, quotas."""

    kind: str

    def regions(self) -> list[RegionInfo]:
        """Regions / locations."""

    def sizes(self) -> list[SizeInfo]:
        """Flavors / instance types."""

    def images(self) -> list[ImageInfo]:
        """Machine images."""

    def node_create(self, name: str, size_id: str, image_id: str, region: str | None = None) -> NodeInfo:
        """Create a node named `name` (names are cityhub's idempotency keys)."""

    def node_start(self, external_id: str) -> None:
        """Start a stopped node."""

    def node_stop(self, external_id: str) -> None:
        """Stop a running node."""

    def node_destroy(self, external_id: str) -> None:
        """Destroy a node (absent nodes are not an error)."""

    def nodes(self) -> list[NodeInfo]:
        """Every node of the account."""

    def volume_create(self, name: str, size_gb: int, region: str | None = None) -> VolumeInfo:
        """Create a block volume."""

    def volumes(self) -> list[VolumeInfo]:
        """Every volume."""

    def volume_destroy(self, external_id: str) -> None:
        """Destroy a volume."""

    def bucket_create(self, name: str) -> BucketInfo:
        """Create a bucket."""

    def buckets(self) -> list[BucketInfo]:
        """Every bucket."""

    def bucket_delete(self, name: str) -> None:
        """Delete an (empty) bucket; absent buckets are not an error."""

    def utilisation(self, external_id: str, day: date) -> list[float]:
        """Hourly CPU utilisation (0–100) of a node on `day`; empty when the provider has no metrics API."""

    def quotas(self) -> dict[str, int]:
        """Provider-side limits (e.g. instances, vcpus); empty when unknown."""


Factory = Callable[[Mapping[str, Any], Mapping[str, str]], CloudProvider]
REGISTRY: dict[str, Factory] = {}


def register(kind: str) -> Callable[[Factory], Factory]:
    """Decorator: make a factory available under `kind`."""

    def deco(fn: Factory) -> Factory:
        REGISTRY[kind] = fn
        return fn

    return deco


def build(kind: str, config: Mapping[str, Any], credentials: Mapping[str, str]) -> CloudProvider:
    """An adapter for `kind` from public config and decrypted credentials."""
    _load()
    try:
        factory = REGISTRY[kind]
    except KeyError as exc:
        raise ProviderError(f"unknown provider kind {kind!r}") from exc
    return factory(config, credentials)


def kinds() -> list[str]:
    """Registered provider kinds."""
    _load()
    return sorted(REGISTRY)


def _load() -> None:
    # Importing the modules runs their @register decorators.
    from cityhub.cloud.plugins import dummy, libcloud_providers  # noqa: F401  # imported for their @register side effect
