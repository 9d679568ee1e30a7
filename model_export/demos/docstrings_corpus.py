"""A real multi-label text corpus that ships with Python: the standard library's docstrings, tagged by topic.

Each text is the first paragraph of a public function's, class's or method's docstring; its labels are the topics
of the module it documents. A module often has several (gzip is compression and files, asyncio is concurrency and
network, csv is text and files), so labels co-occur the way topic tags do. Deterministic for one Python version:
modules, members and texts are visited in sorted order, and a text found in several modules gets all their topics.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

LABELS = ["files", "network", "concurrency", "compression", "text", "math", "time"]

MODULE_TOPICS: dict[str, tuple[str, ...]] = {
    "os.path": ("files",),
    "shutil": ("files",),
    "pathlib": ("files",),
    "glob": ("files",),
    "tempfile": ("files",),
    "filecmp": ("files",),
    "stat": ("files",),
    "io": ("files",),
    "os": ("files",),
    "fnmatch": ("files", "text"),
    "fileinput": ("files", "text"),
    "csv": ("files", "text"),
    "codecs": ("files", "text"),
    "mailbox": ("files", "text"),
    "gzip": ("compression", "files"),
    "bz2": ("compression", "files"),
    "lzma": ("compression", "files"),
    "tarfile": ("compression", "files"),
    "zipfile": ("compression", "files"),
    "zlib": ("compression",),
    "socket": ("network",),
    "ssl": ("network",),
    "http.client": ("network",),
    "http.server": ("network",),
    "http.cookiejar": ("network",),
    "urllib.request": ("network",),
    "xmlrpc.client": ("network",),
    "ftplib": ("network", "files"),
    "smtplib": ("network", "text"),
    "imaplib": ("network", "text"),
    "poplib": ("network", "text"),
    "urllib.parse": ("network", "text"),
    "socketserver": ("network", "concurrency"),
    "selectors": ("network", "concurrency"),
    "asyncio": ("network", "concurrency"),
    "threading": ("concurrency",),
    "concurrent.futures": ("concurrency",),
    "queue": ("concurrency",),
    "multiprocessing": ("concurrency",),
    "subprocess": ("concurrency",),
    "sched": ("concurrency", "time"),
    "re": ("text",),
    "string": ("text",),
    "textwrap": ("text",),
    "difflib": ("text",),
    "unicodedata": ("text",),
    "html": ("text",),
    "html.parser": ("text",),
    "json": ("text",),
    "email.message": ("text",),
    "email.utils": ("text",),
    "email.parser": ("text",),
    "math": ("math",),
    "cmath": ("math",),
    "decimal": ("math",),
    "fractions": ("math",),
    "statistics": ("math",),
    "random": ("math",),
    "numbers": ("math",),
    "time": ("time",),
    "datetime": ("time",),
    "zoneinfo": ("time",),
    "calendar": ("time", "text"),
}
_MIN_CHARACTERS = 20  # shorter docstrings ("Return self.") say nothing about a topic


def load_corpus() -> tuple[list[str], list[list[str]]]:
    """(texts, label names per text), sorted by text."""
    topics: dict[str, set[str]] = {}
    for module_name in sorted(MODULE_TOPICS):
        module = importlib.import_module(module_name)
        for text in _module_texts(module, module_name):
            topics.setdefault(text, set()).update(MODULE_TOPICS[module_name])
    texts = sorted(topics)
    return texts, [[label for label in LABELS if label in topics[text]] for text in texts]


def _module_texts(module: Any, module_name: str) -> list[str]:
    package = module_name.split(".")[0]
    texts = []
    for name, member in sorted(vars(module).items()):
        owner = getattr(member, "__module__", None) or ""
        if name.startswith("_") or not (owner.startswith(package) or owner.startswith("_")):
            continue  # imported from elsewhere: it belongs to another module's topics
        if inspect.isclass(member):
            texts.append(_first_paragraph(member))
            texts += [_first_paragraph(m) for n, m in sorted(vars(member).items()) if _public_callable(n, m)]
        elif callable(member):
            texts.append(_first_paragraph(member))
    return [text for text in texts if len(text) >= _MIN_CHARACTERS]


def _public_callable(name: str, member: Any) -> bool:
    return not name.startswith("_") and callable(member)


def _first_paragraph(member: Any) -> str:
    doc = inspect.getdoc(member) or ""
    return " ".join(doc.split("\n\n")[0].split())
