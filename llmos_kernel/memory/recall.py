"""Which swapped pages a prompt needs: ranking for demand paging. Pure: reads the swap index, changes nothing.

The score of a page is BM25 summed over the query's words (FTS5 with porter stemming gives each word's BM25
per page; BM25 is additive over words, so weighting words differently stays exact). On top of that:

- Relevance gate (coverage): a page must carry at least half of the query's weight, where each word weighs its
  IDF, and a name that swap has never seen weighs the most. Names (capitalized words, identifiers like
  `zebra0qux`) weigh double. A question about someone memory never heard of then recalls nothing, instead of
  every page that shares a common word with it (abstention).
- Two hops: a question that names no one memory knows ("the owner of the red canoe") takes the names that its
  best pages mention and looks those up too, so the fact about the owner comes back with the fact naming them.
- Recency: among pages of about the same relevance the newer wins, so an update outranks the fact it replaced.
- Recent conversation: words of the last prompts add a small bonus (never pass the gate on their own).

Each step can be switched off (RecallOptions), which is how benchmarks/bench_paging.py measures what it adds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .swap import STOPWORDS, PageRow, Swap, query_terms

ENTITY_WEIGHT = 2.0
# A word swap has never seen weighs this share of its (maximal) IDF, unless it is a name: questions use words
# that facts did not ("hobby" for "keeping bees"), but a name nobody mentioned means memory has nothing on it.
UNSEEN_WEIGHT = 0.5
_WORD = re.compile(r"\w+")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*)$")
_IDENTIFIER = re.compile(r"^(?=\w*[a-z])(?=\w*\d)\w+$", re.IGNORECASE)


@dataclass
class RecallOptions:
    coverage: float = 0.5  # share of the query's weight a page must match; 0 turns the gate off
    two_hop: bool = True
    recency: float = 0.15  # bonus of the newest candidate over the oldest, in units of the best score
    context_weight: float = 0.0  # words of the recent conversation, relative to the prompt's own
    hop_pages: int = 2  # how many best pages lend their names to the second hop
    max_pages: int = 12  # candidates handed to the budget at most


@dataclass
class Hit:
    """A candidate page and why it matched."""

    page: PageRow
    score: float
    terms: list[str] = field(default_factory=list)
    hop: int = 1
    coverage: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"segment_id": self.page.segment_id, "page": self.page.index, "score": round(self.score, 3),
                "coverage": round(self.coverage, 3), "match": list(self.terms), "hop": self.hop}


def entities(text: str) -> list[str]:
    """Names in `text`, lower-cased: capitalized words not opening a sentence (or opening one but followed by
    another capitalized word: "Lena Voss moved"), and identifiers mixing letters and digits (`zebra0qux`)."""
    found: list[str] = []
    words = list(_WORD.finditer(text))
    for position, match in enumerate(words):
        word = match.group(0)
        if _IDENTIFIER.match(word):
            found.append(word.lower())
            continue
        if not word[:1].isupper() or len(word) < 2 or word.lower() in STOPWORDS:
            continue
        opening = bool(_SENTENCE_START.search(text[: match.start()]))
        following = words[position + 1] if position + 1 < len(words) else None
        joined = following is not None and text[match.end() : following.start()] == " "
        if not opening or joined and following.group(0)[:1].isupper():
            found.append(word.lower())
    return list(dict.fromkeys(found))


class Ranker:
    """Ranks the pages of one swap for one prompt; `rank()` returns the hits, best first."""

    def __init__(self, swap: Swap, options: RecallOptions | None = None) -> None:
        self.swap = swap
        self.options = options or RecallOptions()
        self._total = max(swap.page_total(), 1)
        self._postings: dict[str, dict[int, float]] = {}

    def rank(self, prompt: str, context: Sequence[str] = ()) -> list[Hit]:
        options = self.options
        terms = query_terms(prompt)
        names = [term for term in entities(prompt) if term in terms]
        weights = {term: self._weight(term, term in names) for term in terms}
        hits = self._score(weights, names)
        passing = [hit for hit in hits.values() if hit.coverage >= options.coverage]
        if options.two_hop and passing and not any(self._postings_of(name) for name in names):
            passing += self._second_hop(passing, terms)
        if options.context_weight > 0:
            self._add_context(passing, context, terms)
        return self._order(passing)[: options.max_pages]

    # -- scoring ---------------------------------------------------------------------------------------

    def _postings_of(self, term: str) -> dict[int, float]:
        if term not in self._postings:
            self._postings[term] = self.swap.postings(term)
        return self._postings[term]

    def _weight(self, term: str, name: bool) -> float:
        if name:
            return ENTITY_WEIGHT * self._idf(term)
        return self._idf(term) * (1.0 if self._postings_of(term) else UNSEEN_WEIGHT)

    def _idf(self, term: str) -> float:
        frequency = len(self._postings_of(term))
        return math.log(1 + (self._total - frequency + 0.5) / (frequency + 0.5))

    def _score(self, weights: dict[str, float], names: list[str]) -> dict[int, Hit]:
        whole = sum(weights.values()) or 1.0
        scores: dict[int, float] = {}
        matched: dict[int, list[str]] = {}
        for term in weights:
            factor = ENTITY_WEIGHT if term in names else 1.0
            for rowid, score in self._postings_of(term).items():
                scores[rowid] = scores.get(rowid, 0.0) + factor * score
                matched.setdefault(rowid, []).append(term)
        rows = {row.rowid: row for row in self.swap.pages(list(scores))}
        return {
            rowid: Hit(rows[rowid], scores[rowid], matched[rowid], 1,
                       sum(weights[term] for term in matched[rowid]) / whole)
            for rowid in scores
            if rowid in rows
        }

    def _second_hop(self, first: list[Hit], terms: list[str]) -> list[Hit]:
        """Pages naming whoever the best first-hop pages name: the question reached them only through those."""
        known = {hit.page.rowid for hit in first}
        ceiling = max(hit.score for hit in first)
        found: dict[int, Hit] = {}
        for origin in self._order(first)[: self.options.hop_pages]:
            names = [name for name in entities(origin.page.text) if name not in terms and self._postings_of(name)]
            if not names:
                continue
            hits = [hit for rowid, hit in self._score({n: self._idf(n) for n in names}, names).items()
                    if rowid not in known and hit.coverage >= self.options.coverage]
            top = max((hit.score for hit in hits), default=0.0) or 1.0
            for hit in hits:
                # A hop is weaker evidence than a direct match: scaled below the page that named them.
                hit.hop, hit.score = 2, 0.8 * min(origin.score, ceiling) * hit.score / top
                if hit.page.rowid not in found or found[hit.page.rowid].score < hit.score:
                    found[hit.page.rowid] = hit
        return list(found.values())

    def _add_context(self, hits: list[Hit], context: Sequence[str], terms: list[str]) -> None:
        extra = [term for term in query_terms(" ".join(context)) if term not in terms]
        for term in extra:
            postings = self._postings_of(term)
            for hit in hits:
                bonus = postings.get(hit.page.rowid)
                if bonus:
                    hit.score += self.options.context_weight * bonus
                    hit.terms.append(term)

    def _order(self, hits: list[Hit]) -> list[Hit]:
        """Best first: relevance, plus a recency bonus that decides between pages of about equal relevance."""
        if not hits:
            return []
        best = max(hit.score for hit in hits) or 1.0
        by_age = sorted({hit.page.created for hit in hits})
        span = max(len(by_age) - 1, 1)
        age_rank = {created: index / span for index, created in enumerate(by_age)}

        def key(hit: Hit) -> tuple[float, float]:
            return (hit.score / best + self.options.recency * age_rank[hit.page.created], hit.page.created)

        return sorted(hits, key=key, reverse=True)
