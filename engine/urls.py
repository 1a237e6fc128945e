"""Wire paths (spec §2). Registered without trailing slashes and resolved exactly, so
APPEND_SLASH never redirects them; anything else under /rest/2.0/ answers error 3."""

from django.urls import re_path

from engine import views

OPS = r"(?P<op>add|search|update|delete)"

urlpatterns = [
    re_path(r"^oauth/2\.0/token/?$", views.token, name="engine-token"),
    re_path(rf"^rest/2\.0/realtime_search/(?P<service>same_hq)/{OPS}$", views.api),
    re_path(
        rf"^rest/2\.0/image-classify/v1/realtime_search/"
        rf"(?P<service>same_hq|similar|product|materiel)/{OPS}$",
        views.api,
    ),
    re_path(
        rf"^rest/2\.0/imagesearch/v1/realtime_search/(?P<service>picturebook)/{OPS}$", views.api
    ),
    re_path(r"^rest/2\.0/", views.unsupported),
]
