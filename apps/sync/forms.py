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
            "adopt_tolerance_minutes",
        ]
        labels = {
            "schedule_enabled": "Sync on the schedule (off for a new pair until you switch it on)",
            "incremental_every_minutes": "Sync changes every (minutes)",
            "full_reconcile_hour_utc": "Full reconcile every night at (hour, UTC)",
            "full_lookback_days": "Full reconcile looks back (days)",
            "deletion_policy": "When an entry is deleted in Zammad",
            "adopt_tolerance_minutes": "Adopt a timesheet typed by hand in Kimai when its begin "
            "and duration are within this many minutes of Zammad's, besides Kimai's rounding "
            "(2 minutes)",
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["adopt_tolerance_minutes"].required = False  # empty: Kimai's rounding only

    def clean_adopt_tolerance_minutes(self) -> int:
        value = int(self.cleaned_data["adopt_tolerance_minutes"] or 0)
        if not 0 <= value <= 240:
            raise forms.ValidationError("Between 0 and 240 minutes.")
        return value

    def clean_full_lookback_days(self) -> int:
        value = int(self.cleaned_data["full_lookback_days"])
        if not 1 <= value <= 366:
            raise forms.ValidationError("Between 1 and 366 days.")
        return value
