"""Routes Alibaba calls to their endpoint before the console sees them (aliyun-wire §1.1).

`POST /` is the console's home page too. Only a POST to `/` that names an action (the
`x-acs-action` header or the `Action` query parameter) is an Alibaba call; anything else goes
on to the console, CSRF checks included. Placed before CsrfViewMiddleware and after
CommonMiddleware, so ALLOWED_HOSTS still applies.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from engine.aliyun.views import endpoint


def is_aliyun_call(request: HttpRequest) -> bool:
    return (
        request.path_info == "/"
        and request.method == "POST"
        and ("HTTP_X_ACS_ACTION" in request.META or "Action" in request.GET)
    )


class AliyunRouteMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_aliyun_call(request):
            return endpoint(request)
        return self.get_response(request)
