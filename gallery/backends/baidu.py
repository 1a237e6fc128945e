"""Baidu AI Cloud Image Search behind the seam, through the one Baidu wire client.

The hosted service and the built-in engine speak the same wire, so both use the client built
here (`baidu_client`); the built-in backend only adds what the engine can do in-process.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from typing import ClassVar

from django.core.files.storage import default_storage
from PIL import Image as PILImage

from gallery.backends.base import ApiChanges, Backend, Codes, Hit, HitPage, Keys, Stored
from gallery.backends.calls import call_save, http_session, rate_limiter, request_timeout
from gallery.labels import Labels
from gallery.models import Application, Image, Library
from gallery.pictures import PictureFields
from searchapi.baidu import BaiduClient, BaiduError, CallRecord, Credentials

log = logging.getLogger(__name__)

HOSTED_URL = "https://aip.baidubce.com"
# Codes that say nothing about the library: the probe could not get that far.
PROBE_INCONCLUSIVE = frozenset({6, 13, 14, 15, 17, 18, 100, 110, 111, 216110})


def _recorder(application_id: int) -> Callable[[CallRecord], None]:
    def record(call: CallRecord) -> None:
        call_save(
            application_id,
            service=call.service,
            operation=call.operation,
            error_code=call.error_code,
            error_msg=call.error_msg,
            latency_ms=call.latency_ms,
            log_id=call.log_id,
            retried=call.retried,
            qps_retries=call.qps_retries,
        )

    return record


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
        timeout=request_timeout(interactive),
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
    def add(self, library: Library, row: Image, *, image: bytes) -> Stored:
        labels = Labels.of(row)
        ref = self.client.add(
            library.service,
            image=image,
            brief=row.brief,
            tags=labels.tags,
            class_id1=labels.class_id1,
            class_id2=labels.class_id2,
        )
        return Stored(ref)

    def search(
        self,
        library: Library,
        *,
        image: bytes,
        labels: Labels = Labels(),
        tag_logic: int | None = None,
        pn: int = 0,
        rn: int = 50,
    ) -> HitPage:
        page = self.client.search(
            library.service,
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
        library: Library,
        *,
        ref: str | None = None,
        image: bytes | None = None,
        brief: str | None = None,
        labels: Labels | None = None,
        picture: PictureFields | None = None,
    ) -> None:
        # As on the wire, None (and empty tags) leaves a stored value as it is; a Baidu library
        # has no pictures, so `picture` is never given here.
        labels = labels or Labels()
        self.client.update(
            library.service,
            cont_sign=ref,
            image=image,
            brief=brief,
            tags=labels.tags or None,
            class_id1=labels.class_id1,
            class_id2=labels.class_id2,
        )

    def delete(self, library: Library, rows: Sequence[Image]) -> None:
        signed = [row.cont_sign for row in rows if row.cont_sign]
        if signed:
            self._ignore_gone(lambda: self.client.delete(library.service, cont_signs=signed))
        for row in rows:
            if not row.cont_sign:
                with default_storage.open(str(row.original.name), "rb") as handle:
                    data = handle.read()
                self._ignore_gone(lambda data=data: self.client.delete(library.service, image=data))  # type: ignore[misc]

    def _ignore_gone(self, call: Callable[[], None]) -> None:
        try:
            call()
        except BaiduError as exc:
            if exc.error_code != self.codes.gone:
                raise

    # --- libraries -------------------------------------------------------------------------
    def library_verify(self, library: Library) -> None:
        """A search with a probe image: 216017 says the library was never created on Baidu."""
        try:
            self.search(library, image=probe_image(), rn=1)
        except BaiduError as exc:
            if exc.error_code == self.codes.not_created or exc.error_code in PROBE_INCONCLUSIVE:
                raise
            if not isinstance(exc.error_code, int):
                raise
            # Any other answer (an image-level error, say) came from a library that exists.

    def library_provision(self, library: Library) -> None:
        """Nothing to do: Baidu's console created the library."""

    def library_capacity_provision(self, library: Library, capacity: int) -> None:
        """Nothing to do: the capacity is bought in Baidu's console; Tuku records it."""

    def library_empty(self, library: Library) -> bool:
        return False

    def library_drop(self, library: Library) -> None:
        """Nothing to do: the library stays in Baidu's console (Tuku deleted its images)."""

    def library_size(self, library: Library) -> int | None:
        return None

    def api_seq(self, library: Library) -> int | None:
        return None

    def api_changes(self, library: Library, *, after_seq: int) -> ApiChanges | None:
        return None

    def refs(self, library: Library) -> set[str]:
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
            timeout=request_timeout(interactive=True),
            session=http_session(public_only=True),
        )
        return client.detect_auth_mode()

    def application_provision(self, *, services: Sequence[str], qps: int) -> None:
        """Nothing to do: the services are ticked in Baidu's console as well."""

    def application_rename(self, *, name: str) -> None:
        """Nothing to do: the name in Baidu's console is not Tuku's to change."""

    def application_drop(self) -> None:
        """Nothing to do: the application and its keys stay in Baidu's console."""

    def secret_rotate(self) -> str:
        raise NotImplementedError("the Secret Key of a Baidu application is rotated by Baidu")
