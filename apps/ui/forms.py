from __future__ import annotations

from django import forms

from apps.gdpr.models import RetentionPolicy
from apps.gdpr.retention import MIN_AUDIT_DAYS, POLICY_FIELDS


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        strip=True,
        help_text="What the key is for, e.g. “billing export”.",
    )


class RetentionForm(forms.ModelForm):
    runs_days = forms.IntegerField(
        min_value=1, max_value=3650, label="Sync runs and their entries (days)"
    )
    conflicts_days = forms.IntegerField(
        min_value=1, max_value=3650, label="Resolved conflicts (days)",
        help_text="Skipped conflicts are decisions: they stay.",
    )  # fmt: skip
    deliveries_days = forms.IntegerField(
        min_value=1, max_value=3650, label="Webhook deliveries and refused requests (days)"
    )
    audit_days = forms.IntegerField(
        min_value=MIN_AUDIT_DAYS, max_value=3650, label="Audit events (days)",
        help_text=f"At least {MIN_AUDIT_DAYS}.",
    )  # fmt: skip
    task_results_days = forms.IntegerField(
        min_value=1, max_value=3650, label="The worker's task records (days)"
    )
    prune_hour_utc = forms.IntegerField(
        min_value=0, max_value=23, label="Prune every night at (hour, UTC)"
    )

    class Meta:
        model = RetentionPolicy
        fields = list(POLICY_FIELDS)


class PersonLookupForm(forms.Form):
    email = forms.EmailField(required=False, max_length=254, label="E-mail address")
    person_id = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, label="or person id"
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("email") and data.get("person_id") is None and not self.errors:
            raise forms.ValidationError("Give an e-mail address or a person id.")
        return data
