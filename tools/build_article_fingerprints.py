"""Write fingerprints of every 12-word run of the source article, for the no-copy test.

``tests/clinical/test_evidence.py`` checks that ``clinical/data/evidence.json`` and
``handout.json`` repeat no 12-word run of the article verbatim. The article itself lives beside
the repository (``../shared/clinical/ldn-evidence-article.txt``), not in it, so the test compares
against these one-way fingerprints: a truncated SHA-256 of each run of 12 words, as
``clinical.text.words`` splits them (lower case, punctuation dropped). The file holds no article
text.

Usage::

    python tools/build_article_fingerprints.py [--article PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from clinical.text import words

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARTICLE = REPO.parent / "shared" / "clinical" / "ldn-evidence-article.txt"
OUTPUT = REPO / "tests" / "clinical" / "article_fingerprints.txt"
RUN = 12


def fingerprint(run: tuple[str, ...]) -> str:
    """Return the fingerprint of one run of words."""
    return hashlib.sha256(" ".join(run).encode()).hexdigest()[:16]


def fingerprints(text: str, size: int = RUN) -> set[str]:
    """Fingerprint every run of ``size`` consecutive words of ``text``."""
    tokens = words(text)
    return {fingerprint(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def main(argv: list[str] | None = None) -> int:
    """Build ``tests/clinical/article_fingerprints.txt`` from the article."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--article", type=Path, default=DEFAULT_ARTICLE)
    args = parser.parse_args(argv)
    prints = sorted(fingerprints(args.article.read_text(encoding="utf-8")))
    header = f"# {RUN}-word run fingerprints of {args.article.name}, by {Path(__file__).name}\n"
    OUTPUT.write_text(header + "\n".join(prints) + "\n", encoding="utf-8")
    print(f"wrote {len(prints)} fingerprints to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
