"""Web forms of reviews and Q&A; they parse input only, the rules are in `reviews.services`."""

from __future__ import annotations

from typing import Any

from django import forms

from patron.reviews import services
from patron.reviews.models import ReportReason

STAR_CHOICES = [(stars, f"{stars} star{'s' if stars > 1 else ''}") for stars in range(5, 0, -1)]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultiplePhotoField(forms.FileField):
    """Any number of files; each is checked by `reviews.photos` when the review is saved."""

    widget = MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/gif"})

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, (list, tuple)) else [data] if data else []
        return [super(MultiplePhotoField, self).clean(item, initial) for item in files]


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="Your rating",
        choices=STAR_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose from 1 to 5 stars."},
    )
    title = forms.CharField(
        label="Title (optional)",
        max_length=services.TITLE_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    comment = forms.CharField(
        label="Your review",
        max_length=services.COMMENT_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What did you like or not? How does it fit or work?",
    )
    photos = MultiplePhotoField(
        label="Photos (optional)",
        required=False,
        help_text="Up to a few JPEG, PNG, WebP or GIF photos. We remove the location and camera details.",
    )
    variant = forms.TypedChoiceField(label="Which one did you get?", coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, variant_choices: list[tuple[int, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        variant = self.fields["variant"]
        if variant_choices and isinstance(variant, forms.ChoiceField):
            variant.choices = [("", "Not saying"), *variant_choices]
        else:
            del self.fields["variant"]


class EditReviewForm(ReviewForm):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["photos"].label = "Add photos (optional)"
        self.fields.pop("variant", None)


class ReportForm(forms.Form):
    reason = forms.ChoiceField(label="What is wrong with it?", choices=ReportReason.choices, widget=forms.RadioSelect)
    note = forms.CharField(label="Anything to add (optional)", max_length=services.NOTE_MAX_LENGTH, required=False)


class QuestionForm(forms.Form):
    body = forms.CharField(
        label="Your question",
        max_length=services.QUESTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AnswerForm(forms.Form):
    body = forms.CharField(
        label="Your answer", max_length=services.ANSWER_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )
