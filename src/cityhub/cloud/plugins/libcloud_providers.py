"""Real-cloud adapters on Apache Libcloud: EC2/S3-compatible, OpenStack (Nova/Swift), Alibaba ECS/OSS.

One generic adapter wraps a libcloud compute driver and an optional storage driver; each kind only says how to
build them from an account's public config and its decrypted credentials. Every libcloud/HTTP failure becomes a
`ProviderError` whose message names the operation (never the credentials).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from libcloud.common.exceptions import BaseHTTPError
from libcloud.compute.base import NodeDriver, NodeImage, StorageVolume
from libcloud.compute.drivers.ec2 import NAMESPACE, EC2Connection, EC2NodeDriver, EC2Response
from libcloud.storage.base import StorageDriver

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

T = TypeVar("T")


def _safe(op: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ProviderError:
        raise
    except Exception as exc:  # any driver/HTTP/parse error of an outside system
        raise ProviderError(f"{op} failed: {type(exc).__name__}: {str(exc)[:200]}") from exc


class LibcloudProvider:
    """The Protocol over a libcloud compute driver (+ storage driver)."""

    def __init__(self, kind: str, compute: NodeDriver, storage: StorageDriver | None = None,
                 default_image: str = "", create_kwargs: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.kind = kind
        # Provider-specific create arguments (e.g. ECS security group, vSwitch and client token) by node name.
        self.create_kwargs = create_kwargs or (lambda _name: {})
        # libcloud's own annotations are partial and disagree with its behaviour (e.g. optional names): Any.
        self.compute: Any = compute
        self.storage: Any = storage
        self.default_image = default_image

    def regions(self) -> list[RegionInfo]:
        """Locations of the compute driver."""
        return _safe("list regions", lambda: [RegionInfo(str(loc.id), str(loc.name))
                                              for loc in self.compute.list_locations()])

    def sizes(self) -> list[SizeInfo]:
        """Flavors."""
        def vcpus(s: Any) -> int:
            extra = s.extra or {}
            return int(getattr(s, "vcpus", None) or extra.get("vcpu") or extra.get("cpu") or extra.get("vcpus")
                       or extra.get("cpu_core_count") or 0)

        def run() -> list[SizeInfo]:
            return [SizeInfo(str(s.id), str(s.name), vcpus(s), int(s.ram or 0), int(s.disk or 0))
                    for s in self.compute.list_sizes()]
        return _safe("list sizes", run)

    def images(self) -> list[ImageInfo]:
        """Images."""
        return _safe("list images", lambda: [ImageInfo(str(i.id), str(i.name)) for i in self.compute.list_images()])

    def _node(self, external_id: str) -> Any:
        node = next((n for n in self.compute.list_nodes() if str(n.id) == external_id), None)
        if node is None:
            raise ProviderError(f"node {external_id} not found")
        return node

    def node_create(self, name: str, size_id: str, image_id: str, region: str | None = None) -> NodeInfo:
        """Create a node."""
        def run() -> NodeInfo:
            size = next((s for s in self.compute.list_sizes() if str(s.id) == size_id), None)
            if size is None:
                raise ProviderError(f"unknown size {size_id!r}")
            image = NodeImage(image_id or self.default_image, image_id, self.compute)
            node = self.compute.create_node(name=name, size=size, image=image, **self.create_kwargs(name))
            if isinstance(node, list):  # some drivers answer a reservation
                if not node:
                    raise ProviderError("create node returned nothing")
                node = node[0]
            return _info(node)
        return _safe("create node", run)

    def node_start(self, external_id: str) -> None:
        """Start."""
        _safe("start node", lambda: self.compute.start_node(self._node(external_id)))

    def node_stop(self, external_id: str) -> None:
        """Stop."""
        _safe("stop node", lambda: self.compute.stop_node(self._node(external_id)))

    def node_resize(self, external_id: str, size_id: str) -> None:
        """Change the flavor (EC2 ex_change_node_size, OpenStack ex_resize)."""
        def run() -> None:
            node = self._node(external_id)
            size = next((s for s in self.compute.list_sizes() if str(s.id) == size_id), None)
            if size is None:
                raise ProviderError(f"unknown size {size_id!r}")
            for name in ("ex_change_node_size", "ex_resize"):
                fn = getattr(self.compute, name, None)
                if fn is not None:
                    fn(node, size)
                    return
            raise ProviderError(f"{self.kind} cannot resize nodes")
        _safe("resize node", run)

    def node_destroy(self, external_id: str) -> None:
        """Destroy (absent is fine)."""
        def run() -> None:
            node = next((n for n in self.compute.list_nodes() if str(n.id) == external_id), None)
            if node is not None:
                self.compute.destroy_node(node)
        _safe("destroy node", run)

    def nodes(self) -> list[NodeInfo]:
        """Every node (terminated ones are left out)."""
        return _safe("list nodes", lambda: [_info(n) for n in self.compute.list_nodes()
                                            if str(n.state) not in ("terminated",)])

    def volume_create(self, name: str, size_gb: int, region: str | None = None) -> VolumeInfo:
        """Create a volume."""
        def run() -> VolumeInfo:
            locs = self.compute.list_locations()
            loc = next((x for x in locs if str(x.id) == region), locs[0] if locs else None)
            v = self.compute.create_volume(size_gb, name, location=loc)
            return VolumeInfo(str(v.id), name, int(v.size or size_gb))
        return _safe("create volume", run)

    def volumes(self) -> list[VolumeInfo]:
        """Every volume."""
        return _safe("list volumes", lambda: [VolumeInfo(str(v.id), str(v.name or ""), int(v.size or 0))
                                              for v in self.compute.list_volumes()])

    def volume_destroy(self, external_id: str) -> None:
        """Destroy a volume."""
        _safe("destroy volume", lambda: self.compute.destroy_volume(StorageVolume(external_id, "", 0, self.compute)))

    def _storage(self) -> Any:
        if self.storage is None:
            raise ProviderError("this account has no object storage configured")
        return self.storage

    def bucket_create(self, name: str) -> BucketInfo:
        """Create a bucket."""
        return _safe("create bucket", lambda: BucketInfo(self._storage().create_container(name).name))

    def buckets(self) -> list[BucketInfo]:
        """Every bucket."""
        return _safe("list buckets", lambda: [BucketInfo(c.name) for c in self._storage().list_containers()])

    def bucket_delete(self, name: str) -> None:
        """Delete a bucket (absent is fine)."""
        def run() -> None:
            st = self._storage()
            container = next((c for c in st.list_containers() if c.name == name), None)
            if container is not None:
                st.delete_container(container)
        _safe("delete bucket", run)

    def utilisation(self, external_id: str, day: date) -> list[float]:
        """Libcloud has no metrics API: the monitoring integration (CloudWatch/CloudMonitor) is not wired."""
        return []

    def quotas(self) -> dict[str, int]:
        """Libcloud exposes no portable quota call."""
        return {}


def _info(node: Any) -> NodeInfo:
    extra = node.extra or {}
    size = getattr(node, "size", None)
    return NodeInfo(external_id=str(node.id), name=str(node.name or ""), state=str(node.state),
                    vcpus=int(extra.get("vcpus") or 0), ram_mb=int(getattr(size, "ram", 0) or 0))


class _CompatEC2Response(EC2Response):
    """Accept EC2-compatible endpoints (moto, several domestic clouds) that drop the namespace's trailing slash."""

    def parse_body(self) -> Any:
        """Normalise the namespace, then parse."""
        if isinstance(self.body, str):
            self.body = self.body.replace(NAMESPACE.rstrip("/") + '"', NAMESPACE + '"')
        return super().parse_body()  # type: ignore[no-untyped-call]  # libcloud method without annotations


class _CompatEC2Connection(EC2Connection):
    responseCls = _CompatEC2Response


class CompatEC2NodeDriver(EC2NodeDriver):
    """EC2 driver tolerant of compatible endpoints."""

    connectionCls = _CompatEC2Connection

    def ex_create_tags(self, resource: Any, tags: dict[str, str]) -> bool:
        """Tags are cosmetic; several compatible endpoints refuse CreateTags on volumes, so failure is not fatal."""
        try:
            return bool(super().ex_create_tags(resource, tags))  # type: ignore[no-untyped-call]  # libcloud
        except BaseHTTPError:
            return False


def _untyped(cls: Any) -> Any:
    """Libcloud constructors lack annotations; call them through Any."""
    return cls


def _endpoint(config: Mapping[str, Any]) -> dict[str, Any]:
    """host/port/secure from an `endpoint` like http://127.0.0.1:9000 (empty: the provider's public endpoint)."""
    from urllib.parse import urlparse

    url = str(config.get("endpoint") or "")
    if not url:
        return {}
    p = urlparse(url)
    if not p.hostname:
        raise ProviderError("endpoint must be a URL like https://host:port")
    secure = p.scheme == "https"
    return {"host": p.hostname, "port": p.port or (443 if secure else 80), "secure": secure}


@register("ec2")
def ec2_factory(config: Mapping[str, Any], credentials: Mapping[str, str]) -> LibcloudProvider:
    """EC2 compute + S3 storage against AWS or any compatible endpoint (config: region, endpoint, image)."""
    from libcloud.storage.drivers.s3 import S3StorageDriver

    key, secret = credentials.get("access_key", ""), credentials.get("secret_key", "")
    region = str(config.get("region") or "us-east-1")
    ep = _endpoint(config)
    compute = _untyped(CompatEC2NodeDriver)(key, secret, region=region, signature_version="4", **ep)
    storage = _untyped(S3StorageDriver)(key, secret, region=region, **ep)
    return LibcloudProvider("ec2", compute, storage, default_image=str(config.get("image") or "ami-12c6146b"))


@register("openstack")
def openstack_factory(config: Mapping[str, Any], credentials: Mapping[str, str]) -> LibcloudProvider:
    """Nova (Huawei/Inspur private clouds expose Nova-compatible APIs) + Swift when `swift` is set."""
    from libcloud.compute.providers import Provider, get_driver

    if not config.get("auth_url"):
        raise ProviderError("OpenStack needs auth_url in the account config")
    cls = get_driver(Provider.OPENSTACK)
    compute = cls(credentials.get("username", ""), credentials.get("password", ""),
                  ex_force_auth_url=str(config["auth_url"]), ex_force_auth_version=str(config.get("auth_version")
                                                                                       or "3.x_password"),
                  ex_tenant_name=str(config.get("project") or ""), ex_domain_name=str(config.get("domain")
                                                                                      or "Default"),
                  ex_force_service_region=str(config.get("region") or "RegionOne"))
    storage = None
    if config.get("swift"):
        from libcloud.storage.providers import get_driver as storage_driver
        from libcloud.storage.types import Provider as SP

        storage = storage_driver(SP.OPENSTACK_SWIFT)(
            credentials.get("username", ""), credentials.get("password", ""),
            ex_force_auth_url=str(config["auth_url"]), ex_force_auth_version=str(config.get("auth_version")
                                                                                 or "3.x_password"),
            ex_tenant_name=str(config.get("project") or ""), ex_force_service_region=str(config.get("region")
                                                                                        or "RegionOne"))
    return LibcloudProvider("openstack", compute, storage, default_image=str(config.get("image") or ""))


@register("aliyun")
def aliyun_factory(config: Mapping[str, Any], credentials: Mapping[str, str]) -> LibcloudProvider:
    """Alibaba Cloud ECS + OSS (config: region e.g. cn-hangzhou, image, security_group_id, vswitch_id, endpoint)."""
    from libcloud.compute.providers import Provider, get_driver
    from libcloud.storage.providers import get_driver as storage_driver
    from libcloud.storage.types import Provider as SP

    key, secret = credentials.get("access_key", ""), credentials.get("secret_key", "")
    region = str(config.get("region") or "cn-hangzhou")
    if not config.get("security_group_id"):
        raise ProviderError("Alibaba ECS needs security_group_id (and usually vswitch_id) in the account config")
    # `endpoint` points at a private Apsara Stack (专有云) ECS endpoint instead of the public one.
    compute = get_driver(Provider.ALIYUN_ECS)(key, secret, region=region, **_endpoint(config))
    storage = storage_driver(SP.ALIYUN_OSS)(key, secret)

    def create_kwargs(name: str) -> dict[str, Any]:
        # ECS ClientToken makes CreateInstance idempotent per cityhub resource name (max 64 ASCII characters).
        kw: dict[str, Any] = {"ex_security_group_id": str(config["security_group_id"]), "ex_client_token": name[:64]}
        if config.get("vswitch_id"):
            kw["ex_vswitch_id"] = str(config["vswitch_id"])
        return kw

    return LibcloudProvider("aliyun", compute, storage, default_image=str(config.get("image") or ""),
                            create_kwargs=create_kwargs)
