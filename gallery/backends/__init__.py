"""The console's backends: one seam (`base.Backend`), one implementation per kind of
application, and the one factory every backend call goes through (`backend_for`)."""

from __future__ import annotations

from gallery.backends.aliyun import AliyunBackend
from gallery.backends.baidu import BaiduBackend
from gallery.backends.base import Backend
from gallery.backends.builtin import BuiltinBackend
from gallery.backends.builtin_aliyun import BuiltinAliyunBackend
from gallery.models import Application

_KINDS: dict[str, type[Backend]] = {
    Application.Backend.BUILTIN: BuiltinBackend,
    Application.Backend.BAIDU: BaiduBackend,
    Application.Backend.BUILTIN_ALIYUN: BuiltinAliyunBackend,
    Application.Backend.ALIYUN: AliyunBackend,
}


def backend_class(kind: str) -> type[Backend]:
    """The implementation for a kind of application (`Application.backend`)."""
    return _KINDS[kind]


def backend_for(application: Application, *, interactive: bool = False) -> Backend:
    """The backend of an application. `interactive`: a person waits, so time out sooner."""
    return backend_class(application.backend)(application, interactive=interactive)
