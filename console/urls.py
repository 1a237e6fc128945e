from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from gallery.views.auth import LoginView, PasswordChangeView

urlpatterns = [
    path("", include("engine.urls")),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("gallery.urls")),
]
