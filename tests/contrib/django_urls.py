"""URLs and views for the in-process Django tests: each view reports what it saw."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from tests.contrib.django_support import current_watcher


@csrf_exempt
def probe(request: HttpRequest) -> HttpResponse:
    """The in-flight counts while this view runs."""
    counters = current_watcher().counters
    return JsonResponse(
        {
            "inflight": counters.inflight,
            "writes": counters.inflight_writes,
            "method": request.method,
        }
    )


async def async_probe(request: HttpRequest) -> HttpResponse:
    return probe(request)


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[bytes]:
        yield b"first "
        yield b"second"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("", probe),
    path("probe/", probe),
    path("async/", async_probe),
    path("stream/", stream),
    path("healthz", healthz),
    path("healthz/probe", probe),
]
