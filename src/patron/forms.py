"""What the web pages and the back-office share about forms."""

from __future__ import annotations

from django import forms

from patron.errors import DomainError


def apply_domain_error(form: forms.BaseForm, error: DomainError, field_names: dict[str, str] | None = None) -> None:
    """Show a service's refusal on a form: each field problem beside the input it names, the rest at the top.

    `field_names` maps a service's name for a field to the form's, where the two differ. The refusal's message
    goes at the top only when no problem could be placed beside an input: otherwise it would repeat, less
    precisely, what the fields already say. A problem naming no input of the form goes at the top, after the
    message, so that the person can still read what to fix; a line already at the top is not repeated.
    """
    field_names = field_names or {}
    placed = False
    top: list[str] = []
    for field, problems in error.fields.items():
        name = field_names.get(field, field)
        if name in form.fields:
            for problem in problems:
                form.add_error(name, problem)
                placed = True
        else:
            top.extend(problems)
    if not placed:
        top.insert(0, error.message)
    for line in dict.fromkeys(top):
        form.add_error(None, line)
