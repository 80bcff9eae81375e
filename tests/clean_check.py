#!/usr/bin/env python3
"""tests/clean_check.py: the caption cleaner's Python-semantics parts against Python's own standard
library, on a few thousand generated strings: str.lower(), urllib.parse.unquote_plus and
html.unescape exactly, and the HTML step (runtime/text/soup.c) against html.parser itself driven by
a small copy of the beautifulsoup4 4.12.3 handlers .text depends on (bs4 is not needed). The HTML
check runs only on Python 3.11 before 3.11.13 (the html.parser upstream ran; later releases
changed it). Standard library only. Prints one "ok - ..." / "not ok - ..." line per check.
Usage: clean_check.py build/tests/clean_test
Not the fixture test (tests/clean_test.c) and not a test of ftfy or of the regex steps.
"""
import html
import html.entities
import json
import random
import subprocess
import sys
import urllib.parse
from html.parser import HTMLParser

PIECES = [
    "a", "B", "z", "x", "X", "1", "7", "0", " ", "  ", "\n", "\t", "\r", "\f", "<", ">", "/", "&", "#", ";",
    "=", "'", '"', "!", "?", "-", "--", ".", "[", "]", "%", "+", "%2", "%41", "%E6%97", "%e2%82%ac", "%zz",
    "amp", "lt", "gt", "nbsp", "copy", "hellip", "quot", "AMP", "notin", "#39", "#x263a", "#X41", "#150",
    "#0", "#x110000", "#xD800", "#129", "p", "br", "b", "script", "style", "template", "rt", "pre",
    "!--", "![CDATA[", "]]", "!doctype", "?xml", "textarea", "é", "É", "İ", "Σ", "ΣΑ", "ς", "ß", "ǅ",
    "ﬁ", "ｆ", "“", "’", "\u00a0", "\u2028", "\u0085", "\x1c", "\u3000", "中", "😀", "\u0301", "ªΣ",
]


def gen(rng, n):
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 14))) for _ in range(n)]


class Soup(HTMLParser):
    """BeautifulSoup(text, "html.parser").text as bs4 4.12.3 forms it (the handlers and tree rules)."""
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "menuitem", "meta",
            "param", "source", "track", "wbr", "basefont", "bgsound", "command", "frame", "image", "isindex",
            "nextid", "spacer"}
    CONTAINERS = {"rt", "rp", "style", "script", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.stack, self.closed, self.cur, self.out = [], [], [], []

    def end_data(self, kind="nav"):
        if not self.cur:
            return
        d, self.cur = "".join(self.cur), []
        if d.translate({ord(c): None for c in " \n\t\f\r"}) == "" and not {"pre", "textarea"} & set(self.stack):
            d = "\n" if "\n" in d else " "
        if kind == "cdata" or (kind == "nav" and not self.CONTAINERS & set(self.stack)):
            self.out.append(d)

    def handle_starttag(self, tag, attrs, empty=True):
        self.end_data()
        self.stack.append(tag)
        if empty and tag in self.VOID:
            self.handle_endtag(tag, False)
            self.closed.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs, False)
        self.handle_endtag(tag)

    def handle_endtag(self, tag, check=True):
        if check and tag in self.closed:
            self.closed.remove(tag)
            return
        self.end_data()
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        self.cur.append(data)

    def handle_charref(self, name):
        n = int(name.lstrip("xX"), 16) if name[0] in "xX" else int(name)
        data = None
        if n < 256:
            try:
                data = bytearray([n]).decode("windows-1252")
            except UnicodeDecodeError:
                pass
        if not data:
            try:
                data = chr(n)
            except (ValueError, OverflowError):
                pass
        data = data or "\ufffd"
        if len(data) == 1 and 0xD800 <= ord(data) <= 0xDFFF:
            data = "\ufffd"  # the C side's documented approximation (UTF-8 holds no surrogates)
        self.cur.append(data)

    def handle_entityref(self, name):
        h5 = html.entities.html5
        self.cur.append(h5.get(name, h5.get(name + ";", "&" + name)))

    def _other(self, data, kind="other"):
        self.end_data()
        self.cur.append(data)
        self.end_data(kind)

    handle_comment = handle_decl = handle_pi = _other

    def unknown_decl(self, data):
        if data.upper().startswith("CDATA["):
            self._other(data[6:], "cdata")
        else:
            self._other(data)


def soup_text(s):
    p = Soup()
    try:
        p.feed(s)
        p.close()
    except AssertionError:
        return {"error": "rejected"}
    p.end_data()
    return "".join(p.out)


def run(binary, mode, strings):
    out = subprocess.run([binary, "--map", mode], input=json.dumps(strings).encode(), capture_output=True,
                         check=True)
    return json.loads(out.stdout)


def compare(name, got, want, strings):
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w and not (isinstance(g, dict) and isinstance(w, dict))]
    if len(got) == len(want) and not bad:
        print(f"ok - {name}: {len(want)} strings identical")
        return 0
    i = bad[0] if bad else 0
    print(f"not ok - {name}: {len(bad)} of {len(want)} differ, first {json.dumps(strings[i])}: "
          f"got {json.dumps(got[i]) if got else None}, want {json.dumps(want[i])}")
    return 1


def main():
    binary = sys.argv[1]
    rng = random.Random(20240607)
    strings = gen(rng, 3000)
    rc = 0
    rc |= compare("str.lower()", run(binary, "lower", strings), [s.lower() for s in strings], strings)
    rc |= compare("urllib.parse.unquote_plus", run(binary, "unquote_plus", strings),
                  [urllib.parse.unquote_plus(s) for s in strings], strings)
    rc |= compare("html.unescape", run(binary, "unescape", strings), [html.unescape(s) for s in strings], strings)
    # every code point Python's Unicode assigns, alone and around a capital sigma (final-sigma rule)
    import unicodedata
    chars = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    rc |= compare(f"str.lower() of all {len(chars)} assigned code points", run(binary, "lower", chars),
                  [c.lower() for c in chars], chars)
    probes = ["A" + c + "\u03a3" + c for c in chars]
    rc |= compare("str.lower()'s final sigma next to every assigned code point", run(binary, "lower", probes),
                  [p.lower() for p in probes], probes)
    rc |= compare("lower().strip()", run(binary, "no_clean", strings), [s.lower().strip() for s in strings], strings)
    v = sys.version_info
    if (v.major, v.minor) == (3, 11) and v.micro < 13:
        # the step runs on lower-cased text; upper case is checked too
        rc |= compare("BeautifulSoup(html.parser).text", run(binary, "soup", strings),
                      [soup_text(s) for s in strings], strings)
    else:
        print(f"# skipped: the HTML step's check needs Python 3.11 before 3.11.13 (this is {v.major}.{v.minor}.{v.micro})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
