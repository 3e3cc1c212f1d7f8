"""A page's indentation, dropped before it is sent: the trip page is mostly repeated
markup (a coach of seats, forms), and the templates' indentation alone was about 5 KB of
its 60 KB (issue 18 point 4's budget). Only runs of a line break and the spaces after it
go, so words never join; a page holding ``<pre>`` or ``<textarea>`` (where they count) is
sent as it is."""

import re
from functools import wraps

_INDENT = re.compile(rb"\n[ \t]+")
_KEEPS_SPACES = re.compile(rb"<(pre|textarea)[\s>]", re.IGNORECASE)


def compact_html(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if (
            not response.streaming
            and response.get("Content-Type", "").startswith("text/html")
            and not _KEEPS_SPACES.search(response.content)
        ):
            response.content = _INDENT.sub(b"\n", response.content)
        return response

    return wrapped
