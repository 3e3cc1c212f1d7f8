"""The French catalogue is complete and the committed .mo matches the .po, so a machine
without gettext tools still serves every page in French."""

import ast
import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_translatable_string_of_the_code_is_in_the_catalogue(tmp_path, domain):
    """The catalogues above are complete, but only in what they hold: a string added to the
    code and never extracted would be shown in English to a French reader. Extracted here
    from a copy of the committed sources (the repository's files are left alone), the
    catalogue must gain no entry that is untranslated or fuzzy."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        pytest.skip("gettext's tools are not installed (Debian: gettext)")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the committed sources cannot be listed")
    for name in listed.stdout.decode().split("\0"):
        if not name or name.startswith(("tests/", "bench/")) or name.endswith(".mo"):
            continue
        source = ROOT / name
        if source.is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp_path / name)
    env = {**os.environ, "DJANGO_DEBUG": "1"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "-d", domain, "--no-obsolete"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=True,
    )
    extracted = tmp_path / "locale" / "fr" / "LC_MESSAGES" / f"{domain}.po"
    left_out = "".join(
        subprocess.run(
            ["msgattrib", which, "--no-wrap", str(extracted)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for which in ("--untranslated", "--only-fuzzy")
    )
    # Each output holds the header (msgid "") and then one entry per string left out.
    entries = re.findall(r"^msgid .*(?:\n\".*)*", left_out, flags=re.MULTILINE)
    new = [entry for entry in entries if entry.strip() != 'msgid ""' or "\n" in entry]
    new = [entry for entry in new if "Project-Id-Version" not in entry]
    assert new == [], f"not in locale/fr/LC_MESSAGES/{domain}.po yet: {new}"
