"""Local stand-ins for the outside services, for the demo (``manage.py serve`` starts them),
the tests and the benchmarks: a fake Facebook (Graph API, login and share dialogs) and
the Stripe sandbox (``localstripe`` behind Stripe's idempotency and webhook behaviour).
They listen on loopback only and are never used when the real service is configured."""
