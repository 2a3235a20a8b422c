from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG, SEARCH_VAR
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import User
from django.http import HttpResponseRedirect
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


class NoDeleteHistoryAdmin(SimpleHistoryAdmin):
    """Clinical data is never hard-deleted from the UI: mothers are withdrawn instead."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ["name"]
    search_fields = ["name"]
    filter_horizontal = ["members"]


@admin.register(Study)
class StudyAdmin(SimpleHistoryAdmin):
    list_display = ["code", "title", "first_session_day", "sessions_per_day", "intervention_days"]
    search_fields = ["code", "title"]
    filter_horizontal = ["sites"]


class IdentityInline(admin.StackedInline):
    model = RespondentIdentity
    can_delete = False


@admin.register(Respondent)
class RespondentAdmin(NoDeleteHistoryAdmin):
    list_display = ["code", "study", "site", "status", "enrolled_on", "age_years", "parity"]
    list_filter = ["study", "site", "status", "education", "employment"]
    search_fields = ["code"]
    inlines = [IdentityInline]
    list_select_related = ["study", "site"]


@admin.register(MassageSession)
class MassageSessionAdmin(NoDeleteHistoryAdmin):
    list_display = ["respondent", "postpartum_day", "slot", "planned_date", "status"]
    list_filter = ["status", "slot", "respondent__study"]
    search_fields = ["respondent__code"]
    list_select_related = ["respondent"]
    raw_id_fields = ["respondent"]


@admin.register(Observation)
class ObservationAdmin(NoDeleteHistoryAdmin):
    list_display = ["respondent", "phase", "observed_on", "feed_count", "urination_count"]
    list_filter = ["phase", "respondent__study"]
    search_fields = ["respondent__code"]
    list_select_related = ["respondent"]
    raw_id_fields = ["respondent"]


class LancarUserAdmin(UserAdmin):
    """The data manager manages users, but cannot hand out more than her own role: superuser
    status and individual permissions stay with a superuser (roles come from the groups)."""

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, "is_superuser", "user_permissions")


admin.site.unregister(User)
admin.site.register(User, LancarUserAdmin)
