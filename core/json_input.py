"""JSON from clients, bounded: the REST API's parser and the websocket's decoder.

Python's ``json`` decodes nested arrays and objects by recursion: a body of a hundred
thousand ``[`` raised ``RecursionError`` (a 500) in DRF's parser and killed the live
plan's socket handler. Nothing we accept nests deeper than a few levels, so a document
deeper than ``SIDEBYSIDE["JSON_MAX_DEPTH"]`` is refused before it is decoded, and a REST
body larger than ``SIDEBYSIDE["JSON_MAX_BYTES"]`` before it is read whole.
"""

import codecs
import json
import re

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.utils import json as drf_json

from core.errors import InvalidInput

# A JSON string (skipped: brackets inside it do not nest) or a bracket.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class JSONTooDeep(ValueError):
    """The document nests arrays and objects deeper than allowed. A ``ValueError``, as
    any other JSON that cannot be accepted."""


def json_depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether ``text`` opens more than ``max_depth`` arrays or objects inside each other."""
    if text.count("[") + text.count("{") <= max_depth:
        return False  # not enough brackets to nest that deep: the usual case, no scan
    depth = 0
    for match in _TOKEN.finditer(text):
        bracket = match.group()
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif bracket in "]}":
            depth -= 1
    return False


def json_loads_bounded(text: str, *, parse_constant=None):
    """``json.loads(text)``, refusing with ``JSONTooDeep`` a document nested deeper than
    ``SIDEBYSIDE["JSON_MAX_DEPTH"]`` (before decoding it)."""
    if json_depth_exceeds(text, settings.SIDEBYSIDE["JSON_MAX_DEPTH"]):
        raise JSONTooDeep("JSON nested too deeply")
    return json.loads(text, parse_constant=parse_constant)


class JSONTooLarge(InvalidInput):
    default_message = _("The request body is too large.")


class JSONNestedTooDeep(InvalidInput):
    default_message = _("The request body is nested too deeply.")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (strict: no NaN or Infinity) with the bounds above; too large or
    too deep is a 400 ``invalid`` like any other bad input."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.SIDEBYSIDE["JSON_MAX_BYTES"]
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise JSONTooLarge()
        try:
            text = codecs.decode(raw, parsers.get_encoding(parser_context))
            parse_constant = drf_json.strict_constant if api_settings.STRICT_JSON else None
            return json_loads_bounded(text, parse_constant=parse_constant)
        except JSONTooDeep as exc:
            raise JSONNestedTooDeep() from exc
        except ValueError as exc:  # UnicodeDecodeError included
            raise ParseError(f"JSON parse error - {exc}") from exc
