"""Plain words for backend errors (console §5): what happened and what to do next.

Every failure the console shows carries the exact `error_code` and `error_msg` from the backend
*and* one of these explanations. Client-side codes (``timeout``, ``SDK108``, ...) are shown as
they are, with a short note where one helps.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from wire import aliyun
from wire.baidu import MAX_SIDE, PIXEL_LIMITS


@dataclass(frozen=True)
class Explained:
    code: str
    message: str
    explanation: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "explanation": self.explanation}


def service_limits(service: str) -> str:
    """The upload rules of one service in a sentence (baidu-wire §5.3)."""
    min_side, max_ratio = PIXEL_LIMITS.get(service, (50, None))
    parts = [_("PNG, JPEG or BMP"), _("at most 3 MiB")]
    if min_side > 1:
        parts.append(_("shortest side at least %(n)d px") % {"n": min_side})
    parts.append(_("longest side at most %(n)d px") % {"n": MAX_SIDE})
    if max_ratio:
        parts.append(_("aspect ratio at most %(r)d:1") % {"r": int(max_ratio)})
    return ", ".join(parts)


def picture_limits(service_type: int) -> str:
    """The upload rules of an Alibaba instance's type in a sentence (aliyun-wire §5.2)."""
    low, high, _inclusive = aliyun.PIXEL_LIMITS[service_type]
    return ", ".join(
        [
            ", ".join(aliyun.PIC_FORMATS),
            _("at most 4 MiB"),
            _("each side %(lo)d–%(hi)d px") % {"lo": low, "hi": high},
            _("no EXIF rotation flag"),
        ]
    )


# The Alibaba wire's codes (aliyun-wire §3) in words; its own messages are in English only.
_ALIYUN: dict[str, str | Promise] = {
    "BadRequest": _lazy(
        "A parameter was refused: an over-long name or attribute, a forbidden character "
        "(\\ ¥ $ & %), a picture over 4 MiB or without usable content, or a bad region box."
    ),
    "InvalidInstance": _lazy(
        "There is no instance of this name for these keys (the name, not the "
        "instance id). Buy it in Alibaba's console, then register it here."
    ),
    "InvalidCategory": _lazy("Not one of Alibaba's categories."),
    "InvalidFilterClause": _lazy("The filter could not be parsed."),
    "InvalidIntAttr": _lazy("An integer attribute in the filter is not a whole number."),
    "UnsupportedPicFormat": _lazy(
        "The file is not a picture Alibaba reads (PNG, JPEG, BMP, GIF, WEBP, TIFF, PPM)."
    ),
    "UnsupportedPicPixels": _lazy(
        "The picture's sides are outside what the instance's type accepts."
    ),
    "IncorrectOrientation": _lazy(
        "The picture carries an EXIF rotation flag: save it rotated and upload it again."
    ),
    "InstanceOverQuota": _lazy("The instance is full. Buy more capacity in Alibaba's console."),
    "NoPermission": _lazy(
        "The AccessKey was refused: check its ID and Secret, and its permissions."
    ),
    "DeniedRequest": _lazy(
        "Too many requests per second for the instance's QPS tier. Tuku retries automatically."
    ),
    "UnknownException": _lazy("The backend had a temporary problem. Tuku retries automatically."),
    "UnsupportedInstanceType": _lazy("Tuku serves product, generic and fabric instances."),
    "UnsupportedOperationType": _lazy("The backend does not serve this operation."),
}


def explain(code: object, service: str = "") -> str:
    """The explanation and next step for a wire or client-side error code ('' if none)."""
    text = str(code)
    if text in _ALIYUN:
        return str(_ALIYUN[text])
    if text in ("6",):
        return _(
            "The application may not use this service. Tick it in the application settings "
            "(Baidu: “edit application” in Baidu's console)."
        )
    if text == "14":
        return _("The signature was rejected. Check the API Key and Secret Key.")
    if text in ("17", "19"):
        return _("Quota exhausted or library full. Expand the capacity or raise the quota.")
    if text == "18":
        return _("Too many requests per second. Tuku retries automatically.")
    if text in ("110", "111"):
        return _("The token is invalid or expired. Tuku refreshes it once automatically.")
    if text == "216017":
        return _(
            "The library has not been created yet (Baidu: apply for it in Baidu's console, "
            "then register it here)."
        )
    if text == "216100":
        return _(
            "A parameter was refused: the brief may exceed 256 bytes, or a tag or class id is "
            "outside 1–65535."
        )
    if text == "216101":
        return _("A required field is missing: an image and a brief are needed.")
    if text == "216200":
        return _("The image is empty.")
    if text in ("216201", "216202"):
        limits = service_limits(service) if service else _("see the service's limits")
        return _("Wrong format or size. This service accepts: %(limits)s.") % {"limits": limits}
    if text == "216203":
        return _(
            "The image has too little usable content (too small, a single flat colour, an "
            "extreme shape, too many subjects, or not a product for product search)."
        )
    if text == "216680":
        return _("The image is no longer in the library. Re-push it to add it again.")
    if text == "216681":
        return _("The image is already in the library. Update its brief and tags instead.")
    if text in ("282111", "282112", "282113", "282114"):
        return _(
            "The image URL could not be fetched or is invalid. Download the file and upload it."
        )
    if text in ("1", "2", "4", "216630", "216634", "282000", "216401"):
        return _("The backend had a temporary problem. Tuku retries automatically.")
    if text == "282006":
        return _("Too many images in one delete call (at most 100).")
    if text == "timeout":
        return _("The backend did not answer in time. Tuku retries automatically.")
    if text == "connection":
        return _("The backend could not be reached. Check the base URL and the network.")
    if text == "tls":
        return _("The backend's TLS certificate could not be verified.")
    if text == "redirect":
        return _(
            "The backend answered with a redirect, which Tuku never follows. Use the base URL "
            "it redirects to."
        )
    if text == "bad_response":
        return _("The backend answered with something that is not the API's JSON.")
    if text == "invalid_client":
        return _("The token endpoint refused the API Key or Secret Key.")
    return ""


# The error messages Tuku itself stores on a row (`Image.error_msg`) besides the backend's: the
# English text is their code (a job looks rows up by NOT_SENT_FULL), shown in the viewer's
# language by `error_text`.
NOT_SENT_FULL = "not sent: the library is full"
GONE_ELSEWHERE = "no longer in the library: deleted through the API"
_OWN_MESSAGES: dict[str, Promise] = {
    NOT_SENT_FULL: _lazy("not sent: the library is full"),
    GONE_ELSEWHERE: _lazy("no longer in the library: deleted through the API"),
}


def error_text(message: str) -> str:
    """A stored error message as the viewer reads it: Tuku's own in their language, a
    backend's as it answered."""
    own = _OWN_MESSAGES.get(message)
    return str(own) if own is not None else message


def explained(code: object, message: str, service: str = "") -> Explained:
    return Explained(str(code), error_text(message), explain(code, service))
