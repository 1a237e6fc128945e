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
