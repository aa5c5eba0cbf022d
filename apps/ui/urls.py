from __future__ import annotations

from django.urls import path

from apps.ui import privacy, views

app_name = "ui"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/api-keys/", views.api_key_create, name="api_key_create"),
    path("settings/api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("settings/privacy/", privacy.privacy_page, name="privacy"),
    path("settings/privacy/retention/", privacy.retention_save, name="retention_save"),
    path("settings/privacy/export/", privacy.person_export, name="person_export"),
    path("settings/privacy/purge/", privacy.person_purge, name="person_purge"),
]
