"""The three roles as Django groups, with their model permissions (DESIGN.md §2)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CLINICAL = ["respondent", "massagesession", "observation"]

ROLE_PERMISSIONS = {
    "midwife": [
        "view_site",
        "view_study",
        *[f"{action}_{model}" for model in CLINICAL for action in ("add", "change", "view")],
        "add_respondentidentity",
        "change_respondentidentity",
        "view_respondentidentity",
        "view_identity",
    ],
    "researcher": [
        "view_site",
        "view_study",
        *[f"view_{model}" for model in CLINICAL],
        "view_results",
    ],
    "admin": [
        *[
            f"{action}_{model}"
            for model in ("site", "study")
            for action in ("add", "change", "view")
        ],
        *[f"{action}_{model}" for model in CLINICAL for action in ("add", "change", "view")],
        "add_respondentidentity",
        "change_respondentidentity",
        "view_respondentidentity",
        "view_identity",
        "view_results",
        "export_data",
        "import_data",
        "add_user",
        "change_user",
        "view_user",
        "view_group",
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    assign_role_groups(apps)


def assign_role_groups(apps):
    """The groups and their permissions (which must exist already)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        permissions = list(
            Permission.objects.filter(
                codename__in=codenames, content_type__app_label__in=["studies", "auth"]
            )
        )
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise RuntimeError(f"permissions not found for {role}: {sorted(missing)}")
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
