from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from simple_history import admin as simple_history_admin

from .models import MassageSession, Observation, Respondent, RespondentIdentity, Site, Study
from .safety import require_key


class SimpleHistoryAdmin(simple_history_admin.SimpleHistoryAdmin):
    """simple-history's admin, with the ids of its history URLs checked first: "abc" or a
    number past the column's range is a missing record (404), not a database error."""

    def history_view(self, request, object_id, extra_context=None):
        require_key(self.model._meta.pk, unquote(object_id))
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        require_key(self.model._meta.pk, unquote(object_id))
        require_key(self.model.history.model._meta.pk, version_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


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
