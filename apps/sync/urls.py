from __future__ import annotations

from django.urls import path

from apps.sync import views

app_name = "sync"

urlpatterns = [
    path("", views.sync_page, name="runs"),
    path("runs/<int:run_id>/", views.run_page, name="run"),
    path("runs/<int:run_id>/confirm/", views.run_confirm, name="run_confirm"),
    path("settings/", views.settings_save, name="settings"),
]
