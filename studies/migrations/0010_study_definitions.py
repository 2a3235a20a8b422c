"""Study designs as data (issue 14). Each study's protocol columns become its definition
(studies/definition.py, DESIGN.md §6); every observation sheet's phase becomes its time point
and its two counts become values of the outcomes ``feeds`` and ``urinations`` — in the records
and in every history row, so nothing saved and no past version is lost. Every mother is in the
arm ``all`` of her (one-group) study."""

import copy

import studies.definition
from django.db import migrations, models

# The paper's definition as it stood at this migration (a migration keeps its own copy).
PAPER_DEFINITION = {'design': 'one_group_pre_post',
 'alpha': 0.05,
 'arms': [],
 'allocation': 'chosen',
 'sessions': {'all': {'first_day': 2,
                      'days': 3,
                      'per_day': 2,
                      'minutes': [15, 20],
                      'label': {'id': 'Pijat oksitosin', 'en': 'Oxytocin massage'}}},
 'timepoints': [{'key': 'pre', 'day': 2, 'label': {'id': 'pre-test', 'en': 'pre-test'}},
                {'key': 'post', 'day': 5, 'label': {'id': 'post-test', 'en': 'post-test'}}],
 'outcomes': [{'key': 'feeds',
               'label': {'id': 'frekuensi menyusu', 'en': 'feeds'},
               'type': 'count',
               'unit': {'id': 'kali/24 jam', 'en': 'times/24 h'},
               'min': 0,
               'max': 40,
               'adequate_at_least': 8},
              {'key': 'urinations',
               'label': {'id': 'frekuensi BAK', 'en': 'urinations'},
               'type': 'count',
               'unit': {'id': 'kali/24 jam', 'en': 'times/24 h'},
               'min': 0,
               'max': 40,
               'adequate_at_least': 6}],
 'characteristics': 'default',
 'observation_hours': 24}


def paper_definition() -> dict:
    return copy.deepcopy(PAPER_DEFINITION)


def _definition(study) -> dict:
    """The definition a study's protocol columns stood for."""
    definition = paper_definition()
    definition["alpha"] = float(study.alpha)
    definition["observation_hours"] = study.observation_hours
    definition["sessions"]["all"].update(
        first_day=study.first_session_day,
        days=study.intervention_days,
        per_day=study.sessions_per_day,
        minutes=[study.session_min_minutes, study.session_max_minutes],
    )
    last_day = study.first_session_day + study.intervention_days - 1
    definition["timepoints"][0]["day"] = study.first_session_day
    definition["timepoints"][1]["day"] = last_day + 1
    feeds, urinations = definition["outcomes"]
    feeds["adequate_at_least"] = study.feeds_adequate_min
    urinations["adequate_at_least"] = study.urinations_adequate_min
    return definition


def _values(record) -> dict:
    values = {"feeds": record.feed_count, "urinations": record.urination_count}
    return {key: value for key, value in values.items() if value is not None}


def forwards(apps, schema_editor):
    for model in ("Study", "HistoricalStudy"):
        for study in apps.get_model("studies", model).objects.all().iterator(chunk_size=500):
            study.definition = _definition(study)
            study.save(update_fields=["definition"])
    for model in ("Observation", "HistoricalObservation"):
        manager = apps.get_model("studies", model).objects
        batch = []
        for record in manager.all().iterator(chunk_size=2000):
            record.values = _values(record)
            batch.append(record)
            if len(batch) == 2000:
                manager.bulk_update(batch, ["values"])
                batch = []
        manager.bulk_update(batch, ["values"])


def backwards(apps, schema_editor):
    for model in ("Study", "HistoricalStudy"):
        for study in apps.get_model("studies", model).objects.all().iterator(chunk_size=500):
            definition = study.definition or paper_definition()
            schedule = definition["sessions"].get("all") or next(
                iter(definition["sessions"].values())
            )
            outcomes = {outcome["key"]: outcome for outcome in definition["outcomes"]}
            study.alpha = definition["alpha"]
            study.observation_hours = definition.get("observation_hours", 24)
            study.first_session_day = schedule["first_day"]
            study.intervention_days = schedule["days"]
            study.sessions_per_day = schedule["per_day"]
            study.session_min_minutes, study.session_max_minutes = schedule["minutes"]
            study.feeds_adequate_min = outcomes.get("feeds", {}).get("adequate_at_least", 8)
            study.urinations_adequate_min = outcomes.get("urinations", {}).get(
                "adequate_at_least", 6
            )
            study.save()
    for model in ("Observation", "HistoricalObservation"):
        manager = apps.get_model("studies", model).objects
        for record in manager.all().iterator(chunk_size=2000):
            record.feed_count = record.values.get("feeds")
            record.urination_count = record.values.get("urinations")
            record.save(update_fields=["feed_count", "urination_count"])


class Migration(migrations.Migration):

    dependencies = [
        ("studies", "0009_import_jobs"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="observation",
            options={
                "ordering": ["respondent", "observed_on"],
                "verbose_name": "observation sheet",
                "verbose_name_plural": "observation sheets",
            },
        ),
        migrations.RemoveConstraint(model_name="observation", name="observation_unique_per_phase"),
        migrations.RemoveConstraint(model_name="observation", name="observation_feed_count_range"),
        migrations.RemoveConstraint(
            model_name="observation", name="observation_urination_count_range"
        ),
        migrations.RemoveConstraint(model_name="observation", name="observation_has_a_count"),
        migrations.RemoveConstraint(model_name="study", name="study_session_window_ordered"),
        migrations.RemoveConstraint(model_name="study", name="study_sessions_per_day_range"),
        migrations.RemoveConstraint(model_name="study", name="study_intervention_days_positive"),
        # The phase's key ("pre", "post") is the time point's key of the paper's definition.
        migrations.RenameField(model_name="observation", old_name="phase", new_name="timepoint"),
        migrations.RenameField(
            model_name="historicalobservation", old_name="phase", new_name="timepoint"
        ),
        migrations.AlterField(
            model_name="observation",
            name="timepoint",
            field=models.CharField(
                help_text="The time point's key in the study definition.",
                max_length=30,
                verbose_name="time point",
            ),
        ),
        migrations.AlterField(
            model_name="historicalobservation",
            name="timepoint",
            field=models.CharField(
                help_text="The time point's key in the study definition.",
                max_length=30,
                verbose_name="time point",
            ),
        ),
    ] + [
        migrations.AddField(
            model_name=model,
            name="values",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Outcome key to value; an outcome not recorded on the sheet is absent.",
                verbose_name="values",
            ),
        )
        for model in ("observation", "historicalobservation")
    ] + [
        migrations.AddField(
            model_name=model,
            name="arm",
            field=models.CharField(
                default="all",
                help_text="The arm's key in the study definition ('all' in a study without arms).",
                max_length=30,
                verbose_name="arm",
            ),
        )
        for model in ("respondent", "historicalrespondent")
    ] + [
        operation
        for model in ("study", "historicalstudy")
        for operation in (
            migrations.AddField(
                model_name=model,
                name="definition",
                field=models.JSONField(
                    default=studies.definition.paper_definition,
                    help_text="Design, arms, allocation, intervention schedule, time points and "
                    "outcomes (DESIGN.md section 6); fixed once a mother is enrolled.",
                    verbose_name="study definition",
                ),
            ),
            migrations.AddField(
                model_name=model,
                name="definition_version",
                field=models.PositiveIntegerField(
                    default=1,
                    help_text="Counts the changes of the definition; each is kept in the history.",
                    verbose_name="definition version",
                ),
            ),
            migrations.AddField(
                model_name=model,
                name="allocation_seed",
                field=models.CharField(
                    blank=True,
                    help_text="Draws the permuted blocks of a 'blocks' allocation; never shown to "
                    "midwives.",
                    max_length=64,
                    verbose_name="allocation seed",
                ),
            ),
        )
    ] + [
        migrations.RunPython(forwards, backwards),
    ] + [
        migrations.RemoveField(model_name=model, name=name)
        for model in ("observation", "historicalobservation")
        for name in ("feed_count", "urination_count")
    ] + [
        migrations.RemoveField(model_name=model, name=name)
        for model in ("study", "historicalstudy")
        for name in (
            "alpha", "feeds_adequate_min", "first_session_day", "intervention_days",
            "observation_hours", "session_max_minutes", "session_min_minutes",
            "sessions_per_day", "urinations_adequate_min",
        )
    ] + [
        migrations.AddConstraint(
            model_name="observation",
            constraint=models.UniqueConstraint(
                fields=("respondent", "timepoint"),
                name="observation_unique_per_timepoint",
                violation_error_code="duplicate_observation",
                violation_error_message="This mother already has a sheet for this time point.",
            ),
        ),
    ]
