from __future__ import annotations

from django.urls import path

from apps.connectors import views

app_name = "connectors"

urlpatterns = [
    path("", views.connection_list, name="list"),
    path("new/<slug:kind>/", views.connection_new, name="new"),
    path("test/<slug:kind>/", views.connection_check_unsaved, name="check_unsaved"),
    path("<int:connection_id>/", views.connection_edit, name="edit"),
    path("<int:connection_id>/test/", views.connection_check, name="check"),
    path("<int:connection_id>/delete/", views.connection_delete, name="delete"),
    path("<int:connection_id>/disable/", views.connection_disable, name="disable"),
    path(
        "<int:connection_id>/webhook-secret/",
        views.webhook_secret_rotate,
        name="webhook_secret",
    ),
    path(
        "<int:connection_id>/webhook-secret/end-rotation/",
        views.webhook_rotation_end,
        name="webhook_end_rotation",
    ),
]
