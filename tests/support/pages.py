"""What a page's HTML holds that strict CSP (``script-src 'self'``) would refuse."""

from __future__ import annotations

import re

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)


def inline_scripts(html: str) -> list[str]:
    """The page's scripts that are not an empty ``<script src=...>`` of our own static files:
    inline code, or a script from elsewhere. Empty on a page that passes strict CSP."""
    found = []
    for attributes, body in _SCRIPT.findall(html):
        src = re.search(r"""\bsrc\s*=\s*["']([^"']*)["']""", attributes)
        if body.strip() or src is None or not src.group(1).startswith("/static/"):
            found.append(attributes + body)
    if html.lower().count("<script") != len(_SCRIPT.findall(html)):
        found.append("an unclosed <script>")
    return found
