"""The operations of the Alibaba wire this engine serves (aliyun-wire §5, §6)."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Q

from engine.aliyun import categories, filters
from engine.aliyun import image as pictures
from engine.aliyun.errors import AliyunError
from engine.aliyun.params import Params
from engine.aliyun.store import (
    Picture,
    category_label,
    picture_put,
    pictures_delete,
    pictures_update,
)
from engine.errors import WireError
from engine.features.decode import Decoded, ImageRejected
from engine.features.extract import FEATURES_VERSION, Features, extract, query_vectors
from engine.features.rank import rank
from engine.models import AliyunImage, AliyunInstance
from engine.search import library_search
from engine.vectors import STORED, Filter, decode_vectors
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

log = logging.getLogger(__name__)

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


def _with_whole(service: str, subject: Features, image: Decoded, *, for_query: bool) -> Features:
    """The whole picture's features first (row 0 is what a query is looked up with), the
    subject's after: stored as more rows of the entry, or as the query's extra vector."""
    whole = extract(service, image, for_query=for_query)
    if for_query:
        return replace(whole, query_vectors=subject.vectors[:1])
    return replace(whole, vectors=np.concatenate([whole.vectors, subject.vectors]))


def _look(call: Call, *, for_query: bool, predict: bool = True) -> Looked:
    """PicContent (aliyun-wire §5.2), the category (§4.3), the subject box (§5.5), features."""
    p = call.params
    category = p.category()
    crop = p.boolean("Crop", default=True)
    region = p.region()
    data = p.picture()
    image = pictures.decode_picture(data, call.instance.service_type)
    whole: pictures.Box = (0, image.width, 0, image.height)
    if call.instance.service_type != PRODUCT:
        category = OTHER_CATEGORY  # other types always use "Other" (aliyun-wire §4.3)
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
        if box != whole and region is None:
            # A detected subject is a guess: the picture is stored, and searched, both as a
            # whole and as its subject, and the best pair scores (aliyun-wire §5.5). Searching
            # with the subject only lost a fifth of the right answers (bench/wires.py).
            features = _with_whole(call.service, features, image, for_query=for_query)
    except ImageRejected:
        raise AliyunError("BadRequest") from None  # no usable content (aliyun-wire §3)
    if category is None and not predict:
        category = OTHER_CATEGORY  # nobody sees it (a comparison): not worth a network pass
    if category is None:
        # A product picture sent without a category gets the predicted one: of the caller's
        # Region if there is one, else of the whole picture, which predicted better than the
        # detected subject (aliyun-wire §4.3). It is reported and stored; a search still
        # looks in every category.
        seen = image if region is None else pictures.crop(image, box)
        category = categories.predict(seen.rgb)
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


_INT_FIELDS = ("int_attr", "int_attr2", "int_attr3", "int_attr4")
_STR_FIELDS = ("str_attr", "str_attr2", "str_attr3", "str_attr4")


def _auction(row: AliyunImage, score: float | None = None) -> dict[str, Any]:
    """A picture as results show it; `Score` and `SortExprValues` only for a search's hits."""
    auction: dict[str, Any] = {
        "ProductId": row.product_id,
        "PicName": row.pic_name,
        "CategoryId": row.category_id,
    }
    if score is not None:
        auction["Score"] = score
    if row.custom_content:
        auction["CustomContent"] = row.custom_content
    for name, field in zip(INT_ATTRS, _INT_FIELDS, strict=True):
        if getattr(row, field) is not None:
            auction[name] = getattr(row, field)
    for name, field in zip(STR_ATTRS, _STR_FIELDS, strict=True):
        if getattr(row, field):
            auction[name] = getattr(row, field)
    if score is not None:
        top = MAX_RELEVANCE_APPAREL if row.category_id in _APPAREL else MAX_RELEVANCE_OTHER
        auction["SortExprValues"] = f"{score * top!r};0"
    return auction


@dataclass(frozen=True)
class Ask:
    """The result options of a search by picture or by name (aliyun-wire §5.1)."""

    attributes: Q | None  # the Filter's condition
    start: int
    num: int
    distinct: bool
    threshold: float
    category: int | None  # CategoryId as sent


def _ask(call: Call) -> Ask:
    """The options, checked in the order of aliyun-wire §5.1 (before any picture)."""
    p = call.params
    condition = p.get("Filter")
    attributes = filters.parse(condition) if condition is not None else None
    start, num = p.window()
    distinct = p.boolean("DistinctProductId", default=False)
    threshold = p.score_threshold()
    return Ask(attributes, start, num, distinct, threshold, p.category())


@dataclass(frozen=True)
class Ranked:
    window: list[tuple[AliyunImage, float]]  # the page asked for, best first
    matching: int  # pictures matching in the instance, after threshold and distinct


def _rank(call: Call, ask: Ask, *, query: Features, sha256: str, first: str = "") -> Ranked:
    """Search the instance with `query` (aliyun-wire §5.4). Pictures whose bytes have this
    SHA-256 score 1.0; of those, the one whose cont_sign is `first` (the picture a search by
    name names) comes first."""
    instance = call.instance
    # Only a product instance searches one category (aliyun-wire §4.3).
    category = ask.category if instance.service_type == PRODUCT else None
    class_id1 = None if category is None else category_label(category)
    entries = None
    if ask.attributes is not None:
        matching = AliyunImage.objects.filter(ask.attributes, instance=instance)
        entries = frozenset(matching.values_list("entry_id", flat=True))
    try:
        page = library_search(
            library=instance.library,
            query=query,
            cont_sign="",  # identity is by bytes here, below
            flt=Filter(class_id1=class_id1, entries=entries),
            pn=0,
            rn=PAGE_WINDOW,
        )
    except WireError as error:
        raise AliyunError("InvalidInstance") from error  # deleted during the call
    scores = {hit.cont_sign: hit.score for hit in page.hits}
    identical = AliyunImage.objects.filter(instance=instance, sha256=sha256)
    if category is not None:
        identical = identical.filter(category_id=category)
    if ask.attributes is not None:
        identical = identical.filter(ask.attributes)
    for sign in identical.values_list("entry__cont_sign", flat=True):
        scores[sign] = 1.0
    rows = {
        row.entry.cont_sign: row
        for row in AliyunImage.objects.filter(
            instance=instance, entry__cont_sign__in=list(scores)
        ).select_related("entry")
    }
    ordered = sorted(
        ((rows[sign], score) for sign, score in scores.items() if sign in rows),
        key=lambda item: (-item[1], item[0].entry.cont_sign != first, item[0].entry_id),
    )
    ordered = [(row, score) for row, score in ordered if score >= ask.threshold]
    if ask.distinct:
        seen: set[str] = set()
        kept = []
        for row, score in ordered:
            if row.product_id not in seen:
                seen.add(row.product_id)
                kept.append((row, score))
        ordered = kept
    ordered = ordered[:MAX_RESULTS]
    return Ranked(window=ordered[ask.start : ask.start + ask.num], matching=len(ordered))


def _search_answer(ranked: Ranked, pic_info: dict[str, Any], started: float) -> dict[str, Any]:
    return {
        "Success": True,
        "Code": 0,
        "Msg": "success",
        "Head": {
            "DocsFound": len(ranked.window),
            "DocsReturn": ranked.matching,
            "SearchTime": int((time.monotonic() - started) * 1000),
        },
        "Auctions": [_auction(row, round(score, 4)) for row, score in ranked.window],
        "PicInfo": pic_info,
    }


def search_image_by_pic(call: Call) -> dict[str, Any]:
    started = time.monotonic()
    ask = _ask(call)
    looked = _look(call, for_query=True)
    sha256 = hashlib.sha256(looked.data).hexdigest()
    ranked = _rank(call, ask, query=looked.features, sha256=sha256)
    return _search_answer(ranked, looked.pic_info(), started)


def _stored(call: Call) -> AliyunImage:
    """The picture named by ProductId and PicName, or BadRequest (aliyun-wire §3)."""
    p = call.params
    product_id = p.required_identifier("ProductId")
    pic_name = p.required_identifier("PicName")
    row = (
        AliyunImage.objects.filter(instance=call.instance, product_id=product_id, pic_name=pic_name)
        .select_related("entry")
        .first()
    )
    if row is None:
        raise AliyunError("BadRequest")
    return row


def search_image_by_name(call: Call) -> dict[str, Any]:
    """SearchImageByPic with a stored picture's own vectors (aliyun-wire §6.1)."""
    started = time.monotonic()
    ask = _ask(call)
    row = _stored(call)
    entry = row.entry
    vectors = decode_vectors(bytes(entry.vectors))
    if entry.features_version != FEATURES_VERSION or not len(vectors):
        # Stored by another version of the features: the index holds it no more, and the
        # engine keeps no original to extract again from (aliyun-wire §3).
        log.warning("aliyun: %s/%s has stale features", row.product_id, row.pic_name)
        raise AliyunError("AccessEngineFailed")
    ranked = _rank(
        call,
        ask,
        query=Features(vectors=vectors, local=None),
        sha256=row.sha256,
        first=entry.cont_sign,
    )
    category = row.category_id
    if call.instance.service_type == PRODUCT and ask.category is not None:
        category = ask.category
    pic_info = {
        "CategoryId": category,
        "Region": row.region,
        "MultiRegion": [{"Region": row.region}],
        "AllCategories": _ALL_CATEGORIES,
    }
    return _search_answer(ranked, pic_info, started)


def search_image_by_filter(call: Call) -> dict[str, Any]:
    """The pictures matching `Filter`, oldest add first (aliyun-wire §6.2)."""
    p = call.params
    attributes = filters.parse(p.required("Filter"))
    start, num = p.window()
    rows = AliyunImage.objects.filter(attributes, instance=call.instance).order_by("entry_id")
    return {
        "Success": True,
        "Code": 0,
        "Msg": "success",
        "Auctions": [_auction(row) for row in rows[start : start + num]],
    }


def update_image(call: Call) -> dict[str, Any]:
    """Change the attributes sent of one picture, or of every picture of the product
    (aliyun-wire §6.3); absent ones are left as they are."""
    p = call.params
    product_id = p.required_identifier("ProductId")
    pic_name = p.identifier("PicName")
    changes: dict[str, object] = {}
    for name, field in zip(INT_ATTRS, _INT_FIELDS, strict=True):
        number = p.int_attr(name)
        if number is not None:
            changes[field] = number
    for name, field in zip(STR_ATTRS, _STR_FIELDS, strict=True):
        text = p.str_attr(name)
        if text is not None:
            changes[field] = text
    custom = p.custom_content()
    if custom is not None:
        changes["custom_content"] = custom
    updated = pictures_update(
        instance=call.instance, product_id=product_id, pic_name=pic_name, changes=changes
    )
    if not updated:
        raise AliyunError("BadRequest")  # no such picture (aliyun-wire §3)
    return {"Code": 0, "Message": "success", "Success": True}


def check_image_exists(call: Call) -> dict[str, Any]:
    """Whether the pair is stored; `Auctions` is one object, `{}` when it is not (§6.4)."""
    p = call.params
    product_id = p.required_identifier("ProductId")
    pic_name = p.required_identifier("PicName")
    row = AliyunImage.objects.filter(
        instance=call.instance, product_id=product_id, pic_name=pic_name
    ).first()
    return {
        "Success": True,
        "Code": 0,
        "Msg": "success",
        "Exists": row is not None,
        "Auctions": _auction(row) if row is not None else {},
    }


def compare_similar_by_image(call: Call) -> dict[str, Any]:
    """The score a search would give the secondary picture, stored, for the primary one as
    the query (aliyun-wire §6.5)."""
    p = call.params
    primary_text = p.required("PrimaryPicContent")
    secondary_text = p.required("SecondaryPicContent")
    # Each is looked at as a picture sent alone in PicContent: the subject and features an
    # AddImage or a SearchImageByPic with their defaults would use.
    primary = _look(
        Call(call.instance, Params([("PicContent", primary_text)])), for_query=True, predict=False
    )
    secondary = _look(
        Call(call.instance, Params([("PicContent", secondary_text)])),
        for_query=False,
        predict=False,
    )
    if primary.data == secondary.data:
        score = 1.0
    else:
        # As the index scores a stored entry: its vectors as stored, the query's as sent.
        stored = decode_vectors(np.asarray(secondary.features.vectors).astype(STORED).tobytes())
        cosine = float((stored @ query_vectors(call.service, primary.features).T).max())
        ranked = rank(call.service, primary.features, [(0, cosine, secondary.features.local)])
        score = min(1.0, max(0.0, ranked[0][1])) if ranked else 0.0
    return {
        "Success": True,
        "Code": 0,
        "Msg": "success",
        "Score": round(score, 4),
        "AccessDeniedDetail": None,
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
    # pictures_delete restricts `rows` to this instance's pictures.
    deleted = pictures_delete(instance=call.instance, rows=rows)
    return {"Code": 0, "Message": "success", "Success": True, "Data": {"PicNames": deleted}}


OPERATIONS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "Detail": detail,
    "AddImage": add_image,
    "SearchImageByPic": search_image_by_pic,
    "SearchImageByName": search_image_by_name,
    "SearchImageByFilter": search_image_by_filter,
    "UpdateImage": update_image,
    "CheckImageExists": check_image_exists,
    "CompareSimilarByImage": compare_similar_by_image,
    "DeleteImage": delete_image,
}
