"""URLs of the example: an HTML home page, a small JSON API, and the health check."""

from __future__ import annotations

from django.urls import path
from notes import views

urlpatterns = [
    path("", views.home, name="home"),
    path("notes/", views.notes, name="notes"),
    path("healthz", views.healthz, name="healthz"),
]
