import pytest
from django.template import Context, Template
from django.utils import translation

from frontend.templatetags.money import NBSP, NNBSP, format_money


@pytest.mark.parametrize(
    ("cents", "currency", "language", "expected"),
    [
        (4500, "EUR", "fr", f"45,00{NBSP}€"),
        (4500, "EUR", "en", "€45.00"),
        (5, "EUR", "fr", f"0,05{NBSP}€"),
        (5, "EUR", "en", "€0.05"),
        (0, "EUR", "en", "€0.00"),
        (123456789, "EUR", "fr", f"1{NNBSP}234{NNBSP}567,89{NBSP}€"),
        (123456789, "EUR", "en", "€1,234,567.89"),
        (100000, "EUR", "en", "€1,000.00"),
        (99999, "EUR", "fr", f"999,99{NBSP}€"),
        (-1250, "EUR", "fr", f"-12,50{NBSP}€"),
        (-1250, "EUR", "en", "-€12.50"),
        (4500, "CHF", "fr", f"45,00{NBSP}CHF"),
        (4500, "CHF", "en", "CHF45.00"),  # CLDR's en_GB
        (4500, "gbp", "en", "£45.00"),
        (4500, "JPY", "en", "JP¥4,500"),
        (4500, "EUR", "fr-ca", f"45,00{NBSP}€"),
        (4500, "EUR", "de", "€45.00"),  # languages we do not serve fall back to English
    ],
)
def test_format_money_writes_prices_as_each_language_does(cents, currency, language, expected):
    assert format_money(cents, currency, language=language) == expected


def test_format_money_is_exact_for_amounts_a_float_would_round():
    # 2**53 + 1 cents cannot be represented as a float; integer arithmetic keeps the cent.
    assert format_money(2**53 + 1, "EUR", language="en") == "€90,071,992,547,409.93"


@pytest.mark.parametrize("bad", [45.0, 45.5, True, "4 500", "abc", None])
def test_format_money_refuses_anything_but_an_integer_amount(bad):
    with pytest.raises(TypeError):
        format_money(bad, "EUR", language="en")


def test_format_money_accepts_a_string_of_digits_from_a_template():
    assert format_money("4500", "EUR", language="en") == "€45.00"


@pytest.mark.parametrize(("language", "expected"), [("fr", f"45,00{NBSP}€"), ("en", "€45.00")])
def test_money_filter_follows_the_active_language(language, expected):
    template = Template("{% load money %}{{ cents|money:currency }}")
    with translation.override(language):
        assert template.render(Context({"cents": 4500, "currency": "EUR"})) == expected


def test_money_filter_defaults_to_euros_and_leaves_a_missing_price_empty():
    template = Template("{% load money %}[{{ cents|money }}]")
    with translation.override("en"):
        assert template.render(Context({"cents": 700})) == "[€7.00]"
        assert template.render(Context({"cents": None})) == "[]"
