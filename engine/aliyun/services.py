"""Administration of Alibaba AccessKey pairs and instances (aliyun-wire §4.1), headless."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from engine import services
from engine.aliyun.operations import SERVICE_OF_TYPE
from engine.errors import EngineInvalidError, EngineNotFoundError
from engine.models import AliyunInstance, EngineApp, EngineLibrary
from wire.aliyun import CAPACITY_UNIT, MAX_INSTANCE_NAME, QPS_TIERS


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    access_key_secret: str


def access_key_create(*, name: str) -> AccessKey:
    """An EngineApp with no Baidu service: its API Key and Secret Key are the pair."""
    credentials = services.engine_app_create(name=name, services=[], qps=0)
    return AccessKey(credentials.api_key, credentials.secret_key)


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
