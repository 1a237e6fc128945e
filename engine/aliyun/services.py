"""Administration of Alibaba AccessKey pairs and instances (aliyun-wire §4.1), headless."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from engine import services
from engine.aliyun.operations import SERVICE_OF_TYPE
from engine.aliyun.store import pictures_delete
from engine.errors import EngineInvalidError, EngineNotFoundError
from engine.models import AliyunImage, AliyunInstance, EngineApp, EngineLibrary
from wire.aliyun import CAPACITY_UNIT, MAX_INSTANCE_NAME, QPS_TIERS


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    access_key_secret: str
    app_id: str  # of the EngineApp that holds the pair: engine_app_rotate_secret and delete


def access_key_create(*, name: str) -> AccessKey:
    """An EngineApp with no Baidu service: its API Key and Secret Key are the pair."""
    credentials = services.engine_app_create(name=name, services=[], qps=0)
    return AccessKey(credentials.api_key, credentials.secret_key, credentials.app_id)


def _owner(access_key_id: str) -> EngineApp:
    app = EngineApp.objects.filter(api_key=access_key_id).first()
    if app is None:
        raise EngineNotFoundError(f"no AccessKey {access_key_id}")
    return app


def instance_create(
    *,
    access_key_id: str,
    name: str,
    service_type: int,
    capacity: int = CAPACITY_UNIT,
    qps: int = QPS_TIERS[-1],
) -> AliyunInstance:
    if not 1 <= len(name) <= MAX_INSTANCE_NAME:
        raise EngineInvalidError(f"an instance name has 1 to {MAX_INSTANCE_NAME} characters")
    if service_type not in SERVICE_OF_TYPE:
        served = ", ".join(str(t) for t in SERVICE_OF_TYPE)
        raise EngineInvalidError(f"service type {service_type} is not served; served: {served}")
    if qps not in QPS_TIERS:
        raise EngineInvalidError(f"qps is one of {', '.join(str(q) for q in QPS_TIERS)}")
    if capacity < 1:
        raise EngineInvalidError("capacity must be a positive integer")
    owner = _owner(access_key_id)
    try:
        with transaction.atomic():
            library = EngineLibrary.objects.create(
                app=None, service=SERVICE_OF_TYPE[service_type], capacity=capacity
            )
            return AliyunInstance.objects.create(
                owner=owner, name=name, service_type=service_type, qps=qps, library=library
            )
    except IntegrityError:
        raise EngineInvalidError(f"an instance {name} exists already") from None


def instance_delete(*, access_key_id: str, name: str) -> None:
    instance = AliyunInstance.objects.filter(owner=_owner(access_key_id), name=name).first()
    if instance is None:
        raise EngineNotFoundError(f"no instance {name}")
    services.aliyun_instance_drop(instance)


def _instance(access_key_id: str, name: str) -> AliyunInstance:
    instance = (
        AliyunInstance.objects.filter(owner=_owner(access_key_id), name=name)
        .select_related("library")
        .first()
    )
    if instance is None:
        raise EngineNotFoundError(f"no instance {name}")
    return instance


def instance_set_capacity(*, access_key_id: str, name: str, capacity: int) -> None:
    """Raise (or lower) the capacity in images; adds past it fail with InstanceOverQuota."""
    if capacity < 1:
        raise EngineInvalidError("capacity must be a positive integer")
    library_id = _instance(access_key_id, name).library_id
    EngineLibrary.objects.filter(pk=library_id).update(capacity=capacity)


def instance_clear(*, access_key_id: str, name: str) -> int:
    """Remove every picture, including those other clients added. Returns how many."""
    instance = _instance(access_key_id, name)
    count = instance.library.entry_count
    pictures_delete(instance=instance, rows=AliyunImage.objects.filter(instance=instance))
    return count


def instance_count(*, access_key_id: str, name: str) -> int:
    return _instance(access_key_id, name).library.entry_count
