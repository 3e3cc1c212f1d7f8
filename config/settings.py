"""Sidebyside settings: one module, every value from the environment.

With no environment at all you get the embedded defaults: a SQLite file under
``var/``, the in-memory channel layer, a local-memory cache. ``DATABASE_URL`` and
``REDIS_URL`` switch to PostgreSQL and Redis. Every variable is listed, with its
default, in the README's *Configuration* section.
"""

import datetime as dt
import ipaddress
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from core.install_secret import (
    secret_key_read_or_create,
    vapid_keys_read_or_create,
    vapid_public_key_of,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)

VAR_DIR = Path(env.str("SIDEBYSIDE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite file, local state

_secret_key = env.str("DJANGO_SECRET_KEY", default="")
if not _secret_key:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(the run and test commands set DJANGO_DEBUG=1 for local use)."
        )
    # A local install's own key, made on first start (never a constant: a published key
    # would let anyone sign pay links for a demo reachable from elsewhere).
    _secret_key = secret_key_read_or_create(VAR_DIR / "secret_key")
SECRET_KEY = _secret_key

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",  # locks out repeated failed logins (the admin's, see AXES_* below)
    # Ours, lowest layer first (see docs/architecture.md).
    "core",
    "notices",
    "groups",
    "booking",
    "payments",
    "referrals",
    "care",
    "frontend",
    # After ours: frontend's templates override allauth's (account/login.html, …).
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    # Registers the "facebook" provider id; SOCIALACCOUNT_PROVIDERS below swaps its class
    # for groups.facebook_login's, which reads every URL from the settings.
    "allauth.socialaccount.providers.facebook",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The request's origin, for links when SITE_URL is not set (core/site.py).
    "core.site.SiteOriginMiddleware",
    # Content-Security-Policy (Django's, with the origins of the settings read per
    # response) and Permissions-Policy headers; see docs/security.md.
    "core.security_headers.ContentSecurityPolicyMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # The account's chosen language on a browser without a language cookie (groups/language.py).
    "groups.language.ProfileLanguageMiddleware",
    # A view's "not found" is the product's 404 page, in the demo (debug) too.
    "frontend.middleware.NotFoundPageMiddleware",
    # After the session and login middlewares: a refused consent keeps every cookie to
    # the browser's session, the session's own included (docs/referrals.md).
    "referrals.consent_middleware.RefusedConsentSessionMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",  # {{ csp_nonce }}
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
        "DATABASE_POOL", default=True
    ):
        # Under ASGI, Django's advice: no persistent connections (requests and websocket
        # commands run on many threads) but the driver's pool. Without it every websocket
        # command of the live plan would open and close its own PostgreSQL connection.
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=40),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Every wait is bounded by the application, not left to the deployment's URL
        # (core/locking.py): a lock not had in time is core.errors.Busy ("try again"); a
        # process frozen inside a transaction loses it, and its locks, after the idle
        # timeout. In seconds; 0 turns one off. Set on the connection (libpq options),
        # so a connection from the pool costs no extra statement.
        _timeouts = {
            "lock_timeout": env.float("DATABASE_LOCK_TIMEOUT_SECONDS", default=3.0),
            "statement_timeout": env.float("DATABASE_STATEMENT_TIMEOUT_SECONDS", default=15.0),
            "idle_in_transaction_session_timeout": env.float(
                "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", default=30.0
            ),
        }
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["options"] = " ".join(
            [
                *filter(None, [_options.get("options", "")]),
                *(f"-c {name}={round(seconds * 1000)}" for name, seconds in _timeouts.items()),
            ]
        )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "sidebyside.sqlite3",
            "OPTIONS": {
                # WAL lets the web server and the worker read while the other writes;
                # IMMEDIATE makes a write transaction take the lock when it begins, so two
                # writers queue instead of failing halfway with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer and cache ----------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Two layers of channels_redis, chosen by CHANNELS_BACKEND (docs/architecture.md):
    # - "pubsub" (default): Redis PUBLISH/SUBSCRIBE. A group message is published once and
    #   each process subscribed to the group receives it once, then hands it to its own
    #   sockets in memory: a pick seen by 8 members of a trip is one Redis message, not 8
    #   queued entries each popped by its own round trip. At most once, like the other
    #   layer: a socket that misses an event sees the version gap and resyncs from the
    #   event log (docs/live-protocol.md).
    # - "core": a sorted set per process, popped with BZPOPMIN; kept for deployments that
    #   want its per-channel expiry. Its capacity is per process (CHANNELS_CAPACITY): past
    #   it a group_send silently drops messages (its own default, 100, lost live events).
    CHANNELS_BACKEND = env.str("CHANNELS_BACKEND", default="pubsub")
    if CHANNELS_BACKEND not in ("pubsub", "core"):
        raise ImproperlyConfigured("CHANNELS_BACKEND must be pubsub or core")
    _layer_config = {
        # redis-py 8 reads with a 5 s socket timeout by default, the same as the core
        # layer's 5 s BZPOPMIN: an idle socket's consumer then died with a Redis
        # TimeoutError (closed 1011) after about 5 s. Read longer than BZPOPMIN.
        "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
        "prefix": env.str("CHANNELS_PREFIX", default="sbs"),
    }
    if CHANNELS_BACKEND == "core":
        _layer_config["capacity"] = env.int("CHANNELS_CAPACITY", default=10_000)
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": {
                "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "core": "channels_redis.core.RedisChannelLayer",
            }[CHANNELS_BACKEND],
            "CONFIG": _layer_config,
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_PREFIX", default="sbs"),
            # One pool per process, not one per websocket (core/redis_pool.py).
            "OPTIONS": {"pool_class": "core.redis_pool.SharedConnectionPool"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # One process's memory. Django's default of 300 entries is smaller than what a few
    # hundred share links' landing pages keep (the link's data, its page per language) with
    # the click limiter's counters: it culled a third of them whenever it filled up.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": env.int("LOCAL_CACHE_MAX_ENTRIES", default=20_000)},
        }
    }

# The server process's collector (core/process.py): what survives a full pass is frozen;
# cycles that die among frozen objects are reclaimed at least this often, or as soon as
# the frozen objects have doubled. Off: only what start-up made is frozen.
SERVER_GC_FREEZE_SURVIVORS = env.bool("SERVER_GC_FREEZE_SURVIVORS", default=True)
SERVER_GC_RECLAIM_SECONDS = env.float("SERVER_GC_RECLAIM_SECONDS", default=600.0)

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # First, as django-axes asks: refuses a locked-out client before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",  # the admin's operators
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# Identity (django-allauth; see docs/identity.md). Two doors, no passwords for travellers:
# Facebook Login (OAuth code flow, full-page redirect) or an e-mail address confirmed by a
# one-time code. Both redirect flows work inside Facebook's in-app browser: no popup, and
# only our own first-party, SameSite=Lax session cookie.
ACCOUNT_ADAPTER = "groups.identity.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "groups.identity.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*"]  # no username, no password; the name comes from the form
ACCOUNT_SIGNUP_FORM_CLASS = "groups.forms.SignupForm"
ACCOUNT_USER_DISPLAY = "groups.selectors.user_display"
ACCOUNT_UNIQUE_EMAIL = True
# A new guest confirms their address with a code before the account can be used; a
# returning guest asks for a login code. Same answer whether the address is known or not.
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS = 3
ACCOUNT_LOGIN_BY_CODE_TIMEOUT = 600  # e-mail can take a few minutes to arrive on a phone
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_MAX_ATTEMPTS = 3
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT = 600
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_LOGOUT_ON_GET = False  # logging out is a POST (a link must not log anyone out)
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Sidebyside] "
# Counted in the cache (Redis when REDIS_URL is set, so shared by every web process).
# "ip" counts per client address, "key" per e-mail address; "3/m/key" lets someone ask
# for a new code a few times a minute but stops an address being flooded.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "request_login_code": "20/m/ip,3/m/key",
    "confirm_email": "1/10s/key",
    "reset_password": "20/m/ip,5/m/key",
}
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_AUTO_SIGNUP = True
# Facebook may give no address (declined, or a phone-only account): still welcome.
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # never join accounts on an unverified address
SOCIALACCOUNT_QUERY_EMAIL = True
# The Facebook user token is kept (allauth's SocialToken, refreshed at each login) because
# the trip page suggests friends who use the app, which needs /me/friends read as that
# user (groups/friends.py). It is deleted with the Facebook link (data deletion and
# deauthorise callbacks, account deletion); see docs/privacy.md.
SOCIALACCOUNT_STORE_TOKENS = True
SOCIALACCOUNT_LOGIN_ON_GET = False  # start a login with a POST (CSRF-safe)

# --- E-mail ---------------------------------------------------------------------------
# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587; EMAIL_BACKEND replaces the
# backend. In development the default prints messages (login codes included) on the
# console; in production it is an SMTP server on localhost (a console backend there would
# lose every login code, and `check --deploy` says so).
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
_email_options = {
    "host": _email["EMAIL_HOST"],
    "port": _email["EMAIL_PORT"],
    "username": _email["EMAIL_HOST_USER"],
    "password": _email["EMAIL_HOST_PASSWORD"],
    "use_tls": _email.get("EMAIL_USE_TLS"),
    "use_ssl": _email.get("EMAIL_USE_SSL"),
}
MAILERS = {
    "default": {
        "BACKEND": env.str("EMAIL_BACKEND", default=_email["EMAIL_BACKEND"]),
        "OPTIONS": {k: v for k, v in _email_options.items() if v},
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Sidebyside <noreply@localhost>")
# The local mailbox (debug only): without EMAIL_URL, `manage.py serve` starts an SMTP
# server on loopback (sandboxes/mail_server.py) that keeps what it receives in
# MAIL_SANDBOX_DIR, points EMAIL_URL at it and sets MAIL_SANDBOX=1: the page
# /messages/mailbox/ then shows those e-mails (login codes included).
MAIL_SANDBOX = DEBUG and env.bool("MAIL_SANDBOX", default=False)
MAIL_SANDBOX_DIR = Path(env.str("MAIL_SANDBOX_DIR", default=str(VAR_DIR / "mailbox")))

# --- Web Push (notices/push.py, docs/messages.md) --------------------------------------
# The VAPID key pair (RFC 8292) that signs our pushes: make one with `manage.py
# vapid_keys`. VAPID_PUBLIC_KEY is the browser's applicationServerKey (base64url of the
# uncompressed P-256 point), VAPID_PRIVATE_KEY the private key's 32 bytes (base64url):
# given the private key alone, the public one is derived from it. Without them, a debug
# install makes its own pair once (var/vapid_key, mode 0600); a production one has no
# push (no opt-in is offered). VAPID_SUBJECT: how a push service reaches us (mailto: or
# https:). WEB_PUSH_HOSTS: the push services' host names (or ".suffix") the worker
# posts to; a subscription elsewhere is refused (the worker never posts to an address
# a client chose). In debug (and in the tests, which set it), http:// or https:// on
# 127.0.0.1 or localhost is allowed too: the local push service (sandboxes/push_server.py).
VAPID_PRIVATE_KEY = env.str("VAPID_PRIVATE_KEY", default="")
VAPID_PUBLIC_KEY = env.str("VAPID_PUBLIC_KEY", default="")
if not VAPID_PRIVATE_KEY and DEBUG:
    VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY = vapid_keys_read_or_create(VAR_DIR / "vapid_key")
elif VAPID_PRIVATE_KEY:
    try:
        _vapid_public = vapid_public_key_of(VAPID_PRIVATE_KEY)
    except ValueError as exc:
        raise ImproperlyConfigured(f"VAPID_PRIVATE_KEY: {exc}") from exc
    if VAPID_PUBLIC_KEY and VAPID_PUBLIC_KEY.rstrip("=") != _vapid_public:
        raise ImproperlyConfigured("VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY")
    VAPID_PUBLIC_KEY = _vapid_public
VAPID_SUBJECT = env.str("VAPID_SUBJECT", default="mailto:noreply@localhost")
WEB_PUSH_HOSTS = env.list(
    "WEB_PUSH_HOSTS",
    default=[
        "fcm.googleapis.com",  # Chrome, Edge, Opera, Samsung Internet
        "updates.push.services.mozilla.com",  # Firefox
        ".push.apple.com",  # Safari
        ".notify.windows.com",  # Edge (legacy)
    ],
)
WEB_PUSH_ALLOW_LOOPBACK = DEBUG
# How long a push service keeps a notification for a device that is offline (seconds).
WEB_PUSH_TTL_SECONDS = env.int("WEB_PUSH_TTL_SECONDS", default=12 * 3600)

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="fr")
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Europe/Paris")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's, bounded in depth and size (SIDEBYSIDE["JSON_MAX_DEPTH" | "JSON_MAX_BYTES"]).
    "DEFAULT_PARSER_CLASSES": ["core.json_input.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sidebyside API",
    "DESCRIPTION": "Plan a trip together, sit side by side, each pay for yourself.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several serializers have a "status" field with different choices: name each set.
    "ENUM_NAME_OVERRIDES": {
        "MembershipStatusEnum": "groups.models.Membership.Status",
        "TripStatusEnum": "booking.models.Trip.Status",
    },
}

# --- Product settings -----------------------------------------------------------------
SIDEBYSIDE = {
    "CURRENCY": "EUR",
    # How many days ahead a search may look.
    "SEARCH_MAX_DAYS_AHEAD": env.int("SEARCH_MAX_DAYS_AHEAD", default=365),
    # How often the worker looks for due jobs, in seconds.
    "WORKER_INTERVAL_SECONDS": env.float("WORKER_INTERVAL_SECONDS", default=2.0),
    # How many queued booking confirmations the worker runs at once (PostgreSQL).
    "PAYMENT_CONFIRM_THREADS": env.int("PAYMENT_CONFIRM_THREADS", default=4),
    # How many Stripe calls one confirmation makes at once (checking, then capturing, a
    # group's authorisations); 1: one after another.
    "STRIPE_CALLS_AT_ONCE": env.int("STRIPE_CALLS_AT_ONCE", default=8),
    # Friend groups: how many travellers a new trip takes unless the organiser says
    # otherwise, and the most an organiser may choose.
    "GROUP_MAX_MEMBERS_DEFAULT": env.int("GROUP_MAX_MEMBERS_DEFAULT", default=9),
    "GROUP_MAX_MEMBERS_LIMIT": env.int("GROUP_MAX_MEMBERS_LIMIT", default=20),
    # Invitations: how long a new link lasts unless the organiser says otherwise, and the
    # longest they may choose, in days; whether members (not only the organiser) invite.
    "INVITATION_TTL_DAYS": env.int("INVITATION_TTL_DAYS", default=14),
    "INVITATION_MAX_TTL_DAYS": env.int("INVITATION_MAX_TTL_DAYS", default=60),
    "MEMBERS_CAN_INVITE": env.bool("MEMBERS_CAN_INVITE", default=False),
    # The live plan: a seat held for a trip lasts this long without anyone of the trip on
    # its page (before checkout); a connection not heard of for this long is offline;
    # a client further behind than this many events gets a fresh snapshot.
    "HOLD_IDLE_SECONDS": env.int("HOLD_IDLE_SECONDS", default=900),
    # Live holds (held, not sold) one person may have on one departure over all their
    # trips: two lets someone travel with two groups on the same train.
    "HOLDS_PER_PERSON_PER_DEPARTURE": env.int("HOLDS_PER_PERSON_PER_DEPARTURE", default=2),
    "PRESENCE_TIMEOUT_SECONDS": env.int("PRESENCE_TIMEOUT_SECONDS", default=60),
    # A live plan socket reads its session again (has its person logged out?) on every
    # heartbeat, and before a command when the last check is older than this.
    "LIVE_SESSION_RECHECK_SECONDS": env.float("LIVE_SESSION_RECHECK_SECONDS", default=5.0),
    "EVENT_LOG_RESYNC_LIMIT": env.int("EVENT_LOG_RESYNC_LIMIT", default=200),
    # Threads for the live plan's database work in each server process (websocket
    # commands, presence, snapshots). A command waiting for a busy trip holds one for at
    # most DATABASE_LOCK_TIMEOUT_SECONDS; the rest keep serving the other trips. Keep it
    # below DATABASE_POOL_MAX_SIZE: each thread uses one connection at a time.
    "LIVE_DB_THREADS": env.int("LIVE_DB_THREADS", default=20),
    # Rate limits (django-ratelimit syntax) per user on joining and creating invitations.
    "RATE_JOIN": env.str("RATE_JOIN", default="20/h"),
    # … and on creating trips (each trip is a new leg to hold seats for).
    "RATE_TRIP_CREATE": env.str("RATE_TRIP_CREATE", default="10/h"),
    "RATE_INVITE": env.str("RATE_INVITE", default="30/h"),
    # Commands of the live plan (vote, pick a seat, …) per person, whatever the door
    # (REST, websocket, forms): one counter per user, shared by every process via the cache.
    "RATE_PLAN": env.str("RATE_PLAN", default="30/10s"),
    # Care conversations (care.commands): cases a traveller opens, messages they write.
    "RATE_CARE_OPEN": env.str("RATE_CARE_OPEN", default="10/h"),
    "RATE_CARE_MESSAGE": env.str("RATE_CARE_MESSAGE", default="10/m"),
    # Split payments: the organiser picks how long everyone has to pay, in hours (card
    # authorisations last about 7 days: stay well inside), and how long a grace period
    # lasts when that is their policy for unpaid shares at the deadline.
    "PAYMENT_DEADLINE_HOURS_DEFAULT": env.int("PAYMENT_DEADLINE_HOURS_DEFAULT", default=24),
    "PAYMENT_DEADLINE_HOURS_MIN": env.int("PAYMENT_DEADLINE_HOURS_MIN", default=1),
    "PAYMENT_DEADLINE_HOURS_MAX": env.int("PAYMENT_DEADLINE_HOURS_MAX", default=72),
    "PAYMENT_GRACE_HOURS": env.int("PAYMENT_GRACE_HOURS", default=12),
    # The seats of a trip being paid never look free before the deadline worker has
    # applied the organiser's policy: their holds are kept at least this far ahead.
    "PAYMENT_HOLD_MARGIN_SECONDS": env.int("PAYMENT_HOLD_MARGIN_SECONDS", default=600),
    # Reminders to the unpaid, each sent once: when this fraction of the time to the
    # deadline is left, and this many hours before it (0 turns one off).
    "PAYMENT_REMINDER_FRACTION_LEFT": env.float("PAYMENT_REMINDER_FRACTION_LEFT", default=0.5),
    "PAYMENT_REMINDER_HOURS_LEFT": env.float("PAYMENT_REMINDER_HOURS_LEFT", default=2),
    # A payment started but not authorised within this many seconds (no card given, a tab
    # closed before the card) frees its shares for anyone to pay (its intent cancelled).
    "PAYMENT_START_TIMEOUT_SECONDS": env.int("PAYMENT_START_TIMEOUT_SECONDS", default=600),
    # JSON from clients (REST bodies, websocket frames): deeper nesting is refused before
    # decoding (Python decodes it by recursion), and a larger REST body before reading it.
    "JSON_MAX_DEPTH": env.int("JSON_MAX_DEPTH", default=32),
    "JSON_MAX_BYTES": env.int("JSON_MAX_BYTES", default=262_144),
    # Where the site is, for links in e-mails (pay links): scheme and host, no slash.
    # Required in production (core.E001); unset, core.site.site_url() derives it from the
    # request (or the request that queued the message), else from `serve`'s address.
    "SITE_URL": env.str("SITE_URL", default=""),
    # The last resort of site_url() (`serve` sets it to its own address for its children).
    "SITE_URL_FALLBACK": env.str("SITE_URL_FALLBACK", default="http://127.0.0.1:8000"),
    # Messages (notices/): where replies to our e-mails go ("" for none), and how many
    # times the worker tries a message before it is marked failed.
    "EMAIL_REPLY_TO": env.str("EMAIL_REPLY_TO", default=""),
    "MESSAGE_MAX_ATTEMPTS": env.int("MESSAGE_MAX_ATTEMPTS", default=8),
    # Disruptions (docs/disruptions.md): how long travellers of a cancelled train have to
    # choose a refund or re-routing, in hours; how many trips the worker handles per pass;
    # delay compensation below this many cents is not paid (art. 19(8) of Regulation (EU)
    # 2021/782 allows a threshold of 4 euros).
    "DISRUPTION_CHOOSE_HOURS": env.int("DISRUPTION_CHOOSE_HOURS", default=72),
    "DISRUPTION_BATCH_TRIPS": env.int("DISRUPTION_BATCH_TRIPS", default=50),
    # Re-routing: the organiser proposes the new train; after this many minutes without
    # a proposal, any traveller of the trip may.
    "REROUTE_ORGANISER_MINUTES": env.int("REROUTE_ORGANISER_MINUTES", default=60),
    "DELAY_COMPENSATION_MIN_CENTS": env.int("DELAY_COMPENSATION_MIN_CENTS", default=400),
}

# --- Security (production) ------------------------------------------------------------
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The CSRF cookie need not outlive the browser's session (and after "Refuse" on the consent
# banner no cookie may): a new token comes with the next page.
CSRF_COOKIE_AGE = None
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The health check must answer plain HTTP from a load balancer on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy for our own content (docs/security.md): our scripts and style
# sheets, or inline ones carrying the request's nonce. core.security_headers adds the
# origins of Stripe.js (STRIPE_JS_URL, STRIPE_API_BASE) and Facebook's login dialog and
# pictures (FACEBOOK_DIALOG_URL, FACEBOOK_GRAPH_URL) from the settings on each response.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],  # 'self' covers ws:/wss: to our own host (CSP level 3)
    "frame-src": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
# No browser feature the pages do not use (django-permissions-policy). "payment" stays
# ours and Stripe's: Stripe.js may offer the browser's own payment sheet.
PERMISSIONS_POLICY = {
    "accelerometer": [],
    "camera": [],
    "display-capture": [],
    "geolocation": [],
    "gyroscope": [],
    "magnetometer": [],
    "microphone": [],
    "midi": [],
    "payment": ["self", "https://js.stripe.com"],
    "publickey-credentials-get": [],
    "serial": [],
    "usb": [],
    "xr-spatial-tracking": [],
}

# The client's address for every rate limit and lockout (core/client_address.py): read
# from CLIENT_ADDRESS_HEADER only when the direct peer is one of TRUSTED_PROXIES
# (addresses or CIDR networks, e.g. the load balancer's private network), rightmost
# untrusted hop first. Empty: the header is never read.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is no address or network") from exc
CLIENT_ADDRESS_HEADER = env.str("CLIENT_ADDRESS_HEADER", default="X-Forwarded-For")

# /admin/login/ (django-axes): after ADMIN_LOGIN_FAILURE_LIMIT wrong passwords from one
# client address, or for one user name, further tries are refused (429) for
# ADMIN_LOGIN_COOLOFF_MINUTES; a successful login clears the count. Only failed
# attempts are stored (no log of successful logins: nobody's address is kept for it).
AXES_ONLY_ADMIN_SITE = True  # travellers have no password: allauth limits their codes
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_CLIENT_IP_CALLABLE = "core.client_address.client_address"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-axes logs every login at INFO; its warnings (failures, lockouts) are kept.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Facebook -------------------------------------------------------------------------
# An empty app id is sandbox mode: the run command points the URLs below at the local fake
# Graph API and login dialog (sandboxes/facebook_server.py). See docs/facebook.md.
FACEBOOK_APP_ID = env.str("FACEBOOK_APP_ID", default="")
FACEBOOK_APP_SECRET = env.str("FACEBOOK_APP_SECRET", default="")
# The run command starts the fake and hands its app id to the web process with
# FACEBOOK_SANDBOX=1, so the pages still say "sandbox" there.
FACEBOOK_SANDBOX = env.bool("FACEBOOK_SANDBOX", default=not FACEBOOK_APP_ID)
# Pinned on purpose: facebook-sdk's own version list stops at 3.1; groups/facebook.py sets
# this one on each client. Each Graph version lives about two years: move it forward then.
FACEBOOK_GRAPH_VERSION = env.str("FACEBOOK_GRAPH_VERSION", default="v23.0")
FACEBOOK_GRAPH_URL = env.str("FACEBOOK_GRAPH_URL", default="https://graph.facebook.com")
FACEBOOK_DIALOG_URL = env.str("FACEBOOK_DIALOG_URL", default="https://www.facebook.com")
# facebook-sdk waits forever unless told otherwise.
FACEBOOK_TIMEOUT_SECONDS = env.float("FACEBOOK_TIMEOUT_SECONDS", default=5.0)
FACEBOOK_SIGNED_REQUEST_MAX_AGE_SECONDS = env.int(
    "FACEBOOK_SIGNED_REQUEST_MAX_AGE_SECONDS", default=3600
)

# django-allauth's Facebook provider, replaced by groups.facebook_login's subclass, which
# reads the app id, secret and URLs from the FACEBOOK_* settings above on every request
# (never from the database). See docs/facebook.md.
SOCIALACCOUNT_REQUESTS_TIMEOUT = FACEBOOK_TIMEOUT_SECONDS
SOCIALACCOUNT_PROVIDERS = {
    "facebook": {
        "provider_class": "groups.facebook_login.provider.FacebookLoginProvider",
        "METHOD": "oauth2",  # a full-page redirect; the JS SDK popup never returns in-app
        "VERSION": FACEBOOK_GRAPH_VERSION,
        "SCOPE": ["public_profile", "email", "user_friends"],
        "AUTH_PARAMS": {},
        "EXCHANGE_TOKEN": False,
    }
}

# --- Stripe ---------------------------------------------------------------------------
# Only payments/stripe_gateway.py reads these (docs/payments.md). No secret key with debug
# on is sandbox mode: the run command starts localstripe on loopback behind our
# idempotency layer (sandboxes/stripe_server.py), points STRIPE_API_BASE and
# STRIPE_JS_URL at it and hands the web process its keys with STRIPE_SANDBOX=1.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
# The endpoint's signing secret (whsec_…): webhooks not signed with it are refused.
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # empty: the real Stripe API
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
# stripe-python waits 80 s by default: too long for a person at the pay page.
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
# Retries of a failed connection or a 409/5xx answer; safe because every write carries
# an idempotency key.
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
STRIPE_SANDBOX = env.bool("STRIPE_SANDBOX", default=DEBUG and not STRIPE_SECRET_KEY)
# stripe-python logs every request at INFO: only its warnings by default.
LOGGING["loggers"]["stripe"] = {"level": env.str("STRIPE_LOG_LEVEL", default="WARNING")}

# --- Referrals ------------------------------------------------------------------------
# Share links /r/<code>/ and their tracking (docs/referrals.md).
REFERRALS = {
    # Clicks counted per link from one source (address hash); past it a click is not
    # counted, the source is flagged and the day's rollup counts it once.
    "CLICK_RATE": env.str("REFERRAL_CLICK_RATE", default="30/m"),
    # Clicks counted from one source across all links, a minute and a day: past either, the
    # same as past CLICK_RATE on the link where it happened.
    "CLICK_SOURCE_RATE": env.str("REFERRAL_CLICK_SOURCE_RATE", default="60/m"),
    "CLICK_SOURCE_DAY_RATE": env.str("REFERRAL_CLICK_SOURCE_DAY_RATE", default="300/d"),
    # The rollup job recomputes this many days (today included), this often.
    "ROLLUP_DAYS": env.int("REFERRAL_ROLLUP_DAYS", default=2),
    "ROLLUP_EVERY_SECONDS": env.float("REFERRAL_ROLLUP_EVERY_SECONDS", default=300.0),
    # The shared trip's picture (og:image): DejaVu from the system when present, else
    # Pillow's own font; each drawn picture is kept in the cache this long.
    "IMAGE_FONT_DIR": env.str(
        "REFERRAL_IMAGE_FONT_DIR", default="/usr/share/fonts/truetype/dejavu"
    ),
    "IMAGE_CACHE_SECONDS": env.int("REFERRAL_IMAGE_CACHE_SECONDS", default=7 * 24 * 3600),
    # Sign-ups, trips and bookings go to the last share clicked this many days before.
    "ATTRIBUTION_DAYS": env.int("REFERRAL_ATTRIBUTION_DAYS", default=30),
    # The same browser back on the same link within this many minutes is the same visit
    # (one click): answering the consent banner, a reload, the back button.
    "VISIT_MINUTES": env.int("REFERRAL_VISIT_MINUTES", default=30),
    # A reward for the sharer per converted friend: off. When on, the share text says so,
    # and each friend's first booking through a share earns its sharer REWARD_CENTS of
    # credit on their own next trip (docs/referrals.md, "Incentives").
    "INCENTIVE": env.bool("REFERRAL_INCENTIVE", default=False),
    "REWARD_CENTS": env.int("REFERRAL_REWARD_CENTS", default=500),
}
