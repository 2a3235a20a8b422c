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
]
