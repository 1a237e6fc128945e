"""The seam between the console and an image-search backend.

Services talk to every backend through :class:`Backend`; one subclass per kind of application
(`Application.Backend`) maps it onto that backend's wire and, for the built-in engine, onto the
engine's in-process provisioning. A backend's own vocabulary stays behind this seam:

- a *library* is the container of one service (Baidu: a library; Alibaba: an instance);
- an image's *ref* is the backend's identity of a stored image (Baidu: its `cont_sign`;
  Alibaba: `ProductId` + `PicName`), kept on the row;
- *labels* are what a search can filter on (Baidu: tags or class ids; Alibaba: attributes).

Every failure is a :class:`searchapi.errors.ApiError` with the backend's own code and message;
:class:`Codes` says which of its codes mean the few outcomes the console reacts to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from gallery.labels import Labels
from gallery.models import Application, Image, Library
from gallery.pictures import PictureFields


@dataclass(frozen=True)
class Codes:
    """The backend's error codes for the outcomes the console handles itself."""

    exists: int | str  # the library already holds these bytes
    gone: int | str  # the image is no longer in the library
    full: int | str  # the library holds as many images as it may
    bad_keys: int | str  # the keys do not authenticate
    not_created: int | str  # the library was never created in the cloud's console


@dataclass(frozen=True)
class Keys:
    """An application's credentials as the backend knows them."""

    app_id: str  # Baidu's AppID; empty for Alibaba
    api_key: str  # Baidu's API Key; Alibaba's AccessKey ID
    secret_key: str = field(repr=False)
    region: str = ""  # Alibaba's region id


@dataclass(frozen=True)
class Hit:
    ref: str
    score: float
    brief: str


@dataclass(frozen=True)
class Stored:
    """What the backend answered to an add: the image's ref, and for backends that work them out
    (Alibaba) the category and subject box it stored the image under."""

    ref: str
    category_id: int | None = None
    region: str = ""


@dataclass(frozen=True)
class HitPage:
    hits: list[Hit]
    has_more: bool


@dataclass(frozen=True)
class ApiImage:
    """An image another client stored in a library, as the backend describes it."""

    ref: str
    sha256: str
    width: int
    height: int
    byte_size: int
    format: str
    brief: str
    labels: Labels
    thumbnail: bytes | None


@dataclass(frozen=True)
class ApiChanges:
    """What other clients did to a library since the console last looked (`seq`)."""

    seq: int
    added: list[ApiImage]
    removed_any: bool


class Backend(ABC):
    """One application's backend. Image calls go over the network and may raise ApiError;
    `*_provision` calls write in-process only and belong inside the caller's transaction."""

    codes: ClassVar[Codes]
    # The backend issues an application's keys itself (else the user brings them).
    issues_keys: ClassVar[bool]
    # The backend creates libraries itself (else they are created in the cloud's console and
    # only registered here once a probe shows they exist).
    provisions_libraries: ClassVar[bool]
    # Where an application of this kind calls when the user gives no base URL.
    default_base_url: ClassVar[str]
    # The QPS limit of a new application that names none (0: unlimited).
    default_qps: ClassVar[int]
    # Adding an image under a ref the library holds replaces it (Alibaba's pair), where Baidu
    # refuses the same bytes twice (`codes.exists`).
    add_replaces: ClassVar[bool] = False

    def __init__(self, application: Application, *, interactive: bool = False) -> None:
        self.application = application

    # --- images ----------------------------------------------------------------------------
    @abstractmethod
    def add(self, library: Library, row: Image, *, image: bytes) -> Stored:
        """Store the image of a row with the row's metadata."""

    @abstractmethod
    def search(
        self,
        library: Library,
        *,
        image: bytes,
        labels: Labels = Labels(),
        tag_logic: int | None = None,
        pn: int = 0,
        rn: int = 50,
    ) -> HitPage: ...

    @abstractmethod
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
        """Change brief and labels of the image named by `ref` or by its bytes; None (and an
        empty label set) leaves a field as it is. `picture` (Alibaba) is the edit of a
        picture's attributes and custom content, sent under its pair; None: as its row holds
        them. Backends without pictures ignore it."""

    @abstractmethod
    def delete(self, library: Library, rows: Sequence[Image]) -> None:
        """Delete the images of these rows (at most 100), by ref, or by their bytes where the
        backend never answered the add. An image the library no longer holds is deleted."""

    # --- libraries -------------------------------------------------------------------------
    @abstractmethod
    def library_verify(self, library: Library) -> None:
        """Check that the library (not saved yet) can be used before it is recorded (may call
        the network); raises ApiError. May fill in what the backend says of it (an Alibaba
        instance's service type and capacity)."""

    @abstractmethod
    def library_provision(self, library: Library) -> None: ...

    @abstractmethod
    def library_capacity_provision(self, library: Library, capacity: int) -> None: ...

    @abstractmethod
    def library_empty(self, library: Library) -> bool:
        """Empty the library at once if the backend can; False: delete image by image."""

    @abstractmethod
    def library_drop(self, library: Library) -> None:
        """Delete the library itself where the backend holds it in-process (the built-in
        engine: with every image, whoever added it); in-process, inside the caller's
        transaction. A hosted library stays in the cloud's console: nothing to do."""

    @abstractmethod
    def library_size(self, library: Library) -> int | None:
        """How many images the backend holds, where it can say cheaply."""

    def features_version(self) -> str:
        """The version of the features the backend searches with, where it says (the built-in
        engine's); empty for a cloud, whose model changes unannounced."""
        return ""

    @abstractmethod
    def api_seq(self, library: Library) -> int | None:
        """The number of the library's last change, whoever made it, read cheaply; None if the
        backend cannot tell."""

    @abstractmethod
    def api_changes(self, library: Library, *, after_seq: int) -> ApiChanges | None:
        """Images added or removed by other clients since `after_seq`; None if the backend
        cannot tell (hosted clouds have no listing)."""

    @abstractmethod
    def refs(self, library: Library) -> set[str]:
        """Every ref the library holds (only where `api_changes` is supported)."""

    # --- the application -------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def keys_issue(cls, *, name: str, services: Sequence[str], qps: int) -> Keys:
        """New keys for a new application (where `issues_keys`); in-process."""

    @classmethod
    @abstractmethod
    def keys_verify(cls, *, base_url: str, keys: Keys) -> str:
        """How these keys authenticate ("token" or "sign"); calls the network, raises
        ApiError (`codes.bad_keys` when they are refused)."""

    @abstractmethod
    def application_provision(self, *, services: Sequence[str], qps: int) -> None: ...

    @abstractmethod
    def application_rename(self, *, name: str) -> None:
        """Follow a new name where the backend keeps one in-process (the built-in engine);
        hosted applications are named in the cloud's console, which Tuku does not change."""

    @abstractmethod
    def application_drop(self) -> None:
        """Delete the application's keys where the backend issued them (the built-in engine);
        in-process, inside the caller's transaction. Hosted keys are the cloud's: nothing."""

    @abstractmethod
    def secret_rotate(self) -> str:
        """A new Secret Key; raises NotImplementedError where the cloud's console does it."""
