"""A sheet dated on another day than its time point's is a protocol deviation (kind
``sheet_day``, one per time point). The sheets already in the database that are dated off their
day get their deviation recorded here, with a reason that says so, as migration 0008 did for
the first kinds: nothing off the protocol stays unshown, and the next write for such a mother is
not refused for a departure it did not cause."""

import datetime

from django.conf import settings
from django.db import migrations, models

EXISTING_REASON = "Present before sheet dates were checked against the protocol (migration 0013)."


def record_existing_sheet_deviations(apps, schema_editor):
    from django.utils import timezone

    # The rule as it stands at this migration (studies.rules.sheet_due_date): a migration keeps
    # its own copy, so later changes of the rule cannot break it.
    def due_date(*, day, baseline, delivery_date, enrolled_on):
        due = delivery_date + datetime.timedelta(days=day)
        if baseline and enrolled_on:
            due = max(due, enrolled_on)
        return due

    Observation = apps.get_model("studies", "Observation")
    Deviation = apps.get_model("studies", "ProtocolDeviation")
    History = apps.get_model("studies", "HistoricalProtocolDeviation")
    now = timezone.now()
    days_by_study = {}
    sheets = Observation.objects.select_related("respondent", "respondent__study").order_by("pk")
    for sheet in sheets.iterator(chunk_size=2000):
        respondent = sheet.respondent
        study = respondent.study
        if study.pk not in days_by_study:
            points = (study.definition or {}).get("timepoints") or []
            days_by_study[study.pk] = (
                {point["key"]: point["day"] for point in points if "key" in point},
                points[0]["key"] if points else None,
            )
        days, baseline = days_by_study[study.pk]
        if sheet.timepoint not in days or not sheet.observed_on:
            continue
        due = due_date(
            day=days[sheet.timepoint],
            baseline=sheet.timepoint == baseline,
            delivery_date=respondent.delivery_date,
            enrolled_on=respondent.enrolled_on,
        )
        if sheet.observed_on == due:
            continue
        record = Deviation.objects.create(
            respondent=respondent,
            kind="sheet_day",
            timepoint=sheet.timepoint,
            expected=due.isoformat(),
            actual=sheet.observed_on.isoformat(),
            reason=EXISTING_REASON,
        )
        History.objects.create(
            id=record.pk,
            respondent_id=respondent.pk,
            kind=record.kind,
            timepoint=record.timepoint,
            expected=record.expected,
            actual=record.actual,
            reason=record.reason,
            recorded_at=record.recorded_at,
            history_date=now,
            history_type="+",
            history_change_reason=EXISTING_REASON,
        )


class Migration(migrations.Migration):

    dependencies = [
        ('studies', '0013_session_counts'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='protocoldeviation',
            name='deviation_once_per_respondent_and_kind',
        ),
        migrations.AddField(
            model_name='historicalprotocoldeviation',
            name='timepoint',
            field=models.CharField(blank=True, help_text="The time point's key, for a sheet dated on another day; empty otherwise.", max_length=30, verbose_name='time point'),
        ),
        migrations.AddField(
            model_name='protocoldeviation',
            name='timepoint',
            field=models.CharField(blank=True, help_text="The time point's key, for a sheet dated on another day; empty otherwise.", max_length=30, verbose_name='time point'),
        ),
        migrations.AlterField(
            model_name='historicalprotocoldeviation',
            name='kind',
            field=models.CharField(choices=[('enrolment_day', 'Enrolled on another postpartum day'), ('session_early', 'Session done before its planned day'), ('sheet_day', "Sheet dated on another day than its time point's")], max_length=30, verbose_name='deviation'),
        ),
        migrations.AlterField(
            model_name='protocoldeviation',
            name='kind',
            field=models.CharField(choices=[('enrolment_day', 'Enrolled on another postpartum day'), ('session_early', 'Session done before its planned day'), ('sheet_day', "Sheet dated on another day than its time point's")], max_length=30, verbose_name='deviation'),
        ),
        migrations.AddConstraint(
            model_name='protocoldeviation',
            constraint=models.UniqueConstraint(condition=models.Q(('session__isnull', True)), fields=('respondent', 'kind', 'timepoint'), name='deviation_once_per_respondent_kind_and_timepoint'),
        ),
        migrations.RunPython(record_existing_sheet_deviations, migrations.RunPython.noop),
    ]
