"""Logging in and changing the password, both under the failed-login limits of
console/logins.py: a refused attempt says why beside the form and answers 429."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.http import HttpRequest, HttpResponse

from console.logins import locked_message


def _refused(request: HttpRequest) -> bool:
    return bool(getattr(request, "axes_locked_out", False))


class LoginView(auth_views.LoginView):
    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        if not _refused(self.request):
            return super().form_invalid(form)
        form.errors.clear()
        form.add_error(None, locked_message())
        return self.render_to_response(self.get_context_data(form=form), status=429)


class LimitedPasswordChangeForm(PasswordChangeForm):
    """The old password is checked by `authenticate`, so that a wrong one counts as a failed
    login and a stolen session cannot guess it without limit."""

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old = self.cleaned_data["old_password"]
        found = authenticate(self.request, username=self.user.get_username(), password=old)
        if _refused(self.request):
            raise forms.ValidationError(locked_message(), code="locked")
        if found is None or found.pk != self.user.pk:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return str(old)


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = LimitedPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}

    def form_invalid(self, form: Any) -> HttpResponse:
        status = 429 if _refused(self.request) else 200
        return self.render_to_response(self.get_context_data(form=form), status=status)
