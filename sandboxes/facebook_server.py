"""A fake Facebook on loopback: the login dialog and the Graph API calls we make.

It is a real HTTP server (stdlib ``ThreadingHTTPServer`` in a thread), so the code under
test goes through facebook-sdk, requests and sockets exactly as in production, and the
sandbox (no ``FACEBOOK_APP_ID``) can show a login dialog in a browser. It plays:

- ``GET /{version}/dialog/oauth``: a page clearly labelled as a sandbox with one link per
  test user (and Cancel) that redirects to ``redirect_uri`` with ``code`` and ``state``;
- ``GET|POST /{version}/oauth/access_token``: code → user token, client credentials → app
  token, ``fb_exchange_token`` → long-lived token;
- ``GET /{version}/debug_token``, ``/{version}/me`` (``fields`` honoured),
  ``/{version}/me/friends`` (only friends who use the app, paged with ``limit``/``after``),
  ``/{version}/me/permissions``; each also without the version, as Facebook allows;
- errors in Facebook's JSON shape, and on demand: a slow user, a queued error or answer;
- ``GET /dialog/share`` (the Share Dialog by URL redirect): checks ``app_id``, ``href`` and
  ``redirect_uri``, fetches ``href`` as Facebook's crawler does (user agent
  ``facebookexternalhit/1.1``, once per URL: Facebook caches its scrape) and shows the card
  its Open Graph tags make, with "Post" and "Cancel". Both go back to ``redirect_uri`` with
  nothing added, as the real dialog does: the app is never told whether a post was made.
  Tests read ``fake.scrapes`` (every crawler fetch) and ``fake.posts`` (what was posted).

Tokens and codes are HMACs of a random secret per server instance: deterministic within a
run, unguessable across runs. Everything is kept in memory; ``stop()`` forgets it all.

Run it alone for the sandbox: ``python -m sandboxes.facebook_server --port 8001``.
Its pages are in English only: it stands in for Facebook's UI, not ours.
"""

import argparse
import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlencode, urlsplit

from groups.signed_request import signed_request_make

DEFAULT_APP_ID = "100000000000001"
SCOPES_KNOWN = frozenset({"public_profile", "email", "user_friends"})
USER_TOKEN_LIFETIME_SECONDS = 60 * 24 * 3600  # long-lived user tokens last about 60 days
CODE_LIFETIME_SECONDS = 600
FRIENDS_DEFAULT_LIMIT = 25
FRIENDS_MAX_LIMIT = 5000
USER_FIELDS = frozenset(
    {"id", "name", "first_name", "last_name", "middle_name", "short_name", "email", "picture"}
)
# What another app user may see of a friend: never their e-mail address.
FRIEND_FIELDS = USER_FIELDS - {"email"}
_VERSION_PREFIX = re.compile(r"^/(v\d+\.\d+)(/.*)?$")
# What Facebook's link crawler says it is (developers.facebook.com, "The Facebook Crawler").
CRAWLER_USER_AGENT = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
# The crawler reads only the start of a page: the tags must come early (in <head>).
SCRAPE_MAX_BYTES = 1024 * 1024
SCRAPE_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class FakeApp:
    id: str
    secret: str
    name: str = "Sidebyside (sandbox)"
    # Prefixes a redirect_uri must start with; empty: any http(s) URL.
    redirect_uri_prefixes: tuple[str, ...] = ()
    # Facebook's "Require App Secret" switch: user-token calls need appsecret_proof.
    require_appsecret_proof: bool = False


@dataclass(frozen=True)
class FakeUser:
    id: str
    name: str
    email: str | None = None
    picture_url: str | None = None  # None: the fake serves an SVG with initials
    # Every Graph answer to a call made with (or about) this user's token waits this long.
    delay_seconds: float = 0.0


@dataclass
class _Grant:
    app_id: str
    user_id: str
    scopes: tuple[str, ...]
    redirect_uri: str = ""
    issued_at: int = 0
    expires_at: int = 0
    used: bool = False


@dataclass(frozen=True)
class Scrape:
    """One fetch of a shared link by the fake's crawler and the tags it read there."""

    url: str
    status: int | None  # None: no answer at all (``error`` says why)
    tags: dict[str, str]  # <meta property|name=…>: the first value of each
    error: str = ""
    body: str = ""  # the page as read (its first SCRAPE_MAX_BYTES)


@dataclass(frozen=True)
class SharedPost:
    """What a person posted through the Share Dialog ("Post" pressed)."""

    app_id: str
    href: str
    card: Scrape
    message: str = ""
    hashtag: str = ""


@dataclass
class RecordedRequest:
    method: str
    path: str  # as requested, with the version if there was one
    version: str | None
    params: dict[str, str] = field(default_factory=dict)


def _default_users() -> list[FakeUser]:
    return [
        FakeUser("10001", "Alice Martin", "alice@example.test"),
        FakeUser("10002", "Bruno Petit", "bruno@example.test"),
        FakeUser("10003", "Chloé Durand", "chloe@example.test"),
        FakeUser("10004", "David Moreau", "david@example.test"),
        FakeUser("10005", "Emma Leroy", None),  # signed up with a phone number
    ]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def fields_parse(text: str) -> dict[str, dict | None]:
    """Graph's ``fields`` syntax: ``id,name,picture.type(large){url,width}``.

    Returns name → sub-selection (or None); modifiers such as ``.type(large)`` are ignored.
    Raises ValueError on unbalanced brackets.
    """
    items, depth, start = [], 0, 0
    for position, char in enumerate(text):
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
            if depth < 0:
                raise ValueError(text)
        elif char == "," and depth == 0:
            items.append(text[start:position])
            start = position + 1
    if depth != 0:
        raise ValueError(text)
    items.append(text[start:])
    selection: dict[str, dict | None] = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        name = re.match(r"[A-Za-z_]*", item).group(0)
        brace = item.find("{")
        selection[name] = fields_parse(item[brace + 1 : item.rindex("}")]) if brace >= 0 else None
    return selection


class _GraphAnswer(Exception):
    """Stop handling and answer this: a JSON body (dict) or a raw one (str)."""

    def __init__(self, status: int, body: dict | str, content_type: str = "application/json"):
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


def graph_error(
    code: int,
    message: str,
    *,
    type_: str = "OAuthException",
    subcode: int | None = None,
    status: int = 400,
    is_transient: bool | None = None,
) -> _GraphAnswer:
    error = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if is_transient is not None:
        error["is_transient"] = is_transient
    error["fbtrace_id"] = _b64(secrets.token_bytes(9))
    return _GraphAnswer(status, {"error": error})


class FakeFacebook:
    """The state of one fake Facebook, and the server that serves it."""

    def __init__(
        self,
        *,
        app_id: str = DEFAULT_APP_ID,
        app_secret: str | None = None,
        apps: list[FakeApp] | None = None,
        users: list[FakeUser] | None = None,
        friendships: list[tuple[str, str]] | None = None,
        users_using_app: list[str] | None = None,
        require_appsecret_proof: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        """Our app is ``app_id``/``app_secret`` (a random secret unless given); ``apps`` are
        other apps beside it. ``friendships``: pairs of user ids; default everyone with
        everyone.
        ``users_using_app``: users who already logged in to our app (all scopes granted).
        ``require_appsecret_proof``: our app has Facebook's "Require App Secret" switch on.
        """
        self.app = FakeApp(
            app_id,
            app_secret or secrets.token_hex(16),
            require_appsecret_proof=require_appsecret_proof,
        )
        self.apps = {self.app.id: self.app} | {app.id: app for app in apps or []}
        self.users = {user.id: user for user in users or _default_users()}
        if friendships is None:
            ids = list(self.users)
            friendships = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
        self.friendships = {frozenset(pair) for pair in friendships}
        self.host, self.port = host, port
        self.requests: list[RecordedRequest] = []
        # Bugs of the fake itself, answered 500; the tests' fixture fails on any.
        self.errors: list[str] = []
        # The Share Dialog: every crawler fetch, and what was posted (the app never knows).
        self.scrapes: list[Scrape] = []
        self.posts: list[SharedPost] = []
        self._scrape_cache: dict[str, Scrape] = {}
        self._secret = secrets.token_bytes(32)
        self._serial = 0
        self._lock = threading.RLock()
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, _Grant] = {}
        self._app_tokens: dict[str, str] = {}  # token → app id
        self._app_users: dict[str, dict[str, tuple[str, ...]]] = {app: {} for app in self.apps}
        self._queued: list[_GraphAnswer] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for user_id in users_using_app or []:
            self._app_users[self.app.id][user_id] = tuple(sorted(SCOPES_KNOWN))

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.block_on_close = False  # a slow answer must not hold up stop()
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes slow answers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL of both the Graph API and the dialog."""
        return f"http://{self.host}:{self.port}"

    # --- helpers for tests -------------------------------------------------------------

    def _derive(self, kind: str, *parts: str) -> str:
        with self._lock:
            self._serial += 1
            serial = self._serial
        message = "|".join((kind, *parts, str(serial))).encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())[:40]

    def user_token_issue(
        self,
        user_id: str,
        *,
        app_id: str | None = None,
        scopes: tuple[str, ...] = tuple(sorted(SCOPES_KNOWN)),
        lifetime_seconds: int = USER_TOKEN_LIFETIME_SECONDS,
    ) -> str:
        """A user token as if ``user_id`` had logged in; they now use the app."""
        app_id = app_id or self.app.id
        if user_id not in self.users or app_id not in self.apps:
            raise ValueError(f"no test user {user_id} or app {app_id} in this fake")
        now = int(time.time())
        token = "EAA" + self._derive("token", app_id, user_id)
        with self._lock:
            self._tokens[token] = _Grant(
                app_id, user_id, tuple(scopes), issued_at=now, expires_at=now + lifetime_seconds
            )
            self._app_users[app_id][user_id] = tuple(scopes)
        return token

    def token_expire(self, token: str) -> None:
        with self._lock:
            self._tokens[token].expires_at = int(time.time()) - 1

    def answer_next(
        self, status: int, body: dict | str, *, content_type: str = "application/json"
    ) -> None:
        """The next Graph request (not the dialog) gets this answer instead."""
        with self._lock:
            self._queued.append(_GraphAnswer(status, body, content_type))

    def graph_error_next(self, code: int, message: str, **kwargs) -> None:
        """The next Graph request gets this error in Facebook's shape (see ``graph_error``)."""
        with self._lock:
            self._queued.append(graph_error(code, message, **kwargs))

    def signed_request(self, user_id: str, *, app_id: str | None = None, **extra) -> str:
        """A signed request such as Facebook POSTs to the deletion and deauthorise callbacks."""
        app = self.apps[app_id or self.app.id]
        payload = {
            "algorithm": "HMAC-SHA256",
            "issued_at": int(time.time()),
            "user_id": user_id,
        }
        return signed_request_make(payload | extra, app.secret)

    def users_using_app(self, app_id: str | None = None) -> set[str]:
        with self._lock:
            return set(self._app_users[app_id or self.app.id])

    # --- the dialog --------------------------------------------------------------------

    def _dialog_check(self, params: dict) -> tuple[FakeApp, str]:
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            raise _PageError(
                "Invalid App ID",
                "The app id in this link is not known to the sandbox: check FACEBOOK_APP_ID.",
            )
        redirect_uri = params.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _PageError("Invalid redirect_uri", "redirect_uri must be an absolute URL.")
        if app.redirect_uri_prefixes and not redirect_uri.startswith(app.redirect_uri_prefixes):
            raise _PageError(
                "URL blocked",
                "This redirect failed because the redirect URI is not whitelisted in the "
                "app's Client OAuth Settings.",
            )
        return app, redirect_uri

    def dialog_page(self, version: str, params: dict) -> str:
        app, _redirect_uri = self._dialog_check(params)
        scopes = _scopes(params.get("scope", ""))
        base = f"/{version}/dialog/oauth" if version else "/dialog/oauth"
        links = []
        for user in self.users.values():
            href = f"{base}/choose?{urlencode(params | {'user_id': user.id})}"
            email = user.email or "no e-mail address"
            links.append(
                f'<li><a class="user" data-user-id="{html.escape(user.id)}" '
                f'href="{html.escape(href)}"><strong>{html.escape(user.name)}</strong>'
                f"<small>{html.escape(email)}</small></a></li>"
            )
        cancel = f"{base}/cancel?{urlencode(params)}"
        return _page(
            "Log in with a test user",
            f"<p><strong>{html.escape(app.name)}</strong> asks for: "
            f"{html.escape(', '.join(scopes))}.</p>"
            f'<ul class="users">{"".join(links)}</ul>'
            f'<p><a class="cancel" href="{html.escape(cancel)}">Cancel</a></p>',
        )

    def dialog_choose(self, params: dict) -> str:
        """The Location to send the browser to once a test user is chosen."""
        app, redirect_uri = self._dialog_check(params)
        user = self.users.get(params.get("user_id", ""))
        if user is None:
            raise _PageError("Unknown test user", "Pick one of the test users listed.")
        scopes = _scopes(params.get("scope", ""))
        code = "AQ" + self._derive("code", app.id, user.id)
        now = int(time.time())
        with self._lock:
            self._codes[code] = _Grant(
                app.id,
                user.id,
                scopes,
                redirect_uri=redirect_uri,
                issued_at=now,
                expires_at=now + CODE_LIFETIME_SECONDS,
            )
            # Logging in through the dialog is what makes someone "use the app".
            self._app_users[app.id][user.id] = scopes
        answer = {"code": code} | ({"state": params["state"]} if "state" in params else {})
        # Facebook appends "#_=_" to the redirect after a login; pages must live with it.
        return _url_with(redirect_uri, answer) + "#_=_"

    def dialog_cancel(self, params: dict) -> str:
        _app, redirect_uri = self._dialog_check(params)
        answer = {
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
        } | ({"state": params["state"]} if "state" in params else {})
        return _url_with(redirect_uri, answer) + "#_=_"

    # --- the Share Dialog ---------------------------------------------------------------

    def _share_check(self, params: dict) -> tuple[FakeApp, str, str]:
        app = self.apps.get(params.get("app_id", ""))
        if app is None:
            raise _PageError(
                "Invalid App ID",
                "The app id in this link is not known to the sandbox: check FACEBOOK_APP_ID.",
            )
        href = params.get("href", "")
        parts = urlsplit(href)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _PageError("Invalid href", "The parameter href must be an absolute URL.")
        redirect_uri = params.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _PageError("Invalid redirect_uri", "redirect_uri must be an absolute URL.")
        if app.redirect_uri_prefixes and not redirect_uri.startswith(app.redirect_uri_prefixes):
            raise _PageError(
                "Can't load URL",
                "The domain of this URL isn't included in the app's domains.",
            )
        return app, href, redirect_uri

    def scrape(self, url: str, *, fresh: bool = False) -> Scrape:
        """The card of ``url``: its Open Graph tags, fetched as Facebook's crawler does.
        Facebook keeps a scrape and reuses it for later shares of the same URL (until
        someone asks its Sharing Debugger to scrape again): so does this, unless ``fresh``."""
        with self._lock:
            cached = None if fresh else self._scrape_cache.get(url)
        if cached is not None:
            return cached
        request = urllib.request.Request(
            url, headers={"User-Agent": CRAWLER_USER_AGENT, "Accept": "text/html,*/*;q=0.8"}
        )
        # No proxy from the environment: the shared page is on this machine in the sandbox.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=SCRAPE_TIMEOUT_SECONDS) as answer:
                body = answer.read(SCRAPE_MAX_BYTES)
                charset = answer.headers.get_content_charset() or "utf-8"
                status, final_url = answer.status, answer.url
            page = body.decode(charset, "replace")
            scraped = Scrape(final_url, status, open_graph_read(page), body=page)
        except urllib.error.HTTPError as error:
            scraped = Scrape(url, error.code, {}, error=f"HTTP {error.code}")
        except (OSError, ValueError) as error:
            scraped = Scrape(url, None, {}, error=repr(error))
        with self._lock:
            self.scrapes.append(scraped)
            self._scrape_cache[url] = scraped
        return scraped

    def share_page(self, version: str | None, params: dict) -> str:
        app, href, _redirect_uri = self._share_check(params)
        card = self.scrape(href)
        tags = card.tags
        # Facebook shows the page's canonical URL (og:url) and its domain.
        shown_url = tags.get("og:url") or card.url
        title = tags.get("og:title") or shown_url
        base = f"/{version}/dialog/share" if version else "/dialog/share"
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in params.items()
            if name != "message"
        )
        image = tags.get("og:image", "")
        # Facebook shows the picture from its own copy (fetched by its crawler), not from
        # the shared site: the person's browser never asks the site for it.
        proxied = "/safe_image.php?" + urlencode({"url": image})
        picture = (
            f'<img data-card-image="{html.escape(image)}" src="{html.escape(proxied)}" alt="" '
            'style="width:100%;aspect-ratio:1.91/1;object-fit:cover;display:block">'
            if image
            else ""
        )
        failed = (
            '<p data-card-error role="alert">The link could not be read '
            f"({html.escape(card.error or str(card.status))}): only the address will show.</p>"
            if card.error or card.status != 200
            else ""
        )
        hashtag = params.get("hashtag", "")
        cancel = f"{base}/cancel?{urlencode(params)}"
        return _page(
            "Share on Facebook",
            f"<p><strong>{html.escape(app.name)}</strong> offers this link. You choose "
            "whether to post it; the app will not know.</p>"
            f'<form method="get" action="{html.escape(base)}/post" data-share-form>{hidden}'
            '<label for="message">Say something about this (optional)</label>'
            '<textarea id="message" name="message" rows="2" style="width:100%"></textarea>'
            f'<article class="share-card" data-share-card data-card-url="{html.escape(shown_url)}"'
            ' style="background:#fff;border:1px solid #ccd0d5;border-radius:.5rem;'
            'overflow:hidden;margin:.75rem 0">'
            f'{picture}<div style="padding:.5rem .75rem">'
            f'<p data-card-domain style="margin:0;color:#606770;text-transform:uppercase;'
            f'font-size:.8rem">{html.escape(urlsplit(shown_url).netloc)}</p>'
            f'<h2 data-card-title style="margin:.25rem 0;font-size:1.05rem">'
            f"{html.escape(title)}</h2>"
            f'<p data-card-description style="margin:0;color:#606770">'
            f"{html.escape(tags.get('og:description', ''))}</p></div></article>"
            f"{failed}"
            + (f"<p data-card-hashtag>{html.escape(hashtag)}</p>" if hashtag else "")
            + '<p><button type="submit" data-share-post>Post</button> '
            f'<a class="cancel" data-share-cancel href="{html.escape(cancel)}">Cancel</a>'
            "</p></form>",
        )

    def safe_image(self, url: str) -> tuple[int, str, bytes]:
        """The picture of a card, fetched by the crawler: only an ``og:image`` already read
        in a scrape (not an open proxy)."""
        with self._lock:
            known = any(scrape.tags.get("og:image") == url for scrape in self.scrapes)
        if not known:
            return 404, "text/plain", b"not the picture of a shared link"
        request = urllib.request.Request(url, headers={"User-Agent": CRAWLER_USER_AGENT})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=SCRAPE_TIMEOUT_SECONDS) as answer:
                kind = answer.headers.get("Content-Type", "application/octet-stream")
                return 200, kind, answer.read(8 * SCRAPE_MAX_BYTES)
        except (OSError, ValueError) as error:
            return 502, "text/plain", repr(error).encode()

    def share_post(self, params: dict) -> str:
        """Post pressed: the post is kept here (``posts``); the person goes back to
        ``redirect_uri`` with nothing added, so the app cannot tell a post from a cancel."""
        app, href, redirect_uri = self._share_check(params)
        post = SharedPost(
            app.id,
            href,
            self.scrape(href),
            message=params.get("message", ""),
            hashtag=params.get("hashtag", ""),
        )
        with self._lock:
            self.posts.append(post)
        return redirect_uri

    def share_cancel(self, params: dict) -> str:
        _app, _href, redirect_uri = self._share_check(params)
        return redirect_uri

    # --- the Graph API -----------------------------------------------------------------

    def graph(self, method: str, version: str | None, path: str, params: dict, headers) -> dict:
        with self._lock:
            queued = self._queued.pop(0) if self._queued else None
        if queued is not None:
            raise queued
        if path == "oauth/access_token":
            return self._access_token(params)
        if path == "debug_token":
            return self._debug_token(params)
        grant, token = self._user_grant(params, headers)
        self._slow_down(grant.user_id)
        if path == "me" or path == grant.user_id:
            return self._user_render(self.users[grant.user_id], grant, params, USER_FIELDS)
        if path in ("me/friends", f"{grant.user_id}/friends"):
            return self._friends(version, grant, token, params)
        if path in ("me/permissions", f"{grant.user_id}/permissions"):
            return {"data": [{"permission": s, "status": "granted"} for s in grant.scopes]}
        raise graph_error(2500, f"Unknown path components: /{path}")

    def _slow_down(self, user_id: str | None) -> None:
        user = self.users.get(user_id or "")
        if user is not None and user.delay_seconds:
            self._stopping.wait(user.delay_seconds)

    def _app_check(self, params: dict) -> FakeApp:
        for name in ("client_id", "client_secret"):
            if not params.get(name):
                raise graph_error(100, f"Missing {name} parameter.")
        app = self.apps.get(params["client_id"])
        if app is None:
            raise graph_error(101, "Error validating application. Invalid application ID.")
        if not hmac.compare_digest(params["client_secret"], app.secret):
            raise graph_error(1, "Error validating client secret.")
        return app

    def _access_token(self, params: dict) -> dict:
        app = self._app_check(params)
        grant_type = params.get("grant_type", "")
        if grant_type == "client_credentials":
            with self._lock:
                token = next((t for t, a in self._app_tokens.items() if a == app.id), None)
                if token is None:
                    token = f"{app.id}|{self._derive('app', app.id)}"
                    self._app_tokens[token] = app.id
            return {"access_token": token, "token_type": "bearer"}
        if grant_type == "fb_exchange_token":
            grant = self._token_grant(params.get("fb_exchange_token", ""))
            if grant is None or grant.app_id != app.id:
                raise graph_error(190, "Invalid OAuth access token - Cannot parse access token")
            token = self.user_token_issue(grant.user_id, app_id=app.id, scopes=grant.scopes)
            return {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": USER_TOKEN_LIFETIME_SECONDS,
            }
        code = params.get("code", "")
        if not code:
            raise graph_error(100, "Missing authorization code")
        with self._lock:
            grant = self._codes.get(code)
            if grant is None or grant.app_id != app.id:
                raise graph_error(100, "Invalid verification code format.", subcode=36007)
            if grant.used:
                raise graph_error(100, "This authorization code has been used.", subcode=36009)
            if grant.expires_at < time.time():
                raise graph_error(100, "This authorization code has expired.", subcode=36007)
            if params.get("redirect_uri", "") != grant.redirect_uri:
                raise graph_error(
                    100,
                    "Error validating verification code. Please make sure your redirect_uri "
                    "is identical to the one you used in the OAuth dialog request",
                    subcode=36008,
                )
            grant.used = True
        token = self.user_token_issue(grant.user_id, app_id=app.id, scopes=grant.scopes)
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": USER_TOKEN_LIFETIME_SECONDS,
        }

    def _token_grant(self, token: str) -> _Grant | None:
        with self._lock:
            grant = self._tokens.get(token)
        if grant is None or grant.expires_at < time.time():
            return None
        return grant

    def _app_of_app_token(self, token: str) -> FakeApp | None:
        with self._lock:
            app_id = self._app_tokens.get(token)
        if app_id is not None:
            return self.apps[app_id]
        # "app_id|app_secret" is also an app token, for server-side calls.
        app_id, _bar, secret = token.partition("|")
        app = self.apps.get(app_id)
        if app is not None and secret and hmac.compare_digest(secret, app.secret):
            return app
        return None

    def _debug_token(self, params: dict) -> dict:
        if self._app_of_app_token(params.get("access_token", "")) is None:
            raise graph_error(190, "Invalid OAuth access token signature.")
        input_token = params.get("input_token", "")
        if not input_token:
            raise graph_error(100, "The parameter input_token is required")
        with self._lock:
            grant = self._tokens.get(input_token)
        if grant is None:
            return {
                "data": {
                    "error": {
                        "code": 190,
                        "message": "Invalid OAuth access token - Cannot parse access token",
                    },
                    "is_valid": False,
                    "scopes": [],
                }
            }
        self._slow_down(grant.user_id)
        data = {
            "app_id": grant.app_id,
            "type": "USER",
            "application": self.apps[grant.app_id].name,
            "data_access_expires_at": grant.issued_at + 90 * 24 * 3600,
            "expires_at": grant.expires_at,
            "is_valid": grant.expires_at >= time.time(),
            "issued_at": grant.issued_at,
            "scopes": list(grant.scopes),
            "user_id": grant.user_id,
        }
        if not data["is_valid"]:
            data["error"] = {
                "code": 190,
                "subcode": 463,
                "message": "Error validating access token: Session has expired.",
            }
        return {"data": data}

    def _user_grant(self, params: dict, headers) -> tuple[_Grant, str]:
        token = params.get("access_token", "")
        authorization = headers.get("Authorization", "")
        if not token and authorization.split(" ")[0] in ("Bearer", "OAuth"):
            token = authorization.partition(" ")[2].strip()
        if not token:
            raise graph_error(
                2500,
                "An active access token must be used to query information about the current user.",
            )
        with self._lock:
            grant = self._tokens.get(token)
        if grant is None:
            raise graph_error(190, "Invalid OAuth access token - Cannot parse access token")
        if grant.expires_at < time.time():
            raise graph_error(
                190, "Error validating access token: Session has expired.", subcode=463
            )
        app = self.apps[grant.app_id]
        proof = params.get("appsecret_proof")
        if proof is None and app.require_appsecret_proof:
            raise graph_error(
                100,
                "API calls from the server require an appsecret_proof argument",
                type_="GraphMethodException",
            )
        if proof is not None:
            expected = hmac.new(app.secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof, expected):
                raise graph_error(
                    100,
                    "Invalid appsecret_proof provided in the API argument",
                    type_="GraphMethodException",
                )
        return grant, token

    def _user_render(self, user: FakeUser, grant: _Grant, params: dict, allowed) -> dict:
        try:
            selection = fields_parse(params.get("fields", "")) or {"id": None, "name": None}
        except ValueError:
            raise graph_error(100, "Syntax error in the fields parameter") from None
        answer = {}
        for name, sub in selection.items():
            if name not in USER_FIELDS:
                raise graph_error(
                    100, f"(#100) Tried accessing nonexisting field ({name}) on node type (User)"
                )
            if name not in allowed:
                continue
            if name == "email":
                # Only with the email permission, and only if the account has an address.
                if user.email and "email" in grant.scopes:
                    answer["email"] = user.email
            elif name == "picture":
                picture = {
                    "height": 200,
                    "is_silhouette": user.picture_url is None,
                    "url": user.picture_url or f"{self.url}/pictures/{user.id}.svg",
                    "width": 200,
                }
                chosen = {k: picture[k] for k in sub if k in picture} if sub else picture
                answer["picture"] = {"data": chosen}
            else:
                first, _space, last = user.name.partition(" ")
                answer[name] = {
                    "id": user.id,
                    "name": user.name,
                    "first_name": first,
                    "last_name": last,
                    "middle_name": "",
                    "short_name": first,
                }[name]
        answer.setdefault("id", user.id)
        return {k: v for k, v in answer.items() if v != ""}

    def _friends(self, version: str | None, grant: _Grant, token: str, params: dict) -> dict:
        try:
            limit = int(params.get("limit", FRIENDS_DEFAULT_LIMIT))
            offset = _cursor_read(params["after"]) if "after" in params else 0
        except ValueError:
            raise graph_error(100, "Invalid limit or cursor") from None
        limit = max(1, min(limit, FRIENDS_MAX_LIMIT))
        friend_ids = [
            user_id
            for user_id in self.users
            if user_id != grant.user_id and frozenset((user_id, grant.user_id)) in self.friendships
        ]
        with self._lock:
            app_users = dict(self._app_users[grant.app_id])
        # Only friends who also use this app and granted user_friends, and only if the
        # asking user granted it too.
        visible = (
            [f for f in friend_ids if "user_friends" in app_users.get(f, ())]
            if "user_friends" in grant.scopes
            else []
        )
        page = visible[offset : offset + limit]
        answer = {
            "data": [self._user_render(self.users[f], grant, params, FRIEND_FIELDS) for f in page],
            "summary": {"total_count": len(friend_ids)},
        }
        if page:
            after = _cursor_make(offset + len(page))
            answer["paging"] = {"cursors": {"before": _cursor_make(offset), "after": after}}
            if offset + len(page) < len(visible):
                query = {k: v for k, v in params.items() if k != "appsecret_proof"}
                query |= {"access_token": token, "limit": str(limit), "after": after}
                prefix = f"/{version}" if version else ""
                answer["paging"]["next"] = (
                    f"{self.url}{prefix}/{grant.user_id}/friends?{urlencode(query)}"
                )
        return answer

    def picture_svg(self, user_id: str) -> str | None:
        user = self.users.get(user_id)
        if user is None:
            return None
        initials = "".join(part[0] for part in user.name.split()[:2]).upper()
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">'
            '<rect width="200" height="200" fill="#3b5998"/>'
            '<text x="100" y="125" font-size="80" text-anchor="middle" fill="#fff" '
            f'font-family="sans-serif">{html.escape(initials)}</text></svg>'
        )


class _OpenGraphReader(HTMLParser):
    # Like Facebook's crawler: <meta property=… content=…> (and name=…, for twitter:*)
    # in the page's <head>, the first value of each; nothing after </head>.
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: dict[str, str] = {}
        self._head_done = False

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self._head_done = True
        if tag != "meta" or self._head_done:
            return
        attributes = dict(attrs)
        name = attributes.get("property") or attributes.get("name")
        if name and attributes.get("content") is not None:
            self.tags.setdefault(name, attributes["content"])

    def handle_endtag(self, tag):
        if tag == "head":
            self._head_done = True


def open_graph_read(page: str) -> dict[str, str]:
    reader = _OpenGraphReader()
    reader.feed(page)
    reader.close()
    return reader.tags


class _PageError(Exception):
    def __init__(self, title: str, text: str):
        super().__init__(title)
        self.title, self.text = title, text


def _scopes(text: str) -> tuple[str, ...]:
    asked = {s.strip() for s in re.split(r"[ ,]", text) if s.strip()}
    # Permissions we do not model are not granted, as for an app without App Review.
    return tuple(sorted((asked & SCOPES_KNOWN) | {"public_profile"}))


def _cursor_make(offset: int) -> str:
    # Opaque to clients, as Facebook's are; here simply the position in the list.
    return _b64(f"offset:{offset}".encode())


def _cursor_read(cursor: str) -> int:
    text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    kind, _colon, number = text.partition(":")
    if kind != "offset" or not number.isdigit():
        raise ValueError(cursor)
    return int(number)


def _url_with(url: str, params: dict) -> str:
    joiner = "&" if urlsplit(url).query else "?"
    return url + joiner + urlencode(params)


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{html.escape(title)} · Facebook sandbox — not the real Facebook</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f0f2f5; color: #1c1e21; }}
.banner {{ background: #b3261e; color: #fff; padding: .75rem 1rem; font-weight: 600; }}
main {{ max-width: 28rem; margin: 1.5rem auto; padding: 0 1rem; }}
.users {{ list-style: none; padding: 0; }}
.users a {{ display: flex; flex-direction: column; background: #fff; border-radius: .5rem;
  padding: .75rem 1rem; margin: .5rem 0; color: inherit; text-decoration: none;
  border: 1px solid #ccd0d5; }}
.users small {{ color: #606770; }}
</style></head>
<body><div class="banner" role="note">Facebook sandbox — not the real Facebook.
Nothing here reaches Facebook; these are test users.</div>
<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeFacebook/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass  # quiet: tests read fake.requests instead

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _params(self, method: str) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if method == "POST":
            declared = self.headers.get("Content-Length", "")
            length = int(declared) if declared.isdigit() else 0
            body = self.rfile.read(min(length, 64 * 1024)).decode("utf-8", "replace")
            params |= {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        return parts.path, params

    def _handle(self, method: str) -> None:
        fake: FakeFacebook = self.server.fake
        raw_path, params = self._params(method)
        match = _VERSION_PREFIX.match(raw_path)
        version, path = (match.group(1), match.group(2) or "/") if match else (None, raw_path)
        path = path.strip("/")
        with fake._lock:
            fake.requests.append(RecordedRequest(method, raw_path, version, dict(params)))
        try:
            if path == "":
                self._send(200, "text/html; charset=utf-8", _index(fake))
            elif path.startswith("pictures/") and path.endswith(".svg"):
                svg = fake.picture_svg(path.removeprefix("pictures/").removesuffix(".svg"))
                if svg is None:
                    self._send(404, "text/plain", "no such picture")
                else:
                    self._send(200, "image/svg+xml", svg)
            elif path == "dialog/oauth":
                self._send(200, "text/html; charset=utf-8", fake.dialog_page(version, params))
            elif path == "dialog/oauth/choose":
                self._redirect(fake.dialog_choose(params))
            elif path == "dialog/oauth/cancel":
                self._redirect(fake.dialog_cancel(params))
            elif path == "safe_image.php":
                status, kind, data = fake.safe_image(params.get("url", ""))
                self._send(status, kind, data)
            elif path == "dialog/share":
                self._send(200, "text/html; charset=utf-8", fake.share_page(version, params))
            elif path == "dialog/share/post":
                self._redirect(fake.share_post(params))
            elif path == "dialog/share/cancel":
                self._redirect(fake.share_cancel(params))
            else:
                answer = fake.graph(method, version, path, params, self.headers)
                self._send_json(200, answer, version)
        except _PageError as error:
            body = _page(error.title, f"<p>{html.escape(error.text)}</p>")
            self._send(400, "text/html; charset=utf-8", body)
        except _GraphAnswer as answer:
            if isinstance(answer.body, str):
                self._send(answer.status, answer.content_type, answer.body)
            else:
                self._send_json(answer.status, answer.body, version)
        except Exception as error:
            # A bug of the fake: answer it loudly rather than drop the connection, which
            # the code under test would take for Facebook being unreachable.
            with fake._lock:
                fake.errors.append(f"{method} {raw_path}: {error!r}")
            self._send(500, "text/plain; charset=utf-8", f"fake Facebook bug: {error!r}")

    def _send_json(self, status: int, body: dict, version: str | None) -> None:
        headers = {"facebook-api-version": version} if version else {}
        self._send(status, "application/json; charset=UTF-8", json.dumps(body), headers)

    def _redirect(self, location: str) -> None:
        self._send(302, "text/plain", "", {"Location": location})

    def _send(self, status: int, content_type: str, body: str | bytes, headers=None) -> None:
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer


def _index(fake: FakeFacebook) -> str:
    users = "".join(
        f"<li>{html.escape(u.name)} <small>({html.escape(u.id)})</small></li>"
        for u in fake.users.values()
    )
    return _page(
        "Facebook sandbox",
        f"<p>App id <code>{html.escape(fake.app.id)}</code>. Graph API and login dialog at "
        f"<code>{html.escape(fake.url)}</code>.</p><ul>{users}</ul>",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Facebook on loopback (sandbox).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--app-id", default=DEFAULT_APP_ID)
    parser.add_argument("--app-secret", default=None, help="default: a random one")
    parser.add_argument(
        "--users-using-app",
        default="10002,10003",
        help="comma-separated ids of test users who already use the app",
    )
    options = parser.parse_args(argv)
    fake = FakeFacebook(
        app_id=options.app_id,
        app_secret=options.app_secret,
        users_using_app=[u for u in options.users_using_app.split(",") if u],
        host=options.host,
        port=options.port,
    ).start()
    print(f"Facebook sandbox (not the real Facebook) at {fake.url}", flush=True)
    print(f"FACEBOOK_APP_ID={fake.app.id}", flush=True)
    print(f"FACEBOOK_APP_SECRET={fake.app.secret}", flush=True)
    print(f"FACEBOOK_GRAPH_URL={fake.url}", flush=True)
    print(f"FACEBOOK_DIALOG_URL={fake.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
