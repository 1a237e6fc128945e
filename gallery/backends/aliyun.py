"""Alibaba Cloud Image Search behind the seam, through the one Alibaba wire client.

A library is an instance, addressed by its name (`Library.instance_name`); an image's ref is the
digest of its (ProductId, PicName) pair (`wire.aliyun.picture_ref`), which the console knows
before the backend answers; the pair and the attributes live on the row's `Picture`. The hosted
service and the built-in engine speak the same wire, so both use the client built here; the
built-in backend adds what the engine does in-process (`gallery/backends/builtin_aliyun.py`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from gallery.backends.base import ApiChanges, Backend, Codes, Hit, HitPage, Keys, Stored
from gallery.backends.calls import call_save, http_session, rate_limiter, request_timeout
from gallery.labels import Labels
from gallery.models import SERVICE_OF_TYPE, Application, Image, ImageStatus, Library, Picture
from gallery.pictures import PictureFields
from searchapi.aliyun import (
    AliyunClient,
    AliyunError,
    Attributes,
    Auction,
    Box,
    CallRecord,
    Credentials,
    SearchResult,
)
from wire.aliyun import MAX_NUM, MAX_RESULTS, hosted_endpoint, picture_ref

DEFAULT_REGION = "cn-shanghai"


def aliyun_client(application: Application, *, interactive: bool = False) -> AliyunClient:
    """The one place an Alibaba wire client is made for an application."""
    return AliyunClient(
        endpoint=application.endpoint or hosted_endpoint(application.region or DEFAULT_REGION),
        credentials=Credentials(
            access_key_id=application.api_key, access_key_secret=application.secret_key
        ),
        region_id=application.region or DEFAULT_REGION,
        qps=application.qps,
        limiter=rate_limiter(),
        limiter_key=f"tuku-app-{application.pk}",
        timeout=request_timeout(interactive),
        on_call=_recorder(application.pk),
        session=http_session(public_only=not application.builtin),
    )


@dataclass(frozen=True)
class PictureQuery:
    """The options of a search of an instance (aliyun-wire §5): a category (product
    instances), the subject (`crop` to detect it, or the caller's `region`), a §5.3 `filter`,
    one picture per product (`distinct`), a score `threshold`, and the window."""

    category_id: int | None = None
    crop: bool = True
    region: Box | None = None
    filter: str = ""
    distinct: bool = False
    threshold: float | None = None
    start: int = 0
    num: int = 20


def _recorder(application_id: int) -> Callable[[CallRecord], None]:
    def record(call: CallRecord) -> None:
        call_save(
            application_id,
            service=call.instance,
            operation=call.operation,
            error_code=call.error_code,
            error_msg=call.error_msg,
            latency_ms=call.latency_ms,
            retried=call.retried,
            qps_retries=call.qps_retries,
        )

    return record


def attributes_of(picture: Picture) -> Attributes:
    return Attributes(
        int_attrs=picture.int_attrs,
        str_attrs=picture.str_attrs,
        custom_content=picture.custom_content,
    )


def region_text(box: tuple[int, int, int, int] | None) -> str:
    return "" if box is None else ",".join(str(v) for v in box)


class AliyunBackend(Backend):
    """The hosted service: instances are bought in Alibaba's console and registered here."""

    # "exists" never comes: adding a stored pair replaces it. An update of a pair the instance
    # does not hold is BadRequest on the wire, which says nothing more specific, so nothing is
    # taken as "gone" but a delete's, which succeeds anyway.
    codes: ClassVar[Codes] = Codes(
        exists="",
        gone="",
        full="InstanceOverQuota",
        bad_keys="NoPermission",
        not_created="InvalidInstance",
    )
    issues_keys: ClassVar[bool] = False
    provisions_libraries: ClassVar[bool] = False
    default_base_url: ClassVar[str] = ""  # follows the region (hosted_endpoint)
    # The highest QPS tier of an instance; a lower tier answers DeniedRequest, which the
    # client backs off from.
    default_qps: ClassVar[int] = 10
    add_replaces: ClassVar[bool] = True

    def __init__(self, application: Application, *, interactive: bool = False) -> None:
        super().__init__(application, interactive=interactive)
        self.client = aliyun_client(application, interactive=interactive)

    # --- images ----------------------------------------------------------------------------
    def add(self, library: Library, row: Image, *, image: bytes) -> Stored:
        picture = row.picture
        info = self.client.add_image(
            library.instance_name,
            product_id=picture.product_id,
            pic_name=picture.pic_name,
            image=image,
            category_id=picture.category_id,
            attributes=attributes_of(picture),
        )
        return Stored(
            ref=picture_ref(picture.product_id, picture.pic_name),
            category_id=info.category_id,
            region=region_text(info.region),
        )

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
        num = min(rn, MAX_NUM)
        result = self.client.search_image_by_pic(
            library.instance_name, image=image, start=pn, num=num
        )
        hits = [
            Hit(picture_ref(a.product_id, a.pic_name), a.score or 0.0, a.pic_name)
            for a in result.auctions
        ]
        return HitPage(hits, pn + len(hits) < result.docs_return)

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
        """Send a picture's attributes and custom content under its pair (Alibaba has no brief
        or tags: the pair is fixed, the attributes are what changes): the edit `picture`, or
        without one what the row's Picture holds. Absent values (None, "") are left as the
        instance stores them: the wire cannot clear one."""
        if picture is None:
            # The live row of the ref: a replaced picture leaves a tombstone of the same ref.
            stored = Picture.objects.exclude(image__status=ImageStatus.DELETED).get(
                image__library=library, image__cont_sign=ref
            )
            product_id, pic_name = stored.product_id, stored.pic_name
            attributes = attributes_of(stored)
        else:
            product_id, pic_name = picture.product_id, picture.pic_name
            attributes = attributes_of(picture.picture())
        self.client.update_image(
            library.instance_name,
            product_id=product_id,
            pic_name=pic_name,
            attributes=attributes,
        )

    def delete(self, library: Library, rows: Sequence[Image]) -> None:
        # By pair, whether or not the add was answered: the pair is known beforehand, and
        # deleting a pair the instance does not hold succeeds.
        for row in rows:
            picture = row.picture
            self.client.delete_image(
                library.instance_name, product_id=picture.product_id, pic_name=picture.pic_name
            )

    # --- what only Alibaba's wire does ------------------------------------------------------
    def search_pictures(
        self,
        library: Library,
        *,
        query: PictureQuery,
        image: bytes | None = None,
        named: Picture | None = None,
    ) -> SearchResult:
        """SearchImageByPic with `image`, or SearchImageByName with a stored picture."""
        if named is not None:
            return self.client.search_image_by_name(
                library.instance_name,
                product_id=named.product_id,
                pic_name=named.pic_name,
                category_id=query.category_id,
                filter=query.filter or None,
                distinct_product_id=query.distinct,
                score_threshold=query.threshold,
                start=query.start,
                num=query.num,
            )
        return self.client.search_image_by_pic(
            library.instance_name,
            image=image or b"",
            crop=query.crop,
            region=query.region,
            category_id=query.category_id,
            filter=query.filter or None,
            distinct_product_id=query.distinct,
            score_threshold=query.threshold,
            start=query.start,
            num=query.num,
        )

    def pictures_by_filter(
        self, library: Library, *, filter: str, limit: int = MAX_RESULTS
    ) -> tuple[list[Auction], bool]:
        """The stored pictures matching a §5.3 `filter`, in pages of MAX_NUM up to `limit`
        (the wire's window ends at MAX_RESULTS); and whether the instance may hold more."""
        found: list[Auction] = []
        while len(found) < limit:
            num = min(MAX_NUM, limit - len(found))
            page = self.client.search_image_by_filter(
                library.instance_name, filter=filter, start=len(found), num=num
            )
            found += page
            if len(page) < num:
                return found, False
        return found, True

    def pictures_delete(
        self, library: Library, *, product_id: str | None = None, filter: str | None = None
    ) -> list[str]:
        """DeleteImage of every picture of a product, or of every picture matching a §5.3
        `filter`, whoever added them; the PicNames deleted."""
        if filter is not None:
            return self.client.delete_image(library.instance_name, filter=filter)
        return self.client.delete_image(library.instance_name, product_id=product_id)

    def picture_exists(self, library: Library, *, product_id: str, pic_name: str) -> Auction | None:
        return self.client.check_image_exists(
            library.instance_name, product_id=product_id, pic_name=pic_name
        )

    def compare(self, library: Library, *, first: bytes, second: bytes) -> float:
        return self.client.compare_similar_by_image(
            library.instance_name, primary=first, secondary=second
        )

    # --- libraries -------------------------------------------------------------------------
    def library_verify(self, library: Library) -> None:
        """Detail: the instance exists for these keys; its type and capacity are Alibaba's."""
        instance = self.client.detail(library.instance_name)
        service = SERVICE_OF_TYPE.get(instance.service_type)
        if service is None:
            served = ", ".join(str(t) for t in SERVICE_OF_TYPE)
            raise AliyunError(
                "UnsupportedInstanceType",
                f"service type {instance.service_type} is not one Tuku serves ({served})",
                retryable=False,
            )
        library.service = service
        library.capacity = max(1, instance.capacity)

    def library_provision(self, library: Library) -> None:
        """Nothing to do: Alibaba's console created the instance."""

    def library_capacity_provision(self, library: Library, capacity: int) -> None:
        """Nothing to do: the capacity is bought in Alibaba's console; Tuku records it."""

    def library_empty(self, library: Library) -> bool:
        return False

    def library_drop(self, library: Library) -> None:
        """Nothing to do: the instance stays in Alibaba's console (Tuku deleted its pictures)."""

    def library_size(self, library: Library) -> int | None:
        """None: Detail would tell, but a listing page must not wait for the hosted service,
        nor spend the instance's QPS, on every view."""
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
        raise NotImplementedError("Alibaba issues AccessKeys in its own console")

    @classmethod
    def keys_verify(cls, *, base_url: str, keys: Keys) -> str:
        """Detail of an instance name nobody chose: InvalidInstance means the keys passed the
        signature check, which comes first, and NoPermission that they did not."""
        client = AliyunClient(
            endpoint=base_url or hosted_endpoint(keys.region or DEFAULT_REGION),
            credentials=Credentials(access_key_id=keys.api_key, access_key_secret=keys.secret_key),
            region_id=keys.region or DEFAULT_REGION,
            qps=1,
            limiter=rate_limiter(),
            limiter_key=f"tuku-probe-{keys.api_key}",
            timeout=request_timeout(True),
            session=http_session(public_only=True),
        )
        try:
            client.detail(f"tuku-probe-{secrets.token_hex(4)}")
        except AliyunError as exc:
            if exc.error_code != "InvalidInstance":
                raise
        return Application.AuthMode.SIGN

    def application_provision(self, *, services: Sequence[str], qps: int) -> None:
        """Nothing to do: instances and their QPS tiers are bought in Alibaba's console."""

    def application_rename(self, *, name: str) -> None:
        """Nothing to do: the name in Alibaba's console is not Tuku's to change."""

    def application_drop(self) -> None:
        """Nothing to do: the AccessKey pair stays in Alibaba's console."""

    def secret_rotate(self) -> str:
        raise NotImplementedError("an AccessKey Secret is rotated in Alibaba's console")
