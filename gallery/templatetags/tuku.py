"""Presentation helpers: error explanations, labels, and the geometry of the usage charts.

The charts are plain SVG computed here and drawn by templates: no chart library, nothing to
download, readable without JavaScript.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django import template
from django.utils import dateformat, timezone
from django.utils.formats import date_format
from django.utils.html import format_html, json_script
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from gallery.explain import explain as explain_code
from gallery.explain import picture_limits, service_limits
from gallery.forms import transform_label
from gallery.models import TYPE_OF_SERVICE, ActivityVerb, Image, Library
from gallery.selectors.usage import Usage
from wire.aliyun import CATEGORIES

register = template.Library()

# Colour per service, distinguishable in grey scale too (lightness steps).
SERVICE_COLOURS = {
    "same_hq": "#2357d9",
    "similar": "#1f7a3d",
    "product": "#b25c00",
    "picturebook": "#7b3fb3",
    "materiel": "#8a8f98",
}


@register.filter
def explain(code: object, service: str = "") -> str:
    return explain_code(code, service) if code not in (None, "") else ""


@register.filter
def limits(service: str) -> str:
    return service_limits(service)


@register.filter
def library_limits(library: Library) -> str:
    """The upload rules of a library in a sentence, by its wire."""
    if library.is_instance:
        return picture_limits(TYPE_OF_SERVICE[library.service])
    return service_limits(library.service)


@register.filter
def labels(image: Image, library: Any = None) -> str:
    """'7, 9' for tags; '3 / 5' for product class ids; '' when unlabelled."""
    if library is not None and library.uses_class_ids:
        if image.class_id1 is None and image.class_id2 is None:
            return ""
        return " / ".join(
            str(v) if v is not None else "–" for v in (image.class_id1, image.class_id2)
        )
    return ", ".join(str(t) for t in image.tags)


# How much of a time `when` shows: to the minute, to the second, or the time of day only.
_WHEN_FORMATS = {"minutes": "Y-m-d H:i", "seconds": "Y-m-d H:i:s", "time": "H:i:s"}


@register.filter
def when(value: datetime | None, precision: str = "minutes") -> SafeString | str:
    """A moment as every page shows one: in the console's time zone (`TIME_ZONE`), always
    with the zone's name ("2026-12-01 22:15 UTC"), as a <time> element whose title is the
    full ISO 8601 time with its offset. '' for None, so `|default` still works."""
    if value is None or value == "":
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    shown = dateformat.format(local, _WHEN_FORMATS.get(precision, _WHEN_FORMATS["minutes"]))
    zone = dateformat.format(local, "T") if timezone.is_aware(local) else ""
    iso = local.isoformat(timespec="seconds")
    return format_html('<time datetime="{}" title="{}">{} {}</time>', iso, iso, shown, zone)


@register.simple_tag
def time_zone_name() -> str:
    """The zone every time on the pages is shown in."""
    return timezone.get_current_timezone_name()


@register.filter
def percent(part: int | float | None, whole: int | float | None) -> float:
    if not whole:
        return 0.0
    return round(min(100.0, 100.0 * float(part or 0) / float(whole)), 1)


@register.filter
def score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


@register.filter
def category(category_id: int | None) -> str:
    """An Alibaba category's name ("Shoes"), or the id itself if it is not one of them."""
    if category_id is None:
        return ""
    return CATEGORIES.get(category_id, str(category_id))


@register.filter
def score_percent(value: float) -> int:
    return max(0, min(100, round(value * 100)))


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 720, 220, 40, 28, 10


def _nice_max(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


@register.inclusion_tag("gallery/_chart_days.html")
def usage_chart(usage: Usage) -> dict[str, Any]:
    """Stacked bars: calls per day, one colour per service."""
    rows = usage.per_day()
    top = _nice_max(max((total for _d, _c, total in rows), default=0))
    plot_w, plot_h = CHART_W - PAD_L - 8, CHART_H - PAD_B - PAD_T
    slot = plot_w / max(1, len(rows))
    bars: list[Bar] = []
    xticks: list[Tick] = []
    for i, (day, counts, _total) in enumerate(rows):
        x = PAD_L + i * slot + slot * 0.15
        base: float = PAD_T + plot_h
        for service in usage.services:
            n = counts.get(service, 0)
            if not n:
                continue
            height = plot_h * n / top
            base -= height
            bars.append(
                Bar(
                    x,
                    base,
                    slot * 0.7,
                    height,
                    SERVICE_COLOURS.get(service, "#555"),
                    f"{_day(day)} · {service}: {n}",
                )
            )
        if i % 5 == 0 or i == len(rows) - 1:
            xticks.append(Tick(x + slot * 0.35, CHART_H - 8, _day(day)))
    yticks = [
        Tick(PAD_L - 6, PAD_T + plot_h - plot_h * f, str(round(top * f))) for f in (0, 0.5, 1)
    ]
    legend = [(s, SERVICE_COLOURS.get(s, "#555")) for s in usage.services]
    return {
        "w": CHART_W,
        "h": CHART_H,
        "bars": bars,
        "xticks": xticks,
        "yticks": yticks,
        "legend": legend,
        "axis_x": PAD_L,
        "axis_y": PAD_T + plot_h,
        "axis_w": CHART_W - 8,
        "total": usage.total,
    }


@register.inclusion_tag("gallery/_chart_errors.html")
def errors_chart(usage: Usage) -> dict[str, Any]:
    """Horizontal bars: failed calls by error code."""
    rows = usage.errors[:12]
    top = max((n for _c, _m, n in rows), default=1)
    height = 26
    label_w, plot_w = 260, 400
    bars = [
        {
            "y": i * height,
            "width": max(2.0, plot_w * n / top),
            "code": code,
            "msg": msg,
            "n": n,
            "explanation": explain_code(code),
        }
        for i, (code, msg, n) in enumerate(rows)
    ]
    return {
        "bars": bars,
        "w": label_w + plot_w + 60,
        "h": max(height, height * len(rows)),
        "label_w": label_w,
        "row_h": height,
    }


def _day(day: date) -> str:
    return date_format(day, "m-d")


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v not in (None, "", [], {})}
    return value


@register.filter
def json_compact(value: Any) -> str:
    """An activity's detail as short JSON, empty values left out."""
    return json.dumps(_compact(value), ensure_ascii=False, separators=(", ", ": "))[:300]


@register.filter
def split(value: str) -> list[str]:
    return value.split()


def _js_texts(page: str) -> dict[str, str]:
    if page == "upload":
        return {
            "waiting": _("Waiting"),
            "sending": _("Sending"),
            "refused": _("Refused"),
            "preview": _("preview"),
            "already_here": _("Already here as “%s”"),
            "update_instead": _("Update its brief and tags instead"),
            "batch": _("Batch %s: follow its progress (it goes on if you close this page)"),
            "duplicate": _("the image already in the library"),
            "too_big": _("The file is %s MiB, over the limit of this library."),
            "queued": _("%s file(s) ready; press Upload."),
            "progress": _("Sending %s"),
            "indexing": _("%s image(s) still being indexed…"),
            "all_done": _("All done."),
            "fix_form": _("Not sent: correct the form above."),
            "server_error": _("The server could not handle this file."),
            "network": _("The connection failed."),
            "nothing": _("Choose at least one file or give a URL."),
            "checking": _("Checking…"),
        }
    if page == "camera":
        return {"searching": _("Searching with %s…"), "no_camera": _("No camera: %s")}
    if page == "search":
        return {"hidden": _("%n result(s) hidden by the filters.")}
    if page == "library":
        return {"selected": _("%n selected"), "all_matching": _("All matching images selected")}
    return {}


@register.simple_tag
def js_texts(page: str) -> str:
    """The translated strings a page's script shows, as a JSON script element."""
    return json_script(_js_texts(page), f"{page}-text")


@register.filter
def verb(value: str) -> str:
    """An activity verb in words ('image.upload' → 'uploaded'); an unknown one as it is."""
    try:
        return str(ActivityVerb(value).label)
    except ValueError:
        return value


# --- the search test bench ---------------------------------------------------------------------


@register.filter
def figure(value: float | None) -> str:
    """A share or a mean reciprocal rank, to three decimals as bench/quality.py prints them."""
    return "—" if value is None else f"{value:.3f}"


@register.filter
def millis(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


@register.filter
def transform_name(name: str) -> str:
    return transform_label(name)


HIST_W, HIST_H, HIST_PAD_L, HIST_PAD_B, HIST_PAD_T = 640, 200, 36, 30, 10


@register.inclusion_tag("gallery/_chart_scores.html")
def score_chart(histogram: Any, threshold: float) -> dict[str, Any]:
    """Two bar series per score bin (right answers, wrong answers) and the threshold line."""
    bins = len(histogram.right)
    plot_w = HIST_W - HIST_PAD_L - 8
    plot_h = HIST_H - HIST_PAD_B - HIST_PAD_T
    top = _nice_max(histogram.peak)
    slot = plot_w / bins
    bars = []
    for n in range(bins):
        low = n * histogram.width
        for k, (series, count) in enumerate(
            (("right", histogram.right[n]), ("wrong", histogram.wrong[n]))
        ):
            if not count:
                continue
            height = plot_h * count / top
            bars.append(
                {
                    "x": round(HIST_PAD_L + n * slot + 1 + k * (slot - 2) / 2, 1),
                    "y": round(HIST_PAD_T + plot_h - height, 1),
                    "width": round((slot - 2) / 2, 1),
                    "height": round(height, 1),
                    "series": series,
                    "title": f"{low:.2f}–{low + histogram.width:.2f}: {count}",
                }
            )
    ticks = [
        {"x": round(HIST_PAD_L + plot_w * v / 10, 1), "label": f"{v / 10:.1f}"} for v in range(11)
    ]
    return {
        "w": HIST_W,
        "h": HIST_H,
        "bars": bars,
        "ticks": ticks,
        "base_y": HIST_PAD_T + plot_h,
        "tick_y": HIST_PAD_T + plot_h + 18,
        "top": top,
        "left": HIST_PAD_L,
        "right_edge": HIST_PAD_L + plot_w,
        "threshold_x": round(HIST_PAD_L + plot_w * threshold, 1),
        "threshold": threshold,
        "pad_t": HIST_PAD_T,
    }
