"""The trip page is sent without its templates' indentation (frontend/compact.py), and a
page where spaces count is sent as it is."""

from django.http import HttpResponse
from django.test import RequestFactory

from frontend.compact import compact_html


def _view(body: bytes, content_type: str = "text/html; charset=utf-8"):
    return compact_html(lambda request: HttpResponse(body, content_type=content_type))


def test_indentation_goes_words_stay_apart():
    page = b"<ul>\n    <li>Voiture 2,\n      place 14</li>\n\t<li>x</li>\n</ul>"
    response = _view(page)(RequestFactory().get("/"))
    assert response.content == b"<ul>\n<li>Voiture 2,\nplace 14</li>\n<li>x</li>\n</ul>"


def test_a_page_with_a_textarea_or_pre_or_not_html_is_sent_as_it_is():
    for page, content_type in (
        (b"<form>\n    <textarea>\n  keep</textarea></form>", "text/html"),
        (b"<pre>\n    code</pre>", "text/html"),
        (b'{\n    "a": 1}', "application/json"),
    ):
        response = _view(page, content_type)(RequestFactory().get("/"))
        assert response.content == page
