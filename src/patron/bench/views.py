from django.http import HttpRequest, HttpResponse


def bare(request: HttpRequest) -> HttpResponse:
    """The cheapest page the stack can serve: the reference that the store's pages are compared with."""
    return HttpResponse("Patron", content_type="text/plain")
