"""Which document chunks a sentence of the reply draws on, if any.

A small local model writes no citation markup, so citations are found *after* the fact
by aligning each reply sentence with the document sentences (or blocks). A chunk is
cited only when the sentence demonstrably reuses it:

* **copied words**: the two share a contiguous run of at least :data:`MIN_RUN` words,
  at least :data:`MIN_RUN_CONTENT` of them content words (not stop words) -- a quote,
  or a quote woven into a longer sentence; or
* **close paraphrase**: they share at least :data:`MIN_SHARED` distinct content words,
  which make up at least :data:`REPLY_COVERAGE` of the sentence's content words *and*
  :data:`CHUNK_COVERAGE` of the chunk's.

Anything weaker is not cited: a missing citation is honest, a wrong one is not. Every
citation returned is a chunk's own precomputed citation object, so its location and
``cited_text`` come from the source, never from the reply.

Clauses at the start or end of the sentence that hold no word of a cited chunk are
left out of the cited text (``According to the notes, | the sky is blue, | which is
nice.``: :attr:`Alignment.lead` and :attr:`Alignment.end`), as the real API cites only
the part of the reply that uses the source.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from epistula.protocol.content import TextCitation

from .sources import Chunk

MIN_RUN = 4
MIN_RUN_CONTENT = 2
MIN_SHARED = 3
REPLY_COVERAGE = 0.6
CHUNK_COVERAGE = 0.5
MAX_CITATIONS = 3
"""Per reply sentence; the best-scoring chunks are kept."""

_WORD = re.compile(r"\w+")
_CLAUSE_END = re.compile(r"[,;:\u2013\u2014]\s+")
# fmt: off
STOP_WORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are",
        "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can",
        "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further",
        "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how",
        "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself",
        "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
        "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that",
        "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those",
        "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
        "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
        "yourselves", "according", "document", "documents", "says", "said", "text",
    }
)
# fmt: on


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@dataclass(frozen=True, slots=True)
class Alignment:
    citations: list[TextCitation] = field(default_factory=list)
    lead: int = 0
    """Where the cited part of the sentence starts (earlier clauses are not cited)."""
    end: int | None = None
    """Where it ends (``None``: at the end of the sentence)."""


def _content(tokens: Sequence[str]) -> set[str]:
    return {t for t in tokens if t not in STOP_WORDS}


def longest_run(a: Sequence[str], b: Sequence[str]) -> tuple[int, int]:
    """Length and start (in ``a``) of the longest common contiguous run of words."""
    best, best_end = 0, 0
    previous = [0] * (len(b) + 1)
    for i, word in enumerate(a, 1):
        current = [0] * (len(b) + 1)
        for j, other in enumerate(b, 1):
            if word == other:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, best_end = current[j], i
        previous = current
    return best, best_end - best


class Aligner:
    """The chunks of one request, indexed by content word for quick candidate lookup."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self._chunks = list(chunks)
        self._words = [words(c.text) for c in self._chunks]
        self._content = [_content(w) for w in self._words]
        self._by_word: dict[str, list[int]] = defaultdict(list)
        for n, content in enumerate(self._content):
            for word in content:
                self._by_word[word].append(n)

    def cite(self, sentence: str) -> list[TextCitation]:
        """The citations for one reply sentence (empty when it reuses no chunk)."""
        return self.align(sentence).citations

    def align(self, sentence: str) -> Alignment:
        """The citations for one reply sentence, and where in it the cited part starts."""
        spans = [m.span() for m in _WORD.finditer(sentence)]
        tokens = [sentence[a:b].lower() for a, b in spans]
        content = _content(tokens)
        hits: dict[int, int] = defaultdict(int)
        for word in content:
            for n in self._by_word.get(word, ()):
                hits[n] += 1
        scored: list[tuple[int, int, int]] = []
        first_word: dict[int, int] = {}
        last_word: dict[int, int] = {}
        for n, shared in hits.items():
            if shared < min(MIN_RUN_CONTENT, MIN_SHARED):
                continue
            run, start = longest_run(tokens, self._words[n])
            copied = run >= MIN_RUN and len(_content(tokens[start : start + run])) >= MIN_RUN_CONTENT
            paraphrased = (
                shared >= MIN_SHARED
                and shared >= REPLY_COVERAGE * len(content)
                and shared >= CHUNK_COVERAGE * len(self._content[n])
            )
            if copied or paraphrased:
                scored.append((run, shared, -n))
                used = [k for k, t in enumerate(tokens) if t in self._content[n]]
                first_word[n] = min([*used, start] if copied else used)
                last_word[n] = max([*used, start + run - 1] if copied else used)
        scored.sort(reverse=True)
        chosen = sorted(-neg for _, _, neg in scored[:MAX_CITATIONS])
        seen: set[str] = set()
        citations: list[TextCitation] = []
        for n in chosen:
            chunk = self._chunks[n]
            if chunk.text in seen:  # a sentence repeated in the sources: cite its first place
                continue
            seen.add(chunk.text)
            citations.append(chunk.citation)
        if not citations:
            return Alignment()
        # Clauses holding no word of any cited chunk stay uncited.
        copied_from = spans[min(first_word[n] for n in chosen)][0]
        copied_to = spans[max(last_word[n] for n in chosen)][1]
        lead = max((m.end() for m in _CLAUSE_END.finditer(sentence, 0, copied_from)), default=0)
        after = _CLAUSE_END.search(sentence, copied_to)
        end = after.end() if after is not None and sentence[after.end() :].strip() else None
        return Alignment(citations, lead, end)
