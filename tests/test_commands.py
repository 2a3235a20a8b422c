"""The management commands of DESIGN.md §4.3 and the demo loader."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from studies.definition import paper_definition
from studies.models import MassageSession, Observation, Respondent, Site, Study


def run(*args, **env) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_create_study_prints_what_it_created():
    output = run("create_study", "PIJAT", "Pijat oksitosin", "--site", "Klinik A", "--site", "RB B")
    study = Study.objects.get(code="PIJAT")
    assert study.title == "Pijat oksitosin"
    assert sorted(study.sites.values_list("name", flat=True)) == ["Klinik A", "RB B"]
    schedule = study.schedule("all")
    assert (schedule.first_day, schedule.per_day, schedule.days) == (2, 2, 3)
    assert study.definition == paper_definition()
    assert "Created study PIJAT" in output
    assert "= 6 sessions of 15–20 minutes" in output
    # The summary is read from the definition: the paper's outcomes and thresholds.
    assert "outcome feeds (feeds): count, 0–40 times/24 h, adequate at ≥ 8" in (
        output
    )
    assert (
        "outcome urinations (urinations): count, 0–40 times/24 h, adequate at ≥ 6"
        in output
    )
    assert "time points: pre (day 2), post (day 5)" in output


LAKTASI_YAML = """\
code: LAKTASI
title: "Pijat oksitosin dan volume ASI"
design: two_group_pre_post
alpha: 0.05
sites: ["Klinik Mawar", "BPM Melati"]
arms:
  - {key: intervention, label: {id: "Pijat oksitosin", en: "Oxytocin massage"}}
  - {key: control, label: {id: "Kontrol", en: "Control"}}
allocation: by_site
arm_by_site: {"Klinik Mawar": intervention, "BPM Melati": control}
sessions:
  intervention: {first_day: 2, days: 3, per_day: 2, minutes: [15, 20],
                 label: {id: "Pijat oksitosin", en: "Oxytocin massage"}}
timepoints:
  - {key: pre, day: 2, label: {id: "Sebelum", en: "Before"}}
  - {key: post, day: 5, label: {id: "Sesudah", en: "After"}}
outcomes:
  - key: milk_ml
    label: {id: "Volume ASI", en: "Breast-milk volume"}
    type: continuous
    unit: {id: "ml", en: "ml"}
    min: 0
    max: 500
    decimals: 1
  - key: feeds
    label: {id: "Frekuensi menyusu", en: "Breastfeeding frequency"}
    type: count
    unit: {id: "kali/24 jam", en: "times/24 h"}
    min: 0
    max: 40
    adequate_at_least: 8
  - key: lancar
    label: {id: "ASI lancar", en: "Milk flows smoothly"}
    type: binary
    categories: [{value: 0, label: {id: "Tidak lancar", en: "Not smooth"}},
                 {value: 1, label: {id: "Lancar", en: "Smooth"}}]
    timepoints: [post]
characteristics: default
"""


@pytest.mark.django_db
def test_create_study_from_a_definition_file(tmp_path):
    path = tmp_path / "laktasi.yaml"
    path.write_text(LAKTASI_YAML, encoding="utf-8")
    output = run("create_study", "--definition", str(path))
    study = Study.objects.get(code="LAKTASI")
    assert study.title == "Pijat oksitosin dan volume ASI"
    assert sorted(study.sites.values_list("name", flat=True)) == ["BPM Melati", "Klinik Mawar"]
    protocol = study.protocol
    assert protocol.design.key == "two_group_pre_post"
    assert protocol.arm_keys == ("intervention", "control")
    assert protocol.arm_by_site == {"Klinik Mawar": "intervention", "BPM Melati": "control"}
    assert protocol.schedule("control") is None
    assert protocol.schedule("intervention").sessions_planned == 6
    assert [o.key for o in protocol.outcomes_at("pre")] == ["milk_ml", "feeds"]
    assert [o.key for o in protocol.outcomes_at("post")] == ["milk_ml", "feeds", "lancar"]
    assert protocol.outcome("milk_ml").decimals == 1
    assert "Created study LAKTASI" in output
    assert "arms: intervention (Oxytocin massage), control (Control); allocation: by_site" in (
        output
    )
    assert "sessions (control): none" in output
    assert "outcome lancar (Milk flows smoothly): binary, 0 = Not smooth, 1 = Smooth (at post)" in (
        output
    )


@pytest.mark.django_db
def test_a_json_definition_file_is_read_too(tmp_path):
    import json

    import yaml

    path = tmp_path / "laktasi.json"
    path.write_text(json.dumps(yaml.safe_load(LAKTASI_YAML)), encoding="utf-8")
    run("create_study", "--definition", str(path))
    assert Study.objects.get(code="LAKTASI").protocol.outcome("lancar").type == "binary"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "lines"),
    [
        (
            ("outcomes:", "outcomes:\n  - {key: Bad Key, type: count, min: 0, max: 5}"),
            ["outcomes[0].key: Use a key of lower-case letters"],
        ),
        (("max: 500", "max: -1"), ["outcomes[0].max: The maximum must be above the minimum."]),
        (("design: two_group_pre_post", "design: three_groups"), ["design: Choose one of:"]),
        (("code: LAKTASI", "code: ''"), ["code: Required: a text."]),
        (
            ('  - {key: control, label: {id: "Kontrol", en: "Control"}}\n', ""),
            [
                "arms: This design compares two arms: list exactly two.",
                "arm_by_site.BPM Melati: Not one of the arms.",
            ],
        ),
        (
            ("adequate_at_least: 8", "adequate_at_least: 80"),
            ["outcomes[1].adequate_at_least: The threshold must lie between"],
        ),
        (
            ("timepoints: [post]", "timepoints: [later]"),
            ["outcomes[2].timepoints: later is not a time point."],
        ),
        (
            ("alpha: 0.05", "alpha: 0.5\ncolour: blue"),
            [
                "alpha: The significance level must be between 0.001 and 0.2.",
                "colour: Unknown key.",
            ],
        ),
        (("code: LAKTASI", "code: LAKTASI\n  bad: [indent"), ["line "]),
    ],
)
def test_a_wrong_definition_file_names_every_key_and_creates_nothing(tmp_path, change, lines):
    path = tmp_path / "wrong.yaml"
    assert change[0] in LAKTASI_YAML
    path.write_text(LAKTASI_YAML.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        run("create_study", "--definition", str(path))
    for line in lines:
        assert line in str(caught.value)
    assert not Study.objects.exists()
    assert not Site.objects.exists()


@pytest.mark.django_db
def test_definition_and_code_together_are_refused(tmp_path):
    path = tmp_path / "laktasi.yaml"
    path.write_text(LAKTASI_YAML, encoding="utf-8")
    with pytest.raises(CommandError, match="Give either CODE"):
        run("create_study", "X", "Title", "--definition", str(path))
    with pytest.raises(CommandError, match="Give CODE and"):
        run("create_study")
    assert not Study.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["paper", "laktasi", "blocks"])
def test_export_study_round_trips_through_create_study(tmp_path, source):
    if source == "paper":
        run("create_study", "PIJAT", "Pijat oksitosin", "--site", "RB B", "--site", "Klinik A")
        code = "PIJAT"
    else:
        text = LAKTASI_YAML
        if source == "blocks":  # the seed of the blocks is the study's, never exported
            text = text.replace("allocation: by_site", "allocation: blocks").replace(
                'arm_by_site: {"Klinik Mawar": intervention, "BPM Melati": control}\n', ""
            )
        (tmp_path / "in.yaml").write_text(text, encoding="utf-8")
        run("create_study", "--definition", str(tmp_path / "in.yaml"))
        code = "LAKTASI"
    study = Study.objects.get(code=code)
    study.exclusion_criteria = "Bayi prematur\nIbu sakit berat"
    study.save()
    first = run("export_study", code)
    assert study.allocation_seed not in first or not study.allocation_seed
    (tmp_path / "copy.yaml").write_text(
        first.replace(f"code: {code}\n", "code: COPY\n", 1), encoding="utf-8"
    )
    run("create_study", "--definition", str(tmp_path / "copy.yaml"))
    copy = Study.objects.get(code="COPY")
    assert copy.definition == study.definition
    assert copy.exclusion_criteria == study.exclusion_criteria
    second = run("export_study", "COPY")
    assert second.replace("code: COPY\n", f"code: {code}\n", 1) == first
    assert "seed" not in first


@pytest.mark.django_db
def test_export_study_prints_yaml_the_definition_reads():
    import yaml

    run("create_study", "PIJAT", "Pijat oksitosin", "--site", "Klinik A")
    document = yaml.safe_load(run("export_study", "pijat"))
    assert document["code"] == "PIJAT"
    assert document["sites"] == ["Klinik A"]
    assert [p["key"] for p in document["timepoints"]] == ["pre", "post"]
    assert document["outcomes"][0]["adequate_at_least"] == 8
    with pytest.raises(CommandError, match="No study has the code NOPE."):
        run("export_study", "NOPE")


@pytest.mark.django_db
def test_create_study_twice_fails_with_a_message():
    run("create_study", "PIJAT", "Pijat oksitosin")
    with pytest.raises(CommandError, match="A study with the code PIJAT already exists."):
        run("create_study", "PIJAT", "Another title")
    assert Study.objects.get().title == "Pijat oksitosin"


def test_create_study_twice_exits_non_zero_from_the_shell(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    first = subprocess.run(
        [*manage, "create_study", "PIJAT", "Pijat"], env=env, capture_output=True, text=True
    )
    second = subprocess.run(
        [*manage, "create_study", "PIJAT", "Pijat"], env=env, capture_output=True, text=True
    )
    assert first.returncode == 0
    assert second.returncode != 0
    assert "already exists" in second.stderr


@pytest.mark.django_db
def test_add_user_midwife_gets_group_and_sites(monkeypatch, study):
    monkeypatch.setenv("LANCAR_PASSWORD", "a-long-test-password-42")
    output = run("add_user", "bidan_a", "--role", "midwife", "--site", "Klinik A")
    user = get_user_model().objects.get(username="bidan_a")
    assert list(user.groups.values_list("name", flat=True)) == ["midwife"]
    assert list(user.sites.values_list("name", flat=True)) == ["Klinik A"]
    assert user.check_password("a-long-test-password-42")
    assert not user.is_staff
    assert "Created user bidan_a" in output


@pytest.mark.django_db
def test_add_user_updates_role_and_sites(monkeypatch, study):
    monkeypatch.setenv("LANCAR_PASSWORD", "a-long-test-password-42")
    run("add_user", "siti", "--role", "midwife", "--site", "Klinik A")
    monkeypatch.delenv("LANCAR_PASSWORD")
    output = run("add_user", "siti", "--role", "admin")
    user = get_user_model().objects.get(username="siti")
    assert list(user.groups.values_list("name", flat=True)) == ["admin"]
    assert list(user.sites.all()) == []
    assert user.is_staff
    assert user.check_password("a-long-test-password-42")
    assert "Updated user siti" in output


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "midwife"], "A midwife needs at least one site"),
        (["--role", "midwife", "--site", "Nowhere"], "Unknown site(s): Nowhere."),
    ],
)
def test_add_user_refusals(monkeypatch, study, args, message):
    monkeypatch.setenv("LANCAR_PASSWORD", "a-long-test-password-42")
    with pytest.raises(CommandError) as caught:
        run("add_user", "bidan_x", *args)
    assert message in str(caught.value)
    assert not get_user_model().objects.filter(username="bidan_x").exists()


@pytest.mark.django_db
def test_add_user_refuses_a_weak_password(monkeypatch, study):
    monkeypatch.setenv("LANCAR_PASSWORD", "12345")
    with pytest.raises(CommandError, match="too short"):
        run("add_user", "bidan_x", "--role", "researcher")
    assert not get_user_model().objects.filter(username="bidan_x").exists()


@pytest.mark.django_db
def test_add_user_without_password_in_a_script_is_refused(monkeypatch, study):
    monkeypatch.delenv("LANCAR_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="A new user needs a password."):
        run("add_user", "bidan_x", "--role", "researcher")


def test_password_is_never_a_command_line_argument():
    from studies.management.commands.add_user import Command

    parser = Command().create_parser("manage.py", "add_user")
    options = {option for action in parser._actions for option in action.option_strings}
    assert not any("pass" in option for option in options)


@pytest.mark.django_db
def test_load_demo_fills_an_empty_database_once(tmp_path, client):
    credentials = tmp_path / "demo-credentials.txt"
    output = run("load_demo", "--credentials-file", str(credentials))
    assert Respondent.objects.filter(study__code="PIJAT").count() == 15
    statuses = set(Respondent.objects.filter(study__code="PIJAT").values_list("status", flat=True))
    assert statuses == {"enrolled", "completed", "withdrawn"}
    assert MassageSession.objects.filter(status="done").exists()
    assert MassageSession.objects.filter(status="planned").exists()
    paper_post = Observation.objects.filter(timepoint="post", respondent__study__code="PIJAT")
    assert paper_post.count() == 9
    # The second demo study: mothers in both arms, a control mother without sessions.
    laktasi = Respondent.objects.filter(study__code="LAKTASI")
    assert laktasi.count() == 8
    assert set(laktasi.values_list("arm", flat=True)) == {"intervention", "control"}
    assert not MassageSession.objects.filter(respondent__in=laktasi.filter(arm="control")).exists()
    assert Observation.objects.filter(respondent__in=laktasi, timepoint="post").count() == 4
    assert Site.objects.count() == 2

    lines = credentials.read_text().splitlines()[1:]
    assert [line.split("\t")[:2] for line in lines] == [
        ["bidan_amanda", "midwife"],
        ["bidan_sejahtera", "midwife"],
        ["peneliti", "researcher"],
        ["admin", "admin"],
    ]
    for line in lines:
        username, _role, password = line.split("\t")
        assert password in output
        response = client.post("/accounts/login/", {"username": username, "password": password})
        assert response.status_code == 302, username
        assert response["Location"] == "/"
        assert client.get("/").status_code == 200
        client.post("/accounts/logout/")

    again = run("load_demo", "--credentials-file", str(credentials))
    assert "already has data" in again
    assert Respondent.objects.count() == 23
