"""Set-password links, as the page that takes one reads them."""

from __future__ import annotations

from django.utils import timezone

from gallery.models import PasswordLink


def password_link_get(token: str) -> PasswordLink | None:
    """The live link of `token`: not used, not expired, of an active account."""
    return (
        PasswordLink.objects.select_related("user")
        .filter(
            token_hash=PasswordLink.hash_of(token),
            expires_at__gt=timezone.now(),
            user__is_active=True,
        )
        .first()
    )
