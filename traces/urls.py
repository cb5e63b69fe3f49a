"""The trace pages, under /admin/traces/ and behind the admin's staff login."""
from django.contrib import admin
from django.urls import path

from traces import views

app_name = "traces"

urlpatterns = [
    path("", admin.site.admin_view(views.trace_index), name="index"),
    path("order/<str:confirmation_id>/", admin.site.admin_view(views.order_traces), name="order"),
    path("<str:trace_id>/", admin.site.admin_view(views.trace_detail), name="trace"),
]
