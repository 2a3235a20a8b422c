"""Protocol deviations, recorded with a reason. The mothers already in the database who depart
from the protocol get their deviations recorded here, with a reason that says so, so that the
next write for them is not refused for a departure it did not cause."""

import django.core.validators
import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


EXISTING_REASON = "Present before protocol deviations were recorded (migration 0008)."


def record_existing_deviations(apps, schema_editor):
    from django.utils import timezone

    # The rule as it stood at this migration (studies.rules.protocol_deviations then): a
    # migration keeps its own copy, so later changes of the rule's signature cannot break it.
    def protocol_deviations(*, first_session_day, delivery_date, enrolled_on, sessions):
        found = []
        if delivery_date and enrolled_on:
            day = (enrolled_on - delivery_date).days
            if day != first_session_day:
                found.append(("enrolment_day", None, str(first_session_day), str(day)))
        for session_id, status, started_on, planned_date in sessions:
            if status == "done" and started_on is not None and started_on < planned_date:
                found.append(
                    ("session_early", session_id, planned_date.isoformat(), started_on.isoformat())
                )
        return found

    Respondent = apps.get_model("studies", "Respondent")
    Deviation = apps.get_model("studies", "ProtocolDeviation")
    History = apps.get_model("studies", "HistoricalProtocolDeviation")
    now = timezone.now()
    respondents = Respondent.objects.select_related("study").prefetch_related("sessions")
    for respondent in respondents.iterator(chunk_size=2000):
        found = protocol_deviations(
            first_session_day=respondent.study.first_session_day,
            delivery_date=respondent.delivery_date,
            enrolled_on=respondent.enrolled_on,
            sessions=[
                (
                    session.pk,
                    session.status,
                    timezone.localdate(session.started_at) if session.started_at else None,
                    session.planned_date,
                )
                for session in respondent.sessions.all()
            ],
        )
        for kind, session_id, expected, actual in found:
            record = Deviation.objects.create(
                respondent=respondent,
                kind=kind,
                session_id=session_id,
                expected=expected,
                actual=actual,
                reason=EXISTING_REASON,
            )
            History.objects.create(
                id=record.pk,
                respondent_id=respondent.pk,
                kind=record.kind,
                session_id=record.session_id,
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
        ('studies', '0007_codes_unique_ignoring_case'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='HistoricalProtocolDeviation',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('kind', models.CharField(choices=[('enrolment_day', 'Enrolled on another postpartum day'), ('session_early', 'Session done before its planned day')], max_length=30, verbose_name='deviation')),
                ('expected', models.CharField(help_text='What the protocol asks (a day or a date).', max_length=30, verbose_name='protocol')),
                ('actual', models.CharField(help_text='What was recorded.', max_length=30, verbose_name='recorded')),
                ('reason', models.TextField(validators=[django.core.validators.MaxLengthValidator(2000)], verbose_name='reason')),
                ('recorded_at', models.DateTimeField(blank=True, editable=False, verbose_name='recorded')),
                ('resolved_at', models.DateTimeField(blank=True, help_text='When a correction brought the mother back within the protocol.', null=True, verbose_name='resolved')),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('recorded_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='recorded by')),
                ('respondent', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='studies.respondent', verbose_name='respondent')),
                ('session', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='studies.massagesession', verbose_name='massage session')),
            ],
            options={
                'verbose_name': 'historical protocol deviation',
                'verbose_name_plural': 'historical protocol deviations',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='ProtocolDeviation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('enrolment_day', 'Enrolled on another postpartum day'), ('session_early', 'Session done before its planned day')], max_length=30, verbose_name='deviation')),
                ('expected', models.CharField(help_text='What the protocol asks (a day or a date).', max_length=30, verbose_name='protocol')),
                ('actual', models.CharField(help_text='What was recorded.', max_length=30, verbose_name='recorded')),
                ('reason', models.TextField(validators=[django.core.validators.MaxLengthValidator(2000)], verbose_name='reason')),
                ('recorded_at', models.DateTimeField(auto_now_add=True, verbose_name='recorded')),
                ('resolved_at', models.DateTimeField(blank=True, help_text='When a correction brought the mother back within the protocol.', null=True, verbose_name='resolved')),
                ('recorded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='recorded by')),
                ('respondent', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='deviations', to='studies.respondent', verbose_name='respondent')),
                ('session', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='deviations', to='studies.massagesession', verbose_name='massage session')),
            ],
            options={
                'verbose_name': 'protocol deviation',
                'verbose_name_plural': 'protocol deviations',
                'ordering': ['respondent', 'recorded_at'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('session__isnull', True)), fields=('respondent', 'kind'), name='deviation_once_per_respondent_and_kind'), models.UniqueConstraint(condition=models.Q(('session__isnull', False)), fields=('session', 'kind'), name='deviation_once_per_session_and_kind'), models.CheckConstraint(condition=models.Q(('reason', ''), _negated=True), name='deviation_has_a_reason')],
            },
        ),
        migrations.RunPython(record_existing_deviations, migrations.RunPython.noop),
    ]
