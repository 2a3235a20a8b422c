"""The admin site, open only to the data manager's role (the project's default admin site, set
in ``studies.apps.LancarAdminConfig``; kept apart from ``studies.admin`` so that building the
site does not import the modules that register on it)."""

from django.contrib import admin

from .access import Role, roles_of


class LancarAdminSite(admin.AdminSite):
    def has_permission(self, request) -> bool:
        """Django's rule (an active staff member) and the data manager's role: staff status
        alone, ticked by mistake on a midwife's account, does not widen what she sees."""
        user = request.user
        return bool(user.is_active and user.is_staff and Role.ADMIN in roles_of(user))
