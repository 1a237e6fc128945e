"""The Alibaba wire's one endpoint, `POST /` (aliyun-wire §1): authenticate, pick the action,
find the instance, admit under its QPS, run the operation; every answer JSON with RequestId."""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from engine import throttle
from engine.aliyun.auth import authenticate, query_pairs
from engine.aliyun.errors import AliyunError
from engine.aliyun.operations import OPERATIONS, Call
from engine.aliyun.params import Params, form_pairs
from engine.models import AliyunInstance
from wire.aliyun import VERSION

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json;charset=utf-8"
# Query parameters of the v2 signature itself, not of the operation (aliyun-wire §2.3).
_V2_SYSTEM = frozenset(
    {
        "Action",
        "Format",
        "Version",
        "Timestamp",
        "SignatureNonce",
        "SignatureMethod",
        "SignatureVersion",
        "AccessKeyId",
        "Signature",
    }
)


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def action_of(request: HttpRequest) -> str:
    return request.META.get("HTTP_X_ACS_ACTION") or request.GET.get("Action", "")


def error_response(request_id: str, error: AliyunError) -> JsonResponse:
    body = {"RequestId": request_id, "Code": error.code, "Message": error.message}
    return JsonResponse(body, status=error.status, content_type=CONTENT_TYPE)


@csrf_exempt
def endpoint(request: HttpRequest) -> JsonResponse:
    request_id = new_request_id()
    action = action_of(request)
    try:
        # Read first: a body left unread on a keep-alive connection drops the next request.
        body = request.body
    except RequestDataTooBig:
        body = None
    try:
        answer = _handle(request, action, body)
    except AliyunError as error:
        return error_response(request_id, error)
    except throttle.Unavailable as exc:
        log.warning("aliyun %s: QPS window unavailable (%s): %s", action, request_id, exc)
        return error_response(request_id, AliyunError("UnknownException"))
    except OperationalError:
        log.exception("aliyun %s: database unavailable (%s)", action, request_id)
        return error_response(request_id, AliyunError("UnknownException"))
    except Exception:
        log.exception("aliyun %s failed (%s)", action, request_id)
        return error_response(request_id, AliyunError("UnknownException"))
    return JsonResponse({"RequestId": request_id, **answer}, content_type=CONTENT_TYPE)


def _handle(request: HttpRequest, action: str, body: bytes | None) -> dict[str, object]:
    if body is None:
        raise AliyunError("BadRequest")  # over DATA_UPLOAD_MAX_MEMORY_SIZE
    query = query_pairs(request.META.get("QUERY_STRING", ""))
    form = form_pairs(request.META.get("CONTENT_TYPE", ""), body)
    app = authenticate(request, body, form)
    operation = OPERATIONS.get(action)
    if operation is None:
        raise AliyunError("UnsupportedOperationType")
    version = request.META.get("HTTP_X_ACS_VERSION") or request.GET.get("Version")
    if version != VERSION:
        raise AliyunError("UnsupportedOperationType")
    params = Params([(k, v) for k, v in query if k not in _V2_SYSTEM], form)
    instance = (
        AliyunInstance.objects.select_related("library")
        .filter(owner=app, name=params.instance_name())
        .first()
    )
    if instance is None:
        raise AliyunError("InvalidInstance")
    if not throttle.admit(f"aliyun.{instance.pk}", instance.qps):
        raise AliyunError("DeniedRequest")
    return operation(Call(instance=instance, params=params))
