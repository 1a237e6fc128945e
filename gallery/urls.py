from django.urls import path

from gallery import views

app_name = "gallery"
urlpatterns = [
    path("", views.home, name="home"),
    path("applications/new/", views.application_new, name="application-new"),
    path("applications/test-connection/", views.application_test, name="application-test"),
    path("applications/<int:application_id>/", views.application_detail, name="application"),
    path(
        "applications/<int:application_id>/secret/reveal/",
        views.application_reveal,
        name="application-reveal",
    ),
    path(
        "applications/<int:application_id>/secret/rotate/",
        views.application_rotate,
        name="application-rotate",
    ),
    path("applications/<int:application_id>/members/", views.member_add, name="member-add"),
    path(
        "applications/<int:application_id>/members/<int:user_id>/role/",
        views.member_role,
        name="member-role",
    ),
    path(
        "applications/<int:application_id>/members/<int:user_id>/remove/",
        views.member_remove,
        name="member-remove",
    ),
    path("applications/<int:application_id>/libraries/", views.library_new, name="library-new"),
    path(
        "applications/<int:application_id>/activity/",
        views.application_activity,
        name="activity",
    ),
    path("applications/<int:application_id>/usage/", views.application_usage, name="usage"),
    path("libraries/<int:library_id>/", views.library_detail, name="library"),
    path("libraries/<int:library_id>/capacity/", views.library_capacity, name="library-capacity"),
    path("libraries/<int:library_id>/bulk/", views.library_bulk, name="library-bulk"),
    path("libraries/<int:library_id>/upload/", views.library_upload, name="upload"),
    path("libraries/<int:library_id>/status/", views.library_status, name="library-status"),
    path("libraries/<int:library_id>/check/", views.library_check, name="library-check"),
    path("libraries/<int:library_id>/search/", views.library_search, name="search"),
    path(
        "libraries/<int:library_id>/search/query-image/",
        views.search_query_image,
        name="search-query-image",
    ),
    path("libraries/<int:library_id>/batches/", views.batch_new, name="batch-new"),
    path("libraries/<int:library_id>/clear/", views.library_clear, name="library-clear"),
    path("libraries/<int:library_id>/repush/", views.library_repush, name="library-repush"),
    path("libraries/<int:library_id>/copy/", views.library_copy, name="library-copy"),
    path("batches/<int:batch_id>/", views.batch_detail, name="batch"),
    path("batches/<int:batch_id>/files/", views.batch_files, name="batch-files"),
    path("batches/<int:batch_id>/close/", views.batch_close, name="batch-close"),
    path("batches/<int:batch_id>/cancel/", views.batch_cancel, name="batch-cancel"),
    path("batches/<int:batch_id>/retry/", views.batch_retry, name="batch-retry"),
    path(
        "applications/<int:application_id>/edit/",
        views.application_edit,
        name="application-edit",
    ),
    path("images/<int:image_id>/", views.image_detail, name="image"),
    path("images/<int:image_id>/edit/", views.image_edit, name="image-edit"),
    path("images/<int:image_id>/delete/", views.image_delete, name="image-delete"),
    path("images/<int:image_id>/repush/", views.image_repush, name="image-repush"),
    path(
        "images/<int:image_id>/thumbnail",
        views.image_file,
        {"kind": "thumbnail"},
        name="image-thumbnail",
    ),
    path(
        "images/<int:image_id>/original",
        views.image_file,
        {"kind": "original"},
        name="image-original",
    ),
]
