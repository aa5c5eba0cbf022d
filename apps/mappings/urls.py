from __future__ import annotations

from django.urls import path

from apps.mappings import views

app_name = "mappings"

urlpatterns = [
    path("", views.rules, name="rules"),
    path("rules/new/", views.rule_new, name="rule_new"),
    path("rules/check/", views.rule_check, name="rule_check"),
    path("rules/choices/<slug:kind>/", views.choices, name="choices"),
    path("rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("rules/<int:rule_id>/move/<slug:direction>/", views.rule_move, name="rule_move"),
    path("preview/", views.preview, name="preview"),
    path("refresh/", views.refresh, name="refresh"),
    path("users/", views.users, name="users"),
    path("users/policy/", views.user_policy, name="user_policy"),
    path("users/<str:agent_id>/", views.user_set, name="user_set"),
    path("activities/", views.activities, name="activities"),
    path("activities/set/", views.activity_set, name="activity_set"),
    path("settings/", views.settings_page, name="settings"),
]
