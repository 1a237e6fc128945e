"""The "use it from code" panel: the official SDK's few lines for an application, pointed at
where its backend answers (for the built-in engine, this server's own origin). The secret is
never in them: a placeholder stands for it."""

from __future__ import annotations

from urllib.parse import urlsplit

from gallery.backends.aliyun import DEFAULT_REGION
from gallery.backends.baidu import HOSTED_URL
from gallery.models import Application, Service
from wire.aliyun import hosted_endpoint

SECRET_PLACEHOLDER = "YOUR_SECRET_KEY"  # noqa: S105 - the placeholder, not a secret
ACCESS_SECRET_PLACEHOLDER = "YOUR_ACCESS_KEY_SECRET"  # noqa: S105 - likewise

# The official `AipImageSearch` methods that add and search, per service.
SDK_METHODS = {
    Service.SAME_HQ: ("sameHqAdd", "sameHqSearch"),
    Service.SIMILAR: ("similarAdd", "similarSearch"),
    Service.PRODUCT: ("productAdd", "productSearch"),
    Service.PICTUREBOOK: ("pictureBookAddImage", "pictureBookSearchImage"),
    Service.MATERIEL: ("materielAdd", "materielSearch"),
}


def where(application: Application, origin: str) -> str:
    """The base URL the SDK must call: this server for the built-in engine (it serves the
    wire on the console's own origin), else the application's endpoint."""
    if application.builtin:
        return origin.rstrip("/")
    if application.aliyun:
        return application.base_url or hosted_endpoint(application.region or DEFAULT_REGION)
    return (application.base_url or HOSTED_URL).rstrip("/")


def code_snippet(application: Application, origin: str, instance: str = "") -> str:
    """Python for the official SDK of the application's wire."""
    if application.aliyun:
        return _aliyun(application, where(application, origin), instance)
    return _baidu(application, where(application, origin))


def _baidu(application: Application, base: str) -> str:
    service = next((s for s in Service if s.value in application.services), Service.SAME_HQ)
    add, search = SDK_METHODS[service]
    lines = [
        "# pip install baidu-aip chardet",
        "from aip import AipImageSearch",
        "",
        f'APP_ID = "{application.app_id}"',
        f'API_KEY = "{application.api_key}"',
        f'SECRET_KEY = "{SECRET_PLACEHOLDER}"',
        "",
        "client = AipImageSearch(APP_ID, API_KEY, SECRET_KEY)",
    ]
    if base != HOSTED_URL:
        # baidu-wire §12: the SDK's URLs all start with the hosted origin; replacing it on
        # the instance's attributes points every call at another server.
        lines += [
            "",
            f"# Point the SDK at {base} instead of {HOSTED_URL}.",
            f'SERVER = "{base}"',
            "for cls in type(client).__mro__:",
            "    for name, value in vars(cls).items():",
            f'        if isinstance(value, str) and value.startswith("{HOSTED_URL}"):',
            f'            setattr(client, name, SERVER + value[len("{HOSTED_URL}"):])',
        ]
    lines += [
        "",
        'with open("photo.jpg", "rb") as f:',
        "    image = f.read()",
        f'print(client.{add}(image, {{"brief": "photo.jpg"}}))',
        f"print(client.{search}(image))",
    ]
    return "\n".join(lines) + "\n"


def _aliyun(application: Application, base: str, instance: str) -> str:
    url = urlsplit(base if "//" in base else f"https://{base}")
    lines = [
        "# pip install alibabacloud-imagesearch20201214",
        "import base64",
        "",
        "from alibabacloud_imagesearch20201214 import models",
        "from alibabacloud_imagesearch20201214.client import Client",
        "from alibabacloud_tea_openapi.models import Config",
        "",
        "config = Config(",
        f'    access_key_id="{application.api_key}",',
        f'    access_key_secret="{ACCESS_SECRET_PLACEHOLDER}",',
        f'    endpoint="{url.netloc}",',
    ]
    if url.scheme == "http":
        lines.append('    protocol="http",')
    lines += [
        f'    region_id="{application.region or DEFAULT_REGION}",',
        ")",
        "client = Client(config)",
        "",
        'with open("photo.jpg", "rb") as f:',
        "    picture = base64.b64encode(f.read()).decode()",
        "request = models.SearchImageByPicRequest(",
        f'    instance_name="{instance or "YOUR_INSTANCE"}", pic_content=picture',
        ")",
        "print(client.search_image_by_pic(request).body.auctions)",
    ]
    return "\n".join(lines) + "\n"
