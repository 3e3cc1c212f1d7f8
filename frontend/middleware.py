"""The product's own "not found" page for a page that says "not found" itself (a private
trip, a ticket that is not yours), debug or not: a newcomer of ``make run`` must not meet
Django's debug page for a trip they may not see. An address no URL matches keeps
Django's handling (in debug, the list of URL patterns helps a developer)."""

from django.http import Http404

from frontend.views import not_found


class NotFoundPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, Http404):
            return not_found(request, exception)
        return None
