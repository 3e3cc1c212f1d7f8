"""Values written for people to download ("Download my data"): a moment as ISO 8601, or
``None`` when there is none. Every app's export section writes its dates this way."""


def iso_or_none(value) -> str | None:
    return value.isoformat() if value is not None else None
