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
    assert (study.first_session_day, study.sessions_per_day, study.intervention_days) == (2, 2, 3)
    assert "Created study PIJAT" in output
    assert "= 6 sessions of 15–20 minutes" in output


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
