"""Text shown in Markdown, escaped: user and model text is never read as Markdown, HTML or emoji codes."""

from __future__ import annotations

import re
from typing import Any

from core.text import plain_text

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


_SHORTCODE = re.compile(r":(?=\S)")


WORD_JOINER = "\u2060"


def escape_markdown(text: Any) -> str:
    """Text made safe for st.markdown: markdown and HTML characters, emoji and icon codes shown literally.

    Terminal colour codes are dropped; a colon not followed by a space gets an
    invisible word joiner after it (":x:" stays ":x:" on the page, not an emoji).
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", plain_text(str(text)))
    return _SHORTCODE.sub(":" + WORD_JOINER, escaped)


_LITERAL_ALWAYS = re.compile(r"([\\`*\[\]<>~$|&])")


_LITERAL_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # "max_exact" stays; "_x_" would be italic


_LITERAL_LINE_START = re.compile(r"(?m)^(\s*)([#>+=-]|\d+[.)])")


def literal_markdown(text: Any) -> str:
    """Text for st.markdown that reads exactly as written, with as few escapes as that needs.

    Lighter than :func:`escape_markdown` (plain punctuation stays as it is, so a
    sentence in an error box keeps its words): it escapes what formats anywhere in
    a line, underscores that could start emphasis, block markers at a line's start,
    emoji and icon codes, and drops terminal colour codes.
    """
    out = _LITERAL_ALWAYS.sub(r"\\\1", plain_text(str(text)))
    out = _LITERAL_UNDERSCORE.sub(r"\\_", out)
    out = _LITERAL_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), out)
    return _SHORTCODE.sub(":" + WORD_JOINER, out)
