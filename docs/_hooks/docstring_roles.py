"""MkDocs hook: show Sphinx-style roles in docstrings (``:func:`instrument```) as plain code.

bedrock-otel's docstrings use reStructuredText roles; rendered as Markdown they come out as
``:func:<code>instrument</code>``. This drops the role and keeps the code.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|exc|obj|const):(?=<code>)")


def on_page_content(html: str, **kwargs: object) -> str:
    return _ROLE.sub("", html)
