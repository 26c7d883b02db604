from django.urls import path

from . import slow, views

urlpatterns = [
    path("", views.dashboard_async, name="dashboard"),
    path("sync/", views.dashboard_sync, name="dashboard-sync"),
    path("slow/", slow.page, name="slow"),
    path("slow/stream/", slow.stream, name="slow-stream"),
    path("slow/cancel/", slow.cancel, name="slow-cancel"),
    path("slow/running/", slow.running, name="slow-running"),
]
