from __future__ import annotations

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Respondent


def add_model_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's validation errors beside the form's fields, the rest above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class WithdrawForm(forms.Form):
    withdrawn_on = forms.DateField(
        label=Respondent._meta.get_field("withdrawn_on").verbose_name,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    withdrawal_reason = forms.CharField(
        label=Respondent._meta.get_field("withdrawal_reason").verbose_name,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )

    def __init__(self, *args, respondent: Respondent, **kwargs) -> None:
        kwargs.setdefault("initial", {"withdrawn_on": timezone.localdate()})
        super().__init__(*args, **kwargs)
        self.respondent = respondent
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", _("Withdraw"), css_class="btn-danger"))
