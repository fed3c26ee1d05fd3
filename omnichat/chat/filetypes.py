"""What a file is, judged from its bytes (puremagic), and a file name safe to keep and show.

The name and the declared type are the sender's word; only the bytes decide. Types that a
browser could run (HTML, SVG, XML, scripts) and programs are refused whatever the settings say.
"""

from __future__ import annotations

import re
import unicodedata

import puremagic

# Enough for every signature puremagic checks at the start of a file.
HEAD_BYTES = 8192
NEVER = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/xml",
        "text/xml",
        "application/javascript",
        "text/javascript",
        "application/x-msdownload",
        "application/x-executable",
        "application/x-sh",
    }
)
# Text that a browser or a viewer would treat as markup or a script is not plain text.
MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|\?xml)", re.IGNORECASE)
CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')
MAX_NAME = 200


def sniff(head: bytes) -> str | None:
    """The MIME type the file's first bytes show, `text/plain` for plain UTF-8 text, or None."""
    if not head:
        return None
    try:
        found = puremagic.from_string(head, mime=True)
    except puremagic.PureError:
        found = ""
    if found:
        return str(found)
    if _plain_text(head):
        return "text/plain"
    return None


def _plain_text(head: bytes) -> bool:
    if CONTROL.search(head) or MARKUP.search(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut at the end of the head is still text.
        return exc.start >= len(head) - 3 and len(head) >= HEAD_BYTES
    return True


def allowed(kind: str | None, allowed_types: list[str]) -> bool:
    return kind is not None and kind not in NEVER and kind in allowed_types


def clean_name(name: str | None) -> str:
    """The file name without folders, control or reserved characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = UNSAFE_NAME.sub("_", name).strip(" .")
    return name[:MAX_NAME] or "file"


def is_image(kind: str) -> bool:
    return kind in {"image/png", "image/jpeg", "image/gif", "image/webp"}
