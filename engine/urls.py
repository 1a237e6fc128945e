"""Wire paths (baidu-wire §2), built from ``wire.baidu``. Registered without trailing slashes
and resolved exactly, so APPEND_SLASH never redirects them; anything else under /rest/2.0/
answers error 3."""

import re

from django.urls import URLPattern, re_path

from engine import views
from wire.baidu import ALTERNATE_PATHS, API_PATHS, API_ROOT, OPERATIONS, SERVICES, TOKEN_PATH


def _route(path: str) -> str:
    """A path of the wire as an exact URL pattern (Django matches without the leading /)."""
    return re.escape(path.removeprefix("/"))


def _api(service: str, path: str) -> URLPattern:
    return re_path(
        rf"^{_route(path)}(?P<op>{'|'.join(OPERATIONS)})$", views.api, {"service": service}
    )


urlpatterns = [
    re_path(rf"^{_route(TOKEN_PATH)}/?$", views.token, name="engine-token"),
    *(_api(service, API_PATHS[service]) for service in SERVICES),
    *(_api(service, path) for service, path in ALTERNATE_PATHS.items()),
    re_path(rf"^{_route(API_ROOT)}", views.unsupported),
]
