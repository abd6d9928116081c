"""The desk's static files, without a browser: both dictionaries have the same keys and every
key the code names; the vendored libraries carry their licences; the package data ships every
file the desk serves."""

import fnmatch
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESK = ROOT / "gateway" / "desk"


def dictionary(lang: str) -> dict[str, str]:
    return json.loads((DESK / "i18n" / f"{lang}.json").read_text())


def test_both_languages_have_the_same_keys_and_no_empty_text() -> None:
    zh, en = dictionary("zh-CN"), dictionary("en")
    assert set(zh) == set(en)
    assert all(v.strip() for v in (*zh.values(), *en.values()))
    placeholders = re.compile(r"\{(\w+)\}")
    for key in zh:
        assert set(placeholders.findall(zh[key])) == set(placeholders.findall(en[key])), key


def test_every_key_the_code_names_is_in_the_dictionaries() -> None:
    zh = dictionary("zh-CN")
    named = set()
    for path in [*DESK.glob("*.js"), *DESK.glob("views/*.js")]:
        named |= set(re.findall(r'\bt\("([a-zA-Z0-9_.-]+)"[,)]', path.read_text()))
    missing = sorted(k for k in named if k not in zh)
    assert not missing, missing


def test_vendored_libraries_keep_their_licences() -> None:
    for pkg, main in (("lightweight-charts", "lightweight-charts.standalone.production.mjs"),
                      ("swagger-ui-dist", "swagger-ui-bundle.js")):
        folder = DESK / "vendor" / pkg
        assert (folder / main).stat().st_size > 100_000
        assert "Apache License" in (folder / "LICENSE").read_text()
        assert (folder / "VERSION").read_text().strip()


def test_the_package_ships_every_file_the_desk_serves() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["gateway"]
    served = [p.relative_to(DESK.parent).as_posix() for p in DESK.rglob("*") if p.is_file()]
    unshipped = [f for f in served if not any(fnmatch.fnmatch(f, p) and f.count("/") == p.count("/")
                                              for p in patterns)]
    assert not unshipped, unshipped


def test_the_desk_loads_nothing_from_elsewhere() -> None:
    for path in DESK.rglob("*"):
        if path.suffix in (".html", ".js", ".css") and "vendor" not in path.parts:
            assert not re.search(r"https?://(?!127\.0\.0\.1)", path.read_text()), path
