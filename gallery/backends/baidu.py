"""Baidu AI Cloud Image Search behind the seam, through the one Baidu wire client.

The hosted service and the built-in engine speak the same wire, so both use the client built
here (`baidu_client`); the built-in backend only adds what the engine can do in-process.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from functools import cache
from typing import ClassVar

import requests
from django.conf import settings
from PIL import Image as PILImage

from gallery.backends.base import ApiChanges, Backend, Codes, Hit, HitPage, Keys
from gallery.labels import Labels
from gallery.models import ApiCall, Application
from searchapi.baidu import BaiduClient, BaiduError, CallRecord, Credentials
from searchapi.throttle import FileRateLimiter, RateLimiter, RedisRateLimiter
from searchapi.transport import vetted_session
from wire import urlfetch

log = logging.getLogger(__name__)

HOSTED_URL = "https://aip.baidubce.com"
# Codes that say nothing about the library: the probe could not get that far.
PROBE_INCONCLUSIVE = frozenset({6, 13, 14, 15, 17, 18, 100, 110, 111, 216110})


@cache
def rate_limiter() -> RateLimiter:
    # Shared by every worker process: through Redis across hosts, through a lock file on one host.
    if settings.REDIS_URL:
        return RedisRateLimiter(settings.REDIS_URL)
    return FileRateLimiter(settings.DATA_DIR / "throttle")


def http_session(*, public_only: bool) -> requests.Session:
    """The HTTP session for backend calls (tests mount a transport for the hosted endpoint).

    A hosted backend's base URL comes from a user, so its calls connect to public addresses
    only, unless the operator allows private backends; the built-in engine is at ENGINE_URL,
    which the operator set."""
    if public_only and not settings.BACKEND_ALLOW_PRIVATE:
        return vetted_session(urlfetch.is_public)
    return requests.Session()


def _recorder(application_id: int) -> Callable[[CallRecord], None]:
    def record(call: CallRecord) -> None:
        try:
            ApiCall.objects.create(
                application_id=application_id,
                service=call.service,
                operation=call.operation,
                error_code="" if call.error_code is None else str(call.error_code),
                error_msg=call.error_msg[:255],
                latency_ms=call.latency_ms,
                log_id=call.log_id,
            )
        except Exception:
            # The call log is a record, not a reason to fail the operation it describes.
            log.exception("could not record a call of application %s", application_id)

    return record


def _timeout(interactive: bool) -> tuple[float, float]:
    connect, read = settings.BACKEND_TIMEOUT
    return connect, min(read, 15.0) if interactive else read


def baidu_client(application: Application, *, interactive: bool = False) -> BaiduClient:
    """The one place a Baidu wire client is made for an application."""
    return BaiduClient(
        base_url=application.endpoint,
        credentials=Credentials(
            app_id=application.app_id,
            api_key=application.api_key,
            secret_key=application.secret_key,
        ),
        auth_mode="sign" if application.auth_mode == Application.AuthMode.SIGN else "token",
        qps=application.qps,
        limiter=rate_limiter(),
        limiter_key=f"tuku-app-{application.pk}",
        timeout=_timeout(interactive),
        on_call=_recorder(application.pk),
        session=http_session(public_only=application.backend == Application.Backend.BAIDU),
    )


def probe_image() -> bytes:
    """A textured 320 px JPEG that every service's limits accept."""
    picture = PILImage.effect_noise((320, 320), 64).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


class BaiduBackend(Backend):
    """The hosted service: libraries are applied for in Baidu's console and registered here."""

    codes: ClassVar[Codes] = Codes(
        exists=216681, gone=216680, full=19, bad_keys=14, not_created=216017
    )
    issues_keys: ClassVar[bool] = False
    provisions_libraries: ClassVar[bool] = False
    default_base_url: ClassVar[str] = HOSTED_URL
    # Baidu's paid tier: the hosted service answers 18 above what the application pays for.
    default_qps: ClassVar[int] = 10

    def __init__(self, application: Application, *, interactive: bool = False) -> None:
        super().__init__(application, interactive=interactive)
        self.client = baidu_client(application, interactive=interactive)

    # --- images ----------------------------------------------------------------------------
    def add(self, service: str, *, image: bytes, brief: str, labels: Labels) -> str:
        return self.client.add(
            service,
            image=image,
            brief=brief,
            tags=labels.tags,
            class_id1=labels.class_id1,
            class_id2=labels.class_id2,
        )

    def search(
        self,
        service: str,
        *,
        image: bytes,
        labels: Labels = Labels(),
        tag_logic: int | None = None,
        pn: int = 0,
        rn: int = 50,
    ) -> HitPage:
        page = self.client.search(
            service,
            image=image,
            tags=labels.tags,
            tag_logic=tag_logic if labels.tags else None,
            class_id1=labels.class_id1,
            class_id2=labels.class_id2,
            pn=pn,
            rn=rn,
        )
        hits = [Hit(hit.cont_sign, hit.score, hit.brief) for hit in page.hits]
        return HitPage(hits, page.has_more)

    def update(
        self,
        service: str,
        *,
        ref: str | None = None,
        image: bytes | None = None,
        brief: str | None = None,
        labels: Labels | None = None,
    ) -> None:
        # As on the wire, None (and empty tags) leaves a stored value as it is.
        labels = labels or Labels()
        self.client.update(
            service,
            cont_sign=ref,
            image=image,
            brief=brief,
            tags=labels.tags or None,
            class_id1=labels.class_id1,
            class_id2=labels.class_id2,
        )

    def delete(self, service: str, *, refs: Sequence[str] = (), image: bytes | None = None) -> None:
        self.client.delete(service, cont_signs=list(refs), image=image)

    # --- libraries -------------------------------------------------------------------------
    def library_verify(self, service: str) -> None:
        """A search with a probe image: 216017 says the library was never created on Baidu."""
        try:
            self.search(service, image=probe_image(), rn=1)
        except BaiduError as exc:
            if exc.error_code == self.codes.not_created or exc.error_code in PROBE_INCONCLUSIVE:
                raise
            if not isinstance(exc.error_code, int):
                raise
            # Any other answer (an image-level error, say) came from a library that exists.

    def library_provision(self, service: str, capacity: int) -> None:
        """Nothing to do: Baidu's console created the library."""

    def library_capacity_provision(self, service: str, capacity: int) -> None:
        """Nothing to do: the capacity is bought in Baidu's console; Tuku records it."""

    def library_empty(self, service: str) -> bool:
        return False

    def library_size(self, service: str) -> int | None:
        return None

    def api_seq(self, service: str) -> int | None:
        return None

    def api_changes(self, service: str, *, after_seq: int) -> ApiChanges | None:
        return None

    def refs(self, service: str) -> set[str]:
        raise NotImplementedError("the hosted service has no listing")

    # --- the application -------------------------------------------------------------------
    @classmethod
    def keys_issue(cls, *, name: str, services: Sequence[str], qps: int) -> Keys:
        raise NotImplementedError("Baidu issues keys in its own console")

    @classmethod
    def keys_verify(cls, *, base_url: str, keys: Keys) -> str:
        client = BaiduClient(
            base_url=base_url or HOSTED_URL,
            credentials=Credentials(
                app_id=keys.app_id, api_key=keys.api_key, secret_key=keys.secret_key
            ),
            auth_mode="auto",
            qps=2,
            limiter=rate_limiter(),
            limiter_key=f"tuku-probe-{keys.api_key}",
            timeout=_timeout(interactive=True),
            session=http_session(public_only=True),
        )
        return client.detect_auth_mode()

    def application_provision(self, *, services: Sequence[str], qps: int) -> None:
        """Nothing to do: the services are ticked in Baidu's console as well."""

    def secret_rotate(self) -> str:
        raise NotImplementedError("the Secret Key of a Baidu application is rotated by Baidu")
