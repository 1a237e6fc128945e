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
from gallery.models import Application


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

    app_id: str
    api_key: str
    secret_key: str = field(repr=False)


@dataclass(frozen=True)
class Hit:
    ref: str
    score: float
    brief: str


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

    def __init__(self, application: Application, *, interactive: bool = False) -> None:
        self.application = application

    # --- images ----------------------------------------------------------------------------
    @abstractmethod
    def add(self, service: str, *, image: bytes, brief: str, labels: Labels) -> str:
        """Store an image; returns its ref."""

    @abstractmethod
    def search(
        self,
        service: str,
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
        service: str,
        *,
        ref: str | None = None,
        image: bytes | None = None,
        brief: str | None = None,
        labels: Labels | None = None,
    ) -> None:
        """Change brief and labels of the image named by `ref` or by its bytes; None (and an
        empty label set) leaves a field as it is."""

    @abstractmethod
    def delete(self, service: str, *, refs: Sequence[str] = (), image: bytes | None = None) -> None:
        """Delete images by ref (at most 100 per call) or by their bytes."""

    # --- libraries -------------------------------------------------------------------------
    @abstractmethod
    def library_verify(self, service: str) -> None:
        """Check that the library can be used before it is recorded (may call the network);
        raises ApiError."""

    @abstractmethod
    def library_provision(self, service: str, capacity: int) -> None: ...

    @abstractmethod
    def library_capacity_provision(self, service: str, capacity: int) -> None: ...

    @abstractmethod
    def library_empty(self, service: str) -> bool:
        """Empty the library at once if the backend can; False: delete image by image."""

    @abstractmethod
    def library_size(self, service: str) -> int | None:
        """How many images the backend holds, where it can say cheaply."""

    @abstractmethod
    def api_seq(self, service: str) -> int | None:
        """The number of the library's last change, whoever made it, read cheaply; None if the
        backend cannot tell."""

    @abstractmethod
    def api_changes(self, service: str, *, after_seq: int) -> ApiChanges | None:
        """Images added or removed by other clients since `after_seq`; None if the backend
        cannot tell (hosted clouds have no listing)."""

    @abstractmethod
    def refs(self, service: str) -> set[str]:
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
    def secret_rotate(self) -> str:
        """A new Secret Key; raises NotImplementedError where the cloud's console does it."""
