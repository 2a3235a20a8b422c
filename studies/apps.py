from importlib import import_module

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def restore_role_groups(sender, using, apps=global_apps, **kwargs) -> None:
    """The role groups come from a data migration; a database flush (``manage.py flush``, or a
    transactional test) empties them while the schema stays. Django re-creates permissions
    after a flush through this signal; the groups come back the same way."""
    roles = import_module("studies.migrations.0002_roles")
    try:
        group_model = apps.get_model("auth", "Group")
    except LookupError:  # migrating backwards past auth
        return
    if group_model.objects.using(using).filter(name__in=roles.ROLE_PERMISSIONS).count() < len(
        roles.ROLE_PERMISSIONS
    ):
        # Django's own post_migrate handler has just re-created the permissions.
        roles.assign_role_groups(apps)


class StudiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "studies"
    verbose_name = _("Studies")

    def ready(self) -> None:
        post_migrate.connect(restore_role_groups, sender=self)
        from . import auth_log  # noqa: F401  (connects the sign-in log to the auth signals)


class LancarAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the project's admin site (open to the data manager's role only)."""

    default = False  # StudiesConfig stays this module's default for "studies"

    default_site = "studies.admin_site.LancarAdminSite"
