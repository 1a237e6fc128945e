"""The operations of the Alibaba wire this engine serves (aliyun-wire §5, §6)."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from engine.aliyun import filters
from engine.aliyun import image as pictures
from engine.aliyun.errors import AliyunError
from engine.aliyun.params import Params
from engine.aliyun.store import Picture, category_label, picture_put, pictures_delete
from engine.errors import WireError
from engine.features.decode import Decoded, ImageRejected
from engine.features.extract import Features, extract
from engine.models import AliyunImage, AliyunInstance
from engine.search import library_search
from engine.vectors import Filter
from wire.aliyun import (
    CAPACITY_UNIT,
    CATEGORIES,
    FABRIC,
    INT_ATTRS,
    MAX_RELEVANCE_APPAREL,
    MAX_RELEVANCE_OTHER,
    MAX_RESULTS,
    OTHER_CATEGORY,
    PRODUCT,
    STR_ATTRS,
)
from wire.baidu import PAGE_WINDOW

# The engine's feature extractor per service type (aliyun-wire §4.1).
SERVICE_OF_TYPE: dict[int, str] = {PRODUCT: "product", 1: "similar", FABRIC: "materiel"}
_APPAREL = frozenset({0, 1, 2})
_ALL_CATEGORIES = [{"Id": cid, "Name": name} for cid, name in CATEGORIES.items()]


@dataclass
class Call:
    instance: AliyunInstance
    params: Params

    @property
    def service(self) -> str:
        return SERVICE_OF_TYPE[self.instance.service_type]


def _millis(moment: Any) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def detail(call: Call) -> dict[str, Any]:
    instance = call.instance
    library = instance.library
    return {
        "Success": True,
        "Instance": {
            "Capacity": math.ceil(library.capacity / CAPACITY_UNIT),
            "Name": instance.name,
            "Qps": instance.qps,
            "Region": settings.ENGINE_ALIYUN_REGION,
            "ServiceType": instance.service_type,
            "TotalCount": library.entry_count,
            "UtcCreate": _millis(instance.created_at),
            "UtcExpireTime": _millis(instance.expires_at),
        },
    }


@dataclass(frozen=True)
class Looked:
    """A picture as the operations see it: decoded, its subject and the features of that."""

    data: bytes
    image: Decoded
    category_id: int
    region: str
    multi_region: list[str]
    features: Features

    def pic_info(self) -> dict[str, Any]:
        return {
            "CategoryId": self.category_id,
            "Region": self.region,
            "MultiRegion": [{"Region": r} for r in self.multi_region],
            "AllCategories": _ALL_CATEGORIES,
        }


def _look(call: Call, *, for_query: bool) -> Looked:
    """PicContent (aliyun-wire §5.2), the category (§4.3), the subject box (§5.5), features."""
    p = call.params
    category = p.category()
    crop = p.boolean("Crop", default=True)
    region = p.region()
    data = p.picture()
    image = pictures.decode_picture(data, call.instance.service_type)
    whole: pictures.Box = (0, image.width, 0, image.height)
    if call.instance.service_type != PRODUCT or category is None:
        # Other types always use "Other"; product prediction is not built (aliyun-wire §4.3).
        category = OTHER_CATEGORY
    if call.instance.service_type == FABRIC:
        box, every = whole, [whole]
    elif region is not None:
        box = pictures.clip_region(region, image)
        every = [box]
    elif crop:
        found = pictures.subjects(image.rgb)
        box, every = found.main, found.all
    else:
        box, every = whole, [whole]
    try:
        features = extract(call.service, pictures.crop(image, box), for_query=for_query)
    except ImageRejected:
        raise AliyunError("BadRequest") from None  # no usable content (aliyun-wire §3)
    return Looked(
        data=data,
        image=image,
        category_id=category,
        region=pictures.region_text(box),
        multi_region=[pictures.region_text(b) for b in every],
        features=features,
    )


def add_image(call: Call) -> dict[str, Any]:
    p = call.params
    product_id = p.required_identifier("ProductId")
    pic_name = p.required_identifier("PicName")
    int_attrs = tuple(p.int_attr(name) for name in INT_ATTRS)
    str_attrs = tuple(p.str_attr(name) for name in STR_ATTRS)
    custom = p.custom_content()
    looked = _look(call, for_query=False)
    picture_put(
        instance=call.instance,
        picture=Picture(
            product_id=product_id,
            pic_name=pic_name,
            category_id=looked.category_id,
            int_attrs=(int_attrs[0], int_attrs[1], int_attrs[2], int_attrs[3]),
            str_attrs=(str_attrs[0], str_attrs[1], str_attrs[2], str_attrs[3]),
            custom_content=custom,
            region=looked.region,
        ),
        data=looked.data,
        image=looked.image,
        features=looked.features,
    )
    return {"Code": 0, "Message": "success", "Success": True, "PicInfo": looked.pic_info()}


def _auction(row: AliyunImage, score: float) -> dict[str, Any]:
    auction: dict[str, Any] = {
        "ProductId": row.product_id,
        "PicName": row.pic_name,
        "CategoryId": row.category_id,
        "Score": score,
    }
    if row.custom_content:
        auction["CustomContent"] = row.custom_content
    for name, field in zip(
        INT_ATTRS, ("int_attr", "int_attr2", "int_attr3", "int_attr4"), strict=True
    ):
        if getattr(row, field) is not None:
            auction[name] = getattr(row, field)
    for name, field in zip(
        STR_ATTRS, ("str_attr", "str_attr2", "str_attr3", "str_attr4"), strict=True
    ):
        if getattr(row, field):
            auction[name] = getattr(row, field)
    top = MAX_RELEVANCE_APPAREL if row.category_id in _APPAREL else MAX_RELEVANCE_OTHER
    auction["SortExprValues"] = f"{score * top!r};0"
    return auction


def search_image_by_pic(call: Call) -> dict[str, Any]:
    started = time.monotonic()
    p = call.params
    condition = p.get("Filter")
    attributes = filters.parse(condition) if condition is not None else None
    start, num = p.window()
    distinct = p.boolean("DistinctProductId", default=False)
    threshold = p.score_threshold()
    requested_category = p.category()
    looked = _look(call, for_query=True)
    library = call.instance.library
    class_id1 = None
    if call.instance.service_type == PRODUCT and requested_category is not None:
        class_id1 = category_label(requested_category)
    entries = None
    if attributes is not None:
        matching = AliyunImage.objects.filter(attributes, instance=call.instance)
        entries = frozenset(matching.values_list("entry_id", flat=True))
    flt = Filter(class_id1=class_id1, entries=entries)
    try:
        page = library_search(
            library=library,
            query=looked.features,
            cont_sign="",  # identity is by bytes here, below
            flt=flt,
            pn=0,
            rn=PAGE_WINDOW,
        )
    except WireError as error:
        raise AliyunError("InvalidInstance") from error  # deleted during the call
    scores = {hit.cont_sign: hit.score for hit in page.hits}
    identical = AliyunImage.objects.filter(
        instance=call.instance, sha256=hashlib.sha256(looked.data).hexdigest()
    )
    if requested_category is not None and call.instance.service_type == PRODUCT:
        identical = identical.filter(category_id=requested_category)
    if attributes is not None:
        identical = identical.filter(attributes)
    for sign in identical.values_list("entry__cont_sign", flat=True):
        scores[sign] = 1.0
    rows = {
        row.entry.cont_sign: row
        for row in AliyunImage.objects.filter(
            instance=call.instance, entry__cont_sign__in=list(scores)
        ).select_related("entry")
    }
    ordered = sorted(
        ((sign, score) for sign, score in scores.items() if sign in rows and score >= threshold),
        key=lambda item: (-item[1], rows[item[0]].entry_id),
    )
    if distinct:
        seen: set[str] = set()
        kept = []
        for sign, score in ordered:
            if rows[sign].product_id not in seen:
                seen.add(rows[sign].product_id)
                kept.append((sign, score))
        ordered = kept
    ordered = ordered[:MAX_RESULTS]
    window = ordered[start : start + num]
    return {
        "Success": True,
        "Code": 0,
        "Msg": "success",
        "Head": {
            "DocsFound": len(window),
            "DocsReturn": len(ordered),
            "SearchTime": int((time.monotonic() - started) * 1000),
        },
        "Auctions": [_auction(rows[sign], round(score, 4)) for sign, score in window],
        "PicInfo": looked.pic_info(),
    }


def delete_image(call: Call) -> dict[str, Any]:
    p = call.params
    if p.boolean("IsDeleteByFilter", default=False):
        rows = AliyunImage.objects.filter(filters.parse(p.required("Filter")))
    else:
        rows = AliyunImage.objects.filter(product_id=p.required_identifier("ProductId"))
        pic_name = p.identifier("PicName")
        if pic_name is not None:
            rows = rows.filter(pic_name=pic_name)
    deleted = pictures_delete(instance=call.instance, rows=rows)
    return {"Code": 0, "Message": "success", "Success": True, "Data": {"PicNames": deleted}}


OPERATIONS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "Detail": detail,
    "AddImage": add_image,
    "SearchImageByPic": search_image_by_pic,
    "DeleteImage": delete_image,
}
