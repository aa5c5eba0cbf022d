from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from apps.sync.models import SyncSettings


class SyncNowForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    dry_run = forms.BooleanField(
        label="Plan first (dry run): show what would happen, write nothing",
        required=False,
        initial=True,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if isinstance(start, date) and isinstance(end, date):
            if end < start:
                raise forms.ValidationError("“To” must not be before “From”.")
            if (end - start).days > 366:
                raise forms.ValidationError("Sync at most one year at a time.")
        return data

    def window(self) -> tuple[datetime, datetime]:
        zone = timezone.get_current_timezone()
        start = datetime.combine(self.cleaned_data["start"], time(0), tzinfo=zone)
        end = datetime.combine(self.cleaned_data["end"], time(0), tzinfo=zone) + timedelta(days=1)
        return start, end


class SyncSettingsForm(forms.ModelForm):
    class Meta:
        model = SyncSettings
        fields = [
            "schedule_enabled",
            "incremental_every_minutes",
            "full_reconcile_hour_utc",
            "full_lookback_days",
            "deletion_policy",
        ]
        labels = {
            "schedule_enabled": "Run on a schedule",
            "incremental_every_minutes": "Sync changes every (minutes)",
            "full_reconcile_hour_utc": "Full reconcile every night at (hour, UTC)",
            "full_lookback_days": "Full reconcile looks back (days)",
            "deletion_policy": "When an entry is deleted in Zammad",
        }

    def clean_incremental_every_minutes(self) -> int:
        value = int(self.cleaned_data["incremental_every_minutes"])
        if not 1 <= value <= 1440:
            raise forms.ValidationError("Between 1 and 1440 minutes.")
        return value

    def clean_full_reconcile_hour_utc(self) -> int:
        value = int(self.cleaned_data["full_reconcile_hour_utc"])
        if not 0 <= value <= 23:
            raise forms.ValidationError("An hour from 0 to 23.")
        return value

    def clean_full_lookback_days(self) -> int:
        value = int(self.cleaned_data["full_lookback_days"])
        if not 1 <= value <= 366:
            raise forms.ValidationError("Between 1 and 366 days.")
        return value
