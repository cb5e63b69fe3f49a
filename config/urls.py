from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # Before admin.site.urls, whose final catch-all view would take these paths.
    path("admin/traces/", include("traces.urls")),
    path("admin/", admin.site.urls),
    path("", include("orders.urls")),
    path("", include("shop.urls")),
]
