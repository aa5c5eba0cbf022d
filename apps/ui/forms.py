from __future__ import annotations

from django import forms


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        strip=True,
        help_text="What the key is for, e.g. “billing export”.",
    )
