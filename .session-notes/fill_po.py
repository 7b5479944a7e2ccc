"""Fill translations into mailflow/translations/<lang>/LC_MESSAGES/messages.po.

usage: python fill_po.py TRANSLATIONS.json [REPO_DIR]
JSON: {"msgid": {"fr": "...", "de": "...", "pl": "..."}, ...}
Plural entries: key "singular\\u0000plural", values lists of forms (fr 2, de 2, pl 3).
Run scripts/update-translations first (so the msgids are in the .po), then this, then
`pybabel compile -d mailflow/translations -D messages`.
Also: python fill_po.py --missing [REPO_DIR] lists untranslated msgids per language.
"""
import json, sys
from pathlib import Path
from babel.messages.pofile import read_po, write_po

args = sys.argv[1:]
missing = args and args[0] == "--missing"
if missing:
    args = args[1:]
    data = {}
else:
    data = json.loads(Path(args[0]).read_text())
    args = args[1:]
repo = Path(args[0]) if args else Path(".")
for lang in ("fr", "de", "pl"):
    po = repo / f"mailflow/translations/{lang}/LC_MESSAGES/messages.po"
    with po.open("rb") as f:
        cat = read_po(f, locale=lang)
    n = 0
    for msg in cat:
        if not msg.id:
            continue
        key = "\x00".join(msg.id) if isinstance(msg.id, tuple) else msg.id
        if missing:
            empty = not msg.string or (isinstance(msg.string, tuple) and not all(msg.string))
            if empty:
                print(f"{lang}\t{key!r}")
            continue
        tr = data.get(key, {}).get(lang)
        if tr:
            msg.string = tuple(tr) if isinstance(msg.id, tuple) else tr
            msg.flags.discard("fuzzy")
            n += 1
    if not missing:
        with po.open("wb") as f:
            write_po(f, cat, width=76, omit_header=False)
        print(lang, "filled", n)
