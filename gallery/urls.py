from django.urls import path

from gallery.views import (
    applications,
    batches,
    images,
    libraries,
    lifecycle,
    members,
    people,
    pictures,
    search,
    uploads,
)

app_name = "gallery"
urlpatterns = [
    path("", applications.home, name="home"),
    path("applications/new/", applications.application_new, name="application-new"),
    path(
        "applications/test-connection/",
        applications.application_test,
        name="application-test",
    ),
    path(
        "applications/<int:application_id>/",
        applications.application_detail,
        name="application",
    ),
    path(
        "applications/<int:application_id>/secret/reveal/",
        applications.application_reveal,
        name="application-reveal",
    ),
    path(
        "applications/<int:application_id>/secret/rotate/",
        applications.application_rotate,
        name="application-rotate",
    ),
    path("applications/<int:application_id>/members/", members.member_add, name="member-add"),
    path(
        "applications/<int:application_id>/members/<int:user_id>/role/",
        members.member_role,
        name="member-role",
    ),
    path(
        "applications/<int:application_id>/members/<int:user_id>/remove/",
        members.member_remove,
        name="member-remove",
    ),
    path(
        "applications/<int:application_id>/members/new/",
        people.account_new,
        name="account-new",
    ),
    path(
        "applications/<int:application_id>/members/<int:user_id>/link/",
        people.account_link,
        name="account-link",
    ),
    path(
        "applications/<int:application_id>/members/<int:user_id>/deactivate/",
        people.account_active,
        {"active": False},
        name="account-deactivate",
    ),
    path(
        "applications/<int:application_id>/members/<int:user_id>/reactivate/",
        people.account_active,
        {"active": True},
        name="account-reactivate",
    ),
    path("accounts/set-password/", people.password_set, name="password-set"),
    path("accounts/set-password/<str:token>/", people.password_link, name="password-link"),
    path(
        "applications/<int:application_id>/libraries/",
        libraries.library_new,
        name="library-new",
    ),
    path(
        "applications/<int:application_id>/activity/",
        applications.application_activity,
        name="activity",
    ),
    path(
        "applications/<int:application_id>/usage/",
        applications.application_usage,
        name="usage",
    ),
    path("libraries/<int:library_id>/", libraries.library_detail, name="library"),
    path(
        "libraries/<int:library_id>/capacity/",
        libraries.library_capacity,
        name="library-capacity",
    ),
    path("libraries/<int:library_id>/bulk/", libraries.library_bulk, name="library-bulk"),
    path("libraries/<int:library_id>/upload/", uploads.library_upload, name="upload"),
    path(
        "libraries/<int:library_id>/threshold/",
        uploads.library_threshold,
        name="library-threshold",
    ),
    path("libraries/<int:library_id>/status/", images.library_status, name="library-status"),
    path("libraries/<int:library_id>/check/", search.library_check, name="library-check"),
    path("libraries/<int:library_id>/search/", search.library_search, name="search"),
    path(
        "libraries/<int:library_id>/products/", libraries.library_products, name="library-products"
    ),
    path(
        "libraries/<int:library_id>/pictures/check/",
        pictures.instance_check,
        name="instance-check",
    ),
    path(
        "libraries/<int:library_id>/pictures/compare/",
        pictures.instance_compare,
        name="instance-compare",
    ),
    path(
        "libraries/<int:library_id>/search/query-image/",
        search.search_query_image,
        name="search-query-image",
    ),
    path("libraries/<int:library_id>/batches/", uploads.batch_new, name="batch-new"),
    path(
        "libraries/<int:library_id>/pictures/delete/product/",
        images.pictures_delete,
        {"by": "product"},
        name="pictures-delete-product",
    ),
    path(
        "libraries/<int:library_id>/pictures/delete/filter/",
        images.pictures_delete,
        {"by": "filter"},
        name="pictures-delete-filter",
    ),
    path("libraries/<int:library_id>/clear/", batches.library_clear, name="library-clear"),
    path("libraries/<int:library_id>/repush/", batches.library_repush, name="library-repush"),
    path("libraries/<int:library_id>/copy/", batches.library_copy, name="library-copy"),
    path("batches/<int:batch_id>/", batches.batch_detail, name="batch"),
    path("batches/<int:batch_id>/files/", uploads.batch_files, name="batch-files"),
    path("batches/<int:batch_id>/close/", uploads.batch_close, name="batch-close"),
    path("batches/<int:batch_id>/cancel/", batches.batch_cancel, name="batch-cancel"),
    path("batches/<int:batch_id>/retry/", batches.batch_retry, name="batch-retry"),
    path(
        "applications/<int:application_id>/rename/",
        lifecycle.application_rename_view,
        name="application-rename",
    ),
    path(
        "applications/<int:application_id>/keys/",
        lifecycle.application_keys,
        name="application-keys",
    ),
    path(
        "applications/<int:application_id>/delete/",
        lifecycle.application_delete_view,
        name="application-delete",
    ),
    path(
        "libraries/<int:library_id>/rename/",
        lifecycle.library_rename_view,
        name="library-rename",
    ),
    path(
        "libraries/<int:library_id>/delete/",
        lifecycle.library_delete_view,
        name="library-delete",
    ),
    path(
        "applications/<int:application_id>/edit/",
        applications.application_edit,
        name="application-edit",
    ),
    path("images/<int:image_id>/", images.image_detail, name="image"),
    path("images/<int:image_id>/edit/", images.image_edit, name="image-edit"),
    path("images/<int:image_id>/delete/", images.image_delete, name="image-delete"),
    path("images/<int:image_id>/repush/", images.image_repush, name="image-repush"),
    path(
        "images/<int:image_id>/thumbnail",
        images.image_file,
        {"kind": "thumbnail"},
        name="image-thumbnail",
    ),
    path(
        "images/<int:image_id>/original",
        images.image_file,
        {"kind": "original"},
        name="image-original",
    ),
]
