"""Web forms of the staff inbox; they parse input only, the rules are in `support.services`."""

from __future__ import annotations

from datetime import datetime

from django import forms

from patron.support import services


class SnoozeForm(forms.Form):
    """A preset button (1 hour, tomorrow, next week) or a date and time on the store's clock."""

    preset = forms.ChoiceField(choices=[("", "Custom"), *services.SNOOZE_PRESETS.items()], required=False)
    until = forms.DateTimeField(
        label="Snooze until",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if not cleaned.get("preset") and cleaned.get("until") is None and "until" not in self.errors:
            self.add_error("until", "Choose a preset or a date and time.")
        return cleaned

    def until_moment(self) -> datetime:
        """The chosen end of the snooze; a preset wins over the custom field."""
        return services.snooze_end(self.cleaned_data.get("until"), self.cleaned_data.get("preset") or "")
