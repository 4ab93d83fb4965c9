"""Checks of a page in the browser: English left in Persian mode, and a layout that fits the
width; and a member's sign-in.

English: every text node of the page (and its title, tooltips and placeholders) outside what is
marked as not the console's words (`code`, `.code`, `[lang=en]`: identifiers, files, the
switch's own messages, settlement's chart) may hold Latin words only where they are allowed:
codes and IDs, card masks, numbers, and the proper names of the configuration and the staff.
No English msgid of the catalogue may show through whole.

Layout: the page itself never scrolls sideways; forms, headings, the menu and paragraphs stay
inside the viewport; a table (or `pre`, or a chart) wider than the page scrolls in its own box.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from babel.messages.extract import extract_from_dir

from switch.config import Config
from tests.console.support import PASSWORD
from tests.console.webdriver import Browser

#: Not the console's words, so not checked: codes, files, the switch's own (labelled) messages.
THEIRS = 'code, .code, body [lang="en"], script, style'

TEXTS_JS = """
const skip = arguments[0];
const texts = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode;
  if (node.textContent.trim() && !node.parentElement.closest(skip)) texts.push(node.textContent);
}
for (const el of document.querySelectorAll('[title], [placeholder], [aria-label]')) {
  if (el.closest(skip)) continue;
  for (const name of ['title', 'placeholder', 'aria-label']) {
    if (el.getAttribute(name)) texts.push(el.getAttribute(name));
  }
}
texts.push(document.title);
return texts;
"""

LAYOUT_JS = """
const width = document.documentElement.clientWidth;
const problems = [];
const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
  + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
if (document.documentElement.scrollWidth > width) {
  problems.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' > '
                + width);
}
const boxes = 'table, pre, .chart';
for (const el of document.querySelectorAll(
    'header, nav, main, h1, h2, h3, p, form, fieldset, label, input, select, button, dl')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || el.closest(boxes)) continue;
  if (r.left < -1 || r.right > width + 1) {
    problems.push(name(el) + ' runs out of the page (' + Math.round(r.left) + ' to '
                  + Math.round(r.right) + ' of ' + width + ')');
  }
}
for (const el of document.querySelectorAll(boxes)) {
  const r = el.getBoundingClientRect();
  if (r.width === 0) continue;
  if (r.left < -1 || r.right > width + 1) {
    problems.push(name(el) + ' is wider than the page (' + Math.round(r.width) + ' of '
                  + width + ')');
  }
  const overflow = getComputedStyle(el).overflowX;
  if (el.scrollWidth > el.clientWidth + 1 && overflow !== 'auto' && overflow !== 'scroll') {
    problems.push(name(el) + ' is cut off instead of scrolling in its own box');
  }
}
return problems;
"""

LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'\-]*")
#: Proper names that are not the configuration's: the product and the protocols it speaks.
NAMES = frozenset({"lps", "mqtt"})


def proper_names(config: Config, staff: Iterable[str]) -> frozenset[str]:
    """The words of the configuration's names and IDs, and the staff's usernames."""
    texts: list[str] = list(staff)
    for c in config.coalitions.values():
        texts += [c.id, c.name, *(t.name for t in c.tiers), *(k.name for k in c.campaigns)]
        if c.operator is not None:
            texts.append(c.operator.name)
    for s in config.stores.values():
        texts += [s.id, s.name, *(k.name for k in s.campaigns)]
        if s.stamps is not None:
            texts.append(s.stamps.reward)
    texts += list(config.terminals)
    return NAMES | {w.lower() for text in texts for w in LATIN_WORD.findall(text)}


def english_chunks(package: str) -> list[str]:
    """The console's English msgids cut at their placeholders: the pieces of two words or more
    (a page showing one whole is showing an untranslated message)."""
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    chunks: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            package, method_map, options, keywords={"_": None, "gettext": None,
                                                    "ngettext": (1, 2), "N_": None}):
        for text in (message,) if isinstance(message, str) else message:
            for piece in re.split(r"\{\w+\}", text):
                if len(LATIN_WORD.findall(piece)) >= 2:
                    chunks.add(piece.strip())
    return sorted(chunks, key=len, reverse=True)


def english_left(b: Browser, allowed: frozenset[str], chunks: list[str]) -> list[str]:
    """What of this page is still English: whole msgids, then Latin words not allowed."""
    found: list[str] = []
    for text in b.run(TEXTS_JS, THEIRS):
        found += [f"msgid {c!r} in {text.strip()!r}" for c in chunks if c in text]
        found += [f"{w!r} in {text.strip()!r}" for w in LATIN_WORD.findall(text)
                  if w.lower() not in allowed]
    return found


def layout_problems(b: Browser) -> list[str]:
    return [str(p) for p in b.run(LAYOUT_JS)]


def sign_in(b: Browser, url: str, user: str) -> None:
    """A fresh sign-in of `user` (the test password), cookies of the last one dropped."""
    b.delete_cookies()
    b.go(url + "/login")
    b.type("#username", user)
    b.type("#password", PASSWORD)
    b.click("#login")
