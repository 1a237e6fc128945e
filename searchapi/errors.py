"""The one error type of every image-search client, whatever the cloud.

The console handles failures of any backend through :class:`ApiError`; each wire's client
raises its own subclass, which adds nothing but its name.
"""

from __future__ import annotations


class ApiError(Exception):
    """A call that failed.

    ``error_code`` is the wire's code (an int, or the string the server sent), or a client-side
    string code: ``"timeout"``, ``"connection"``, ``"tls"``, ``"bad_response"``, or an OAuth
    ``error`` such as ``"invalid_client"``. ``retryable`` is True only where repeating the
    identical call can succeed; a wire's client sets it from the codes its protocol documents.
    """

    def __init__(
        self,
        error_code: int | str,
        error_msg: str,
        *,
        retryable: bool,
        log_id: int | str | None = None,
    ) -> None:
        super().__init__(error_code, error_msg)
        self.error_code = error_code
        self.error_msg = error_msg
        self.retryable = retryable
        self.log_id = log_id

    def __str__(self) -> str:
        suffix = f" (log_id {self.log_id})" if self.log_id is not None else ""
        return f"{self.error_code} {self.error_msg}{suffix}"
