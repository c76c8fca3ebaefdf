"""Provider adapters: the dummy/local provider, EC2/S3 against a moto server on loopback, OpenStack and Alibaba.

adapters constructed and configured (no outside API is called for those two).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cityhub.cloud import plugins
from cityhub.cloud.plugins import CloudProvider, ProviderError
from cityhub.cloud.plugins.dummy import DummyProvider, daily_curve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server (EC2 + S3) on a free loopback port."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _lifecycle(p: CloudProvider, size_id: str, image: str) -> None:
    node = p.node_create("chub-plugin-test", size_id, image)
    assert node.external_id and node.name == "chub-plugin-test"
    assert node.external_id in {n.external_id for n in p.nodes()}
    p.node_stop(node.external_id)
    p.node_start(node.external_id)
    p.node_destroy(node.external_id)
    assert node.external_id not in {n.external_id for n in p.nodes() if n.state != "terminated"}
    p.bucket_create("chub-plugin-bucket")
    assert "chub-plugin-bucket" in {b.name for b in p.buckets()}
    p.bucket_delete("chub-plugin-bucket")
    assert "chub-plugin-bucket" not in {b.name for b in p.buckets()}


def test_dummy_provider_lifecycle_and_persistence(tmp_path: Path) -> None:
    p = plugins.build("dummy", {"root": str(tmp_path)}, {})
    assert isinstance(p, CloudProvider) and isinstance(p, DummyProvider)
    assert {s.id for s in p.sizes()} >= {"ecs.s1", "ecs.l1"} and p.images() and p.regions()
    _lifecycle(p, "ecs.s1", "img-kylin-v10")
    kept = p.node_create("chub-kept", "ecs.m1", "img")
    again = plugins.build("dummy", {"root": str(tmp_path)}, {})  # another process would see the same state
    assert [(n.name, n.vcpus) for n in again.nodes()] == [("chub-kept", 4)]
    vol = again.volume_create("v", 20)
    assert vol.external_id in {v.external_id for v in again.volumes()}
    again.volume_destroy(vol.external_id)
    assert again.volumes() == []
    with pytest.raises(ProviderError):
        again.node_create("x", "no-such-size", "img")
    assert kept.external_id


def test_dummy_curves_are_daily_and_some_nodes_idle() -> None:
    days = [daily_curve(f"node-{i}", date(2026, 3, 4)) for i in range(100)]
    assert all(len(d) == 24 and all(0 <= v <= 100 for v in d) for d in days)
    assert all(max(d[9:17]) >= max(d[0:5]) for d in days)  # office hours peak
    idle = sum(1 for d in days if sum(d) / 24 < 10)
    assert 5 <= idle <= 40
    assert daily_curve("n", date(2026, 3, 4)) == daily_curve("n", date(2026, 3, 4))


def test_ec2_s3_against_moto(moto_endpoint: str) -> None:
    p = plugins.build("ec2", {"endpoint": moto_endpoint, "region": "us-east-1"},
                      {"access_key": "AKIDTEST", "secret_key": "not-a-real-secret"})
    assert p.kind == "ec2"
    assert any(s.id == "t2.micro" for s in p.sizes())
    _lifecycle(p, "t2.micro", "ami-12c6146b")
    vol = p.volume_create("data", 10)
    assert vol.external_id in {v.external_id for v in p.volumes()}
    p.volume_destroy(vol.external_id)
    assert p.utilisation("i-1", date(2026, 1, 1)) == [] and p.quotas() == {}


def test_ec2_errors_become_provider_errors(moto_endpoint: str) -> None:
    p = plugins.build("ec2", {"endpoint": moto_endpoint}, {"access_key": "AKIDTEST", "secret_key": "s"})
    with pytest.raises(ProviderError, match="unknown size"):
        p.node_create("x", "no-such-type", "ami-12c6146b")
    down = plugins.build("ec2", {"endpoint": f"http://127.0.0.1:{_free_port()}"}, {"access_key": "a",
                                                                                  "secret_key": "not-logged"})
    with pytest.raises(ProviderError) as exc:
        down.nodes()
    assert "not-logged" not in str(exc.value)


def test_openstack_and_aliyun_are_constructed_and_configured() -> None:
    # No OpenStack or Alibaba API runs here: these check the libcloud drivers are built with our config.
    os_p: Any = plugins.build("openstack", {"auth_url": "http://127.0.0.1:5000", "project": "gov",
                                            "region": "RegionOne", "swift": True},
                              {"username": "u", "password": "p"})
    assert os_p.kind == "openstack" and type(os_p.compute).__name__.startswith("OpenStack")
    assert os_p.storage is not None
    with pytest.raises(ProviderError):
        plugins.build("openstack", {}, {})
    ali: Any = plugins.build("aliyun", {"region": "cn-hangzhou", "security_group_id": "sg-1", "vswitch_id": "vsw-1"},
                             {"access_key": "a", "secret_key": "b"})
    assert type(ali.compute).__name__ == "ECSDriver" and type(ali.storage).__name__ == "OSSStorageDriver"
    assert ali.compute.region == "cn-hangzhou"
    assert ali.create_kwargs("chub-x") == {"ex_security_group_id": "sg-1", "ex_client_token": "chub-x",
                                           "ex_vswitch_id": "vsw-1"}
    with pytest.raises(ProviderError, match="security_group_id"):
        plugins.build("aliyun", {"region": "cn-hangzhou"}, {"access_key": "a", "secret_key": "b"})
    with pytest.raises(ProviderError):
        plugins.build("nope", {}, {})


def test_openstack_against_a_local_fake_of_keystone_and_nova() -> None:
    from tests.cloud.fake_openstack import FakeOpenStack

    with FakeOpenStack(password="s3cret") as fake:
        p = plugins.build("openstack", {"auth_url": fake.url, "project": "gov", "region": "RegionOne",
                                        "image": "img-1"}, {"username": "cityhub", "password": "s3cret"})
        assert {s.id: s.vcpus for s in p.sizes()} == {"m1.small": 1, "m1.large": 4}
        node = p.node_create("chub-os-1", "m1.small", "img-1")
        assert node.name == "chub-os-1" and node.state == "running"
        p.node_stop(node.external_id)
        assert fake.servers[node.external_id]["status"] == "SHUTOFF"
        assert [n.state for n in p.nodes()] == ["stopped"]
        p.node_start(node.external_id)
        p.node_resize(node.external_id, "m1.large")  # type: ignore[attr-defined]  # optional capability
        assert fake.servers[node.external_id]["flavor"]["id"] == "m1.large"
        p.node_destroy(node.external_id)
        assert p.nodes() == []
        with pytest.raises(ProviderError, match="object storage"):
            p.buckets()
        wrong = plugins.build("openstack", {"auth_url": fake.url, "project": "gov"},
                              {"username": "cityhub", "password": "wrong-password-xyz"})
        with pytest.raises(ProviderError) as exc:
            wrong.nodes()
        assert "wrong-password-xyz" not in str(exc.value)


def test_aliyun_ecs_against_a_local_fake() -> None:
    from tests.cloud.fake_aliyun import FakeEcs

    with FakeEcs() as fake:
        p = plugins.build("aliyun", {"region": "cn-chengdu", "endpoint": fake.url, "security_group_id": "sg-gov",
                                     "vswitch_id": "vsw-gov", "image": "centos_7"},
                          {"access_key": "LTAI-test", "secret_key": "never-shown"})
        assert {s.id: s.vcpus for s in p.sizes()} == {"ecs.g6.large": 2, "ecs.g6.xlarge": 4}
        node = p.node_create("chub-ali-1", "ecs.g6.large", "centos_7")
        assert fake.instances[node.external_id]["status"] == "Running"  # libcloud starts it after CreateInstance
        assert fake.instances[node.external_id]["sg"] == "sg-gov"
        assert [(n.name, n.state) for n in p.nodes()] == [("chub-ali-1", "running")]
        create = next(c for c in fake.calls if c["Action"] == "CreateInstance")
        assert create["ClientToken"] == "chub-ali-1" and create["VSwitchId"] == "vsw-gov"
        assert p.node_create("chub-ali-1", "ecs.g6.large", "centos_7").external_id == node.external_id  # idempotent
        p.node_stop(node.external_id)
        assert [n.state for n in p.nodes()] == ["stopped"]
        p.node_start(node.external_id)
        p.node_destroy(node.external_id)
        assert p.nodes() == [] and fake.instances == {}
        with pytest.raises(ProviderError) as exc:
            p.node_stop("i-missing")
        assert "never-shown" not in str(exc.value)
