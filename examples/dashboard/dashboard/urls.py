from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard_async, name="dashboard"),
    path("sync/", views.dashboard_sync, name="dashboard-sync"),
]
