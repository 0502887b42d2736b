"""A small, safe Markdown renderer for the inbox's view of Pulse v2 message bodies (pure).

Message bodies are untrusted. This renderer escapes *everything* first and
then adds only the tags it builds itself, so no markup from the body ever
reaches the page: raw HTML shows as text, and the only attribute it writes
is the ``href`` of a link whose scheme is ``http``, ``https`` or ``mailto``
(anything else, ``javascript:`` included, stays plain text). Images are
never loaded: ``![alt](url)`` shows as ``[image: alt]`` followed by its
link, so opening a message fetches nothing from elsewhere. (The inbox page's
own Content-Security-Policy would block such a fetch anyway.)

It covers the Markdown that messages use, not all of CommonMark: paragraphs,
ATX headings (shifted down two levels, below the page's own), fenced and
indented code blocks, block quotes, bullet and numbered lists (one level),
horizontal rules, ``**strong**``, ``*emphasis*``, ```code```, links and
``<https://…>`` autolinks. The source is always shown next to the rendering.
"""

from __future__ import annotations

import html
import re
from typing import Final

__all__ = ["render_markdown"]

_SAFE_SCHEMES: Final = ("http://", "https://", "mailto:")
_CODE_SPAN: Final = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_IMAGE: Final = re.compile(r"!\[([^\]\n]*)\]\(([^)\s]+)\)")
_LINK: Final = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_AUTOLINK: Final = re.compile(r"&lt;((?:https?://|mailto:)[^\s&]+(?:&amp;[^\s&]+)*)&gt;")
_STRONG: Final = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS: Final = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_HEADING: Final = re.compile(r"(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*\Z")
_BULLET: Final = re.compile(r"[ \t]{0,3}[-*+][ \t]+(.*)\Z")
_NUMBERED: Final = re.compile(r"[ \t]{0,3}\d{1,9}[.)][ \t]+(.*)\Z")
_RULE: Final = re.compile(r"[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*\Z")
_FENCE: Final = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})")
_CONTROL: Final = re.compile(r"[\x00-\x20\x7f]")


def _safe_href(escaped_url: str) -> str | None:
    """The URL (still escaped) if its scheme is allowed, else ``None``."""
    raw = _CONTROL.sub("", html.unescape(escaped_url)).lower()
    return escaped_url if raw.startswith(_SAFE_SCHEMES) else None


def _link(text: str, escaped_url: str) -> str:
    href = _safe_href(escaped_url)
    if href is None:
        return f"{text} ({escaped_url})"
    return f'<a href="{href}" rel="noopener noreferrer nofollow">{text}</a>'


def _inline(text: str) -> str:
    """Inline Markdown of one block's raw text → HTML (escaped first)."""
    spans: list[str] = []

    def hold(fragment: str) -> str:
        spans.append(fragment)
        return f"\x00{len(spans) - 1}\x00"

    text = text.replace("\x00", "")
    text = _CODE_SPAN.sub(lambda m: hold(f"<code>{html.escape(m.group(2).strip())}</code>"), text)
    out = html.escape(text, quote=True)
    out = _IMAGE.sub(
        lambda m: hold("[image: " + m.group(1) + "] " + _link(m.group(2), m.group(2))), out
    )
    out = _LINK.sub(lambda m: hold(_link(m.group(1), m.group(2))), out)
    out = _AUTOLINK.sub(lambda m: hold(_link(m.group(1), m.group(1))), out)
    out = _STRONG.sub(r"<strong>\2</strong>", out)
    out = _EMPHASIS.sub(r"<em>\2</em>", out)
    for _ in range(3):  # placeholders may nest (a link's text holding code)
        if "\x00" not in out:
            break
        out = re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], out)
    return out


def render_markdown(source: str) -> str:
    """HTML for ``source``; safe to place in a page whatever ``source`` holds."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_tag = ""
    quote: list[str] = []

    def flush() -> None:
        nonlocal list_tag
        if paragraph:
            blocks.append(f"<p>{_inline(' '.join(s.strip() for s in paragraph))}</p>")
            paragraph.clear()
        if items:
            body = "".join(f"<li>{_inline(item)}</li>" for item in items)
            blocks.append(f"<{list_tag}>{body}</{list_tag}>")
            items.clear()
            list_tag = ""
        if quote:
            blocks.append(f"<blockquote>{render_markdown(chr(10).join(quote))}</blockquote>")
            quote.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence is not None:
            flush()
            marker = fence.group(1)
            code: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                code.append(lines[i])
                i += 1
            blocks.append(f"<pre><code>{html.escape(chr(10).join(code))}</code></pre>")
            i += 1
            continue
        if not line.strip():
            flush()
        elif line.startswith(("    ", "\t")) and not paragraph and not items:
            flush()
            code = []
            while i < len(lines) and (lines[i].startswith(("    ", "\t")) or not lines[i].strip()):
                code.append(lines[i][4:] if lines[i].startswith("    ") else lines[i][1:])
                i += 1
            blocks.append(f"<pre><code>{html.escape(chr(10).join(code).rstrip())}</code></pre>")
            continue
        elif line.lstrip().startswith(">"):
            if paragraph or items:
                flush()
            quote.append(line.lstrip()[1:].removeprefix(" "))
        elif (heading := _HEADING.match(line.strip())) is not None:
            flush()
            level = min(6, len(heading.group(1)) + 2)
            blocks.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif _RULE.match(line):
            flush()
            blocks.append("<hr>")
        elif (bullet := _BULLET.match(line)) is not None or (
            numbered := _NUMBERED.match(line)
        ) is not None:
            tag = "ul" if bullet is not None else "ol"
            match = bullet if bullet is not None else numbered
            assert match is not None
            if paragraph or quote or (items and list_tag != tag):
                flush()
            list_tag = tag
            items.append(match.group(1))
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
        else:
            if items or quote:
                flush()
            paragraph.append(line)
        i += 1
    flush()
    return "\n".join(blocks)
