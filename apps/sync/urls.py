from __future__ import annotations

from django.urls import path

from apps.sync import audit_views, conflict_views, views

app_name = "sync"

urlpatterns = [
    path("", views.sync_page, name="runs"),
    path("runs/<int:run_id>/", views.run_page, name="run"),
    path("runs/<int:run_id>/confirm/", views.run_confirm, name="run_confirm"),
    path("settings/", views.settings_save, name="settings"),
    path("conflicts/", conflict_views.conflicts, name="conflicts"),
    path("conflicts/bulk/", conflict_views.conflicts_bulk, name="conflicts_bulk"),
    path("conflicts/map-agent/<int:person_id>/", conflict_views.map_agent, name="map_agent"),
    path("conflicts/map-activity/", conflict_views.map_activity, name="map_activity"),
    path("conflicts/<int:conflict_id>/", conflict_views.conflict_detail, name="conflict"),
    path(
        "conflicts/<int:conflict_id>/resolve/",
        conflict_views.conflict_resolve,
        name="conflict_resolve",
    ),
    path("audit/", audit_views.audit_page, name="audit"),
    path("audit/export/", audit_views.audit_export, name="audit_export"),
]
