from django.urls import path

from . import designer, results_views, views

app_name = "studies"

urlpatterns = [
    path("", views.home, name="home"),
    path("designer/", designer.designer_index, name="designer_index"),
    path("designer/new/", designer.designer_new, name="designer_new"),
    path("designer/<str:study_code>/", designer.designer_edit, name="designer_edit"),
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
    path(
        "studies/<str:study_code>/respondents/<str:respondent_code>/withdrawal/",
        views.withdrawal_correct,
        name="withdrawal_correct",
    ),
    path("studies/<str:study_code>/enrol/", views.respondent_enrol, name="respondent_enrol"),
    path("studies/<str:study_code>/export/", views.export_index, name="export_index"),
    path("studies/<str:study_code>/export/cohort.sps", views.export_spss, name="export_spss"),
    path("studies/<str:study_code>/export/cohort.sav", views.export_sav, name="export_sav"),
    path("studies/<str:study_code>/export/<str:kind>.csv", views.export_csv, name="export_csv"),
    path("studies/<str:study_code>/export/<str:kind>.xlsx", views.export_xlsx, name="export_xlsx"),
    path("studies/<str:study_code>/import/", views.import_upload, name="import_upload"),
    path(
        "studies/<str:study_code>/import/template.csv",
        views.import_template,
        name="import_template",
    ),
    path("studies/<str:study_code>/import/<uuid:job_id>/", views.import_job, name="import_job"),
    path(
        "studies/<str:study_code>/import/<uuid:job_id>/confirm/",
        views.import_confirm,
        name="import_confirm",
    ),
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
        "studies/<str:study_code>/respondents/<str:respondent_code>/sheets/<str:timepoint>/",
        views.observation_record,
        name="observation_record",
    ),
    path("studies/<str:study_code>/results/", results_views.results, name="results"),
    path("studies/<str:study_code>/results.json", results_views.results_json, name="results_json"),
    path(
        "studies/<str:study_code>/results/test-choice/",
        results_views.results_test_choice,
        name="results_test_choice",
    ),
    path(
        "studies/<str:study_code>/results/tables.docx",
        results_views.results_tables_docx,
        name="results_tables_docx",
    ),
    path(
        "studies/<str:study_code>/results/table-<int:number>.csv",
        results_views.results_table_csv,
        name="results_table_csv",
    ),
    path(
        "studies/<str:study_code>/results/table-<int:number>.xlsx",
        results_views.results_table_xlsx,
        name="results_table_xlsx",
    ),
]
