"""The data manager's admin site.

Clinical records (mothers, identities, sessions, sheets) are read-only here: they are written
only through the services (studies/services.py), which validate every rule, bump the record's
version and put the reason in the history. The app's own correction forms are the data
manager's way to change them. The admin keeps what only it does: sites, studies, users.

The site itself is open only to the data manager's role: staff status alone (a midwife ticked
"staff" by mistake) does not let anyone in, and a data manager cannot act on a superuser.
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG, SEARCH_VAR
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from simple_history import admin as simple_history_admin

from .models import MassageSession, Observation, Respondent, RespondentIdentity, Site, Study
from .safety import BoundedModelMultipleChoiceField, out_of_range, require_key

# --- ids from URLs and forms, bounded to what the database holds -------------------------------
# SQLite raises OverflowError on an id past 64 bits in lookups Django does not guard (a related
# id in a list filter, the ids of a multiple choice), and simple-history's pages send any id
# from the URL to the database. These two classes, defined once here, stand in for the admin
# classes of the same names below.


class BoundedIdsMixin:
    """List filters and multiple choices with an id the database cannot hold are refused the
    way the admin refuses any invalid filter or choice."""

    def changelist_view(self, request, extra_context=None):
        values = (
            part
            for name, values in request.GET.lists()
            if name != SEARCH_VAR
            for value in values
            for part in value.split(",")
        )
        if any(out_of_range(value) for value in values):
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", BoundedModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class SimpleHistoryAdmin(BoundedIdsMixin, simple_history_admin.SimpleHistoryAdmin):
    """simple-history's admin, with the ids of its history URLs checked first: "abc" or a
    number past the column's range is a missing record (404), not a database error."""

    def history_view(self, request, object_id, extra_context=None):
        require_key(self.model._meta.pk, unquote(object_id))
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        require_key(self.model._meta.pk, unquote(object_id))
        require_key(self.model.history.model._meta.pk, version_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


class UserAdmin(BoundedIdsMixin, auth_admin.UserAdmin):
    """Django's user admin with bounded ids (its groups and permissions)."""


class HistoryAdmin(SimpleHistoryAdmin):
    """Simple-history's pages to read the history; its "revert" form, which saves an old
    version straight back (without validation of the whole record, without a reason and with
    the old version number), is refused."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None) -> bool:
        return True


class ClinicalRecordAdmin(HistoryAdmin):
    """Read-only: the list, each record and its history. Writes go through the app's forms."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Site)
class SiteAdmin(HistoryAdmin):
    list_display = ["name"]
    search_fields = ["name"]
    filter_horizontal = ["members"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Study)
class StudyAdmin(HistoryAdmin):
    list_display = ["code", "title", "design", "definition_version"]
    search_fields = ["code", "title"]
    filter_horizontal = ["sites"]
    # The definition changes through the study designer (services.change_definition), which
    # refuses a change that would orphan saved values; the seed is never shown.
    readonly_fields = ["definition", "definition_version"]
    exclude = ["allocation_seed"]

    @admin.display(description=_("design"))
    def design(self, study: Study) -> str:
        return study.protocol.design.label

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class IdentityInline(admin.StackedInline):
    model = RespondentIdentity
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Respondent)
class RespondentAdmin(ClinicalRecordAdmin):
    list_display = ["code", "study", "site", "status", "enrolled_on", "age_years", "parity"]
    list_filter = ["study", "site", "status", "education", "employment"]
    search_fields = ["code"]
    inlines = [IdentityInline]
    list_select_related = ["study", "site"]


@admin.register(MassageSession)
class MassageSessionAdmin(ClinicalRecordAdmin):
    list_display = ["respondent", "postpartum_day", "slot", "planned_date", "status"]
    list_filter = ["status", "slot", "respondent__study"]
    search_fields = ["respondent__code"]
    list_select_related = ["respondent"]
    raw_id_fields = ["respondent"]


@admin.register(Observation)
class ObservationAdmin(ClinicalRecordAdmin):
    list_display = ["respondent", "timepoint", "observed_on", "values"]
    list_filter = ["timepoint", "respondent__study"]
    search_fields = ["respondent__code"]
    list_select_related = ["respondent"]
    raw_id_fields = ["respondent"]


class LancarUserAdmin(UserAdmin):
    """The data manager manages users, but cannot hand out more than her own role (superuser
    status and individual permissions stay with a superuser; roles come from the groups), and
    cannot act on a superuser at all: not change, reset the password of, deactivate or delete
    one. A superuser's account is looked after by a superuser."""

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, "is_superuser", "user_permissions")

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # The bulk delete action would act on superusers in the selection.
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("delete_selected", None)
        return actions


admin.site.unregister(User)
admin.site.register(User, LancarUserAdmin)
