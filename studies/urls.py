from django.urls import path

from . import views

app_name = "studies"

urlpatterns = [
    path("", views.home, name="home"),
    path("studies/<str:study_code>/respondents/", views.respondent_list, name="respondent_list"),
    path(
        "studies/<str:study_code>/respondents/<str:respondent_code>/",
        views.respondent_detail,
        name="respondent_detail",
    ),
    path(
        "studies/<str:study_code>/respondents/<str:respondent_code>/withdraw/",
        views.respondent_withdraw,
        name="respondent_withdraw",
    ),
    path("studies/<str:study_code>/enrol/", views.respondent_enrol, name="respondent_enrol"),
    path(
        "studies/<str:study_code>/respondents/<str:respondent_code>/edit/",
        views.respondent_edit,
        name="respondent_edit",
    ),
    path(
        "studies/<str:study_code>/respondents/<str:respondent_code>/sessions/<int:day>/<str:slot>/",
        views.session_record,
        name="session_record",
    ),
    path(
        "studies/<str:study_code>/respondents/<str:respondent_code>/sheets/<str:phase>/",
        views.observation_record,
        name="observation_record",
    ),
]
