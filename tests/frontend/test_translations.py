"""The French catalogue is complete and the committed .mo matches the .po, so a machine
without gettext tools still serves every page in French."""

import ast
import gettext
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
MO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.mo"


def _entries():
    """(msgid, msgstr list, flags) for each entry of the .po, the header left out."""
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        flags = " ".join(line for line in lines if line.startswith("#,"))
        fields: dict[str, str] = {}
        key = None
        for line in lines:
            match = re.match(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d\])?) (".*")$', line)
            if match:
                key = match.group(1)
                fields[key] = ast.literal_eval(match.group(2))
            elif line.startswith('"') and key:
                fields[key] += ast.literal_eval(line)
        if fields.get("msgid"):
            yield fields, flags


def test_every_french_message_is_translated_and_none_is_fuzzy():
    entries = list(_entries())
    assert len(entries) > 100
    for fields, flags in entries:
        assert "fuzzy" not in flags, fields["msgid"]
        translations = [v for k, v in fields.items() if k.startswith("msgstr")]
        assert translations and all(translations), f"untranslated: {fields['msgid']!r}"


def test_the_compiled_catalogue_matches_the_po_file():
    with MO.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    for fields, _flags in _entries():
        if "msgid_plural" in fields or "msgctxt" in fields:
            continue
        assert catalogue.gettext(fields["msgid"]) == fields["msgstr"], fields["msgid"]
