"""Write the facts the tests check against the source article, without any of its text.

The clinical source article (``ldn-evidence-article.txt``) is kept outside the repository: its
sentences are not ours to copy. The tests compare the product's wording against two derived
files built from it here:

* ``tests/clinical/article_fingerprints.txt``: a truncated SHA-256 of every run of 12 words, as
  ``clinical.text.words`` splits them (lower case, punctuation dropped). ``tests/clinical/
  test_evidence.py`` and ``tests/fhir_profiles/test_evidence_render.py`` check that no 12-word
  run of the article is repeated verbatim.
* ``tests/clinical/article_numbers.txt``: every number the article states, one a line, so that
  ``test_evidence_render.py`` can check that the evidence summary shows no number the article
  does not give.

Neither file holds article text. Rebuild both when the article changes::

    python tools/build_article_fingerprints.py --article PATH/TO/ldn-evidence-article.txt
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

from clinical.text import words

REPO = Path(__file__).resolve().parents[1]
FINGERPRINTS = REPO / "tests" / "clinical" / "article_fingerprints.txt"
NUMBERS = REPO / "tests" / "clinical" / "article_numbers.txt"
RUN = 12
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def fingerprint(run: tuple[str, ...]) -> str:
    """Return the fingerprint of one run of words."""
    return hashlib.sha256(" ".join(run).encode()).hexdigest()[:16]


def fingerprints(text: str, size: int = RUN) -> set[str]:
    """Fingerprint every run of ``size`` consecutive words of ``text``."""
    tokens = words(text)
    return {fingerprint(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def numbers(text: str) -> set[str]:
    """Return every number written in ``text`` (integers and decimals, as written)."""
    return set(NUMBER.findall(text))


def main(argv: list[str] | None = None) -> int:
    """Build the fingerprint and number files from the article."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--article", type=Path, required=True)
    args = parser.parse_args(argv)
    text = args.article.read_text(encoding="utf-8")
    tool = Path(__file__).name
    for path, header, lines in (
        (FINGERPRINTS, f"{RUN}-word run fingerprints", sorted(fingerprints(text))),
        (NUMBERS, "numbers stated", sorted(numbers(text), key=lambda n: (float(n), n))),
    ):
        path.write_text(
            f"# {header} of {args.article.name}, by {tool}\n" + "\n".join(lines) + "\n",
            encoding="utf-8",
        )
        print(f"wrote {len(lines)} lines to {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
