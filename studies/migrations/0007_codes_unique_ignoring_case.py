"""Respondent codes unique within a study ignoring case, site names unique ignoring case.

A database that already holds two codes differing only in case (R01 and r01 in one study), or
two such site names, cannot take the constraint: the migration stops and names them, so the
data manager decides which record is which. Nothing is renamed silently.
"""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


def refuse_case_duplicates(apps, schema_editor):
    from collections import defaultdict

    Respondent = apps.get_model("studies", "Respondent")
    Site = apps.get_model("studies", "Site")
    codes = defaultdict(list)
    for study_id, code in Respondent.objects.values_list("study__code", "code"):
        codes[(study_id, code.lower())].append(code)
    sites = defaultdict(list)
    for name in Site.objects.values_list("name", flat=True):
        sites[name.lower()].append(name)
    clashes = [
        f"study {study}: {', '.join(sorted(found))}"
        for (study, _code), found in sorted(codes.items())
        if len(found) > 1
    ] + [f"sites: {', '.join(sorted(found))}" for found in sites.values() if len(found) > 1]
    if clashes:
        raise RuntimeError(
            "These respondent codes or site names differ only in case; give each a distinct "
            "code or name (the app's correction form, or the admin for sites), then migrate "
            "again: " + "; ".join(clashes)
        )


class Migration(migrations.Migration):

    dependencies = [
        ('studies', '0006_performance_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name='respondent',
            name='respondent_code_unique_in_study',
        ),
        migrations.AddConstraint(
            model_name='respondent',
            constraint=models.UniqueConstraint(models.F('study'), django.db.models.functions.text.Lower('code'), name='respondent_code_unique_in_study', violation_error_code='duplicate_code', violation_error_message='This respondent code is already used in this study.'),
        ),
        migrations.AddConstraint(
            model_name='site',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('name'), name='site_name_unique_ignoring_case', violation_error_message='A site with this name already exists.'),
        ),
    ]
