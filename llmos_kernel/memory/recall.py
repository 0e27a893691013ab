"""Which swapped pages a prompt needs: ranking for demand paging. Pure: reads the swap index, changes nothing.

The score of a page is BM25 summed over the query's words (FTS5 with porter stemming gives each word's BM25
per page; BM25 is additive over words, so weighting words differently stays exact). On top of that:

- Relevance gate (coverage): a page must carry at least half of the query's weight, where each word weighs its
  IDF, and a name that swap has never seen weighs the most. Names (capitalized words, identifiers like
  `zebra0qux`) weigh double. A question about someone memory never heard of then recalls nothing, instead of
  every page that shares a common word with it (abstention).
- Two hops: a question that names no one memory knows ("the owner of the red canoe") takes the names that its
  best pages mention and looks those up too, so the fact about the owner comes back with the fact naming them.
  A day, a month or a title names no one (questions.NOT_BRIDGES).
- Recency: among pages of about the same relevance the newer wins, so an update outranks the fact it replaced.
- Recent conversation: words of the last prompts add a small bonus (never pass the gate on their own).
- Meaning (embed.py): the question's embedding against each page's units (the page and its sentences; a page
  is as close as its closest sentence, so a fact in a chatty cell is not drowned by the rest of it). A page
  the words miss ("sibling" for "sister") passes on meaning alone when it is close enough, both absolutely
  (SEMANTIC_FLOOR: an unanswerable question recalls nothing) and relative to the best page (SEMANTIC_MARGIN).
  The two signals are fused by their normalized scores (lexical / best lexical, cosine above the cut / best),
  so a page both find ranks first; each hit says which signal found it (`signal`, shown by %context --json).
- Kinds of things (thesaurus.py): a noun the question uses and memory never saw ("my spouse", "which
  relatives") finds the pages swap filed under it by WordNet ("my partner", "my son", "Grandpa") when their
  meaning agrees, at a lower floor than meaning alone: the relation is evidence of its own.
- Look-alikes (thesaurus.py too): a page about a close kind of a person, animal, food, body part, illness,
  plant, substance or field the question asks about and the page does not name ("my sister" for "my brother",
  coffee for tea) goes before anything is measured against it: the right topic and a fact never told answers
  nothing. A yes/no question rules out look-alikes of its first noun only, and a thing it rules out has none.
  `%context --json` lists the pages left out (Ranker.left_out).
- Answer kinds (answers.py): a question asking for a clock time, a date, an amount, a name, ... recalls nothing
  when no page found gives one ("What time is the dentist?" and the page saying it is on Tuesday): the right
  topic and a fact never told, seen from the question's side. `unanswered` says which kind was wanted.
- Sets: a question about a set ("list all", "how many", "which animals", "which ... first") needs every
  member, and members are less alike the question than one fact is to a pointed one. Once the question has
  found something, pages down to SET_FLOOR near the best come along, and any of its rarest words passes the
  gate (SET_COVERAGE); the budget decides how many fit. Only a sentence asking memory makes a question about
  a set (asks_for_set): "how do I keep the original order" and "sort a list" ask for help with code.
- Time: a question asking for the first or earliest ("originally", "first") turns the recency bonus into
  an age bonus; "now", "currently", "latest" strengthen it. An anchor ("before Sofia", "after the move") is
  ranked on its own to find when it was first said; the rest of the question is then answered from the pages
  on that side of it, the nearest in time first, with the anchor's page.

Each step can be switched off (RecallOptions), which is how benchmarks/bench_paging.py measures what it adds.
How a question is read (its names, nouns, sets, yes/no, what it rules out) is questions.py's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .answers import asked_for, gives
from .questions import (
    EARLIEST,
    LATEST,
    NOT_BRIDGES,
    WORD,
    alternatives,
    asks_for_set,
    asks_yes_no,
    entities,
    head_nouns,
    inflected,
    nouns,
    ruled_out,
)
from .swap import PageRow, Swap, query_terms

ENTITY_WEIGHT = 2.0
# A word swap has never seen weighs this share of its (maximal) IDF, unless it is a name: questions use words
# that facts did not ("hobby" for "keeping bees"), but a name nobody mentioned means memory has nothing on it.
UNSEEN_WEIGHT = 0.5
# A word on more than this share of all pages tells nothing about which page is meant: it is left out of the
# query (and of the gate). Ranking it would cost more than everything else together (a long prompt's filler).
COMMON_SHARE = 0.2
COMMON_FLOOR = 50  # in a swap of fewer pages no word is common: a few pages cannot show it
ANCHORS = 3  # rarest words of a question without names, of which a page must carry half the weight
NAME_COVERAGE = 0.6  # of the weight of the names a question uses: two equally rare names both, or the rarer
SEMANTIC_FLOOR = 0.38  # cosine a page must reach on meaning alone (all-MiniLM-L6-v2; measured on the benchmark)
SEMANTIC_MARGIN = 0.08  # and no further than this below the best page, unless the question asks for all
SEMANTIC_TOP = 64  # pages looked at by meaning, at most
PENDING = 16  # pages without a vector that a recall embeds itself, at most (on the typing path: bounded)
FRESH = 8  # best lexical pages not embedded yet that a recall embeds itself (bounded: it is on the typing path)
# "Who was my manager before Sofia?": the part after the word is an anchor in time, not what is asked about.
_ANCHOR = re.compile(r"\b(?P<side>before|after|until|since|prior to)\s+(?P<anchor>[^?!.,;]{2,80})", re.IGNORECASE)
# "look after", "named after", "ask after": the word is part of a verb there, not a point in time.
_PHRASAL = re.compile(r"\b(look|looks|looked|looking|named|ask|asks|asked|take|takes|took|taking|run|runs|ran"
                      r"|chase|chased|come|came|go|goes|went|seek|sought|lust)\s+$", re.IGNORECASE)
# A page filed under one of the question's nouns by WordNet (thesaurus.py: "partner" for "spouse", "knee" for
# "joint") needs this much meaning: the relation is evidence of its own.
THESAURUS_FLOOR = 0.25
THESAURUS_SET_FLOOR = 0.05  # and a member of a set asked about, this much (measured: 0.06-0.26 for members)
ALTERNATIVE_SHARE = 0.05  # a word filed under the noun on more pages than this is filler ("order"), not a fact
SET_FLOOR = 0.2  # cosine a page needs to join a question about a set ("list all", "first"), near the best
SET_COVERAGE = 0.25  # of the gate words' weight, for a page to answer a question about a set
SET_MARGIN = 0.4  # and no further below the best page than this


@dataclass
class RecallOptions:
    coverage: float = 0.5  # share of the gate words' weight a page must match; 0 turns the gate off
    floor: float = 0.3  # and, for a question without names, of the whole query's weight
    two_hop: bool = True
    recency: float = 0.15  # bonus of the newest candidate over the oldest, in units of the best score
    context_weight: float = 0.0  # words of the recent conversation, relative to the prompt's own
    hop_pages: int = 2  # how many best pages lend their names to the second hop
    max_pages: int = 32  # candidates handed to the budget at most (the budget decides)
    semantic: bool = True  # meaning beside words (embed.py); off: lexical only, as before issue 22
    semantic_floor: float = SEMANTIC_FLOOR
    temporal: bool = True  # "first"/"originally" prefer older pages, "now"/"latest" newer ones
    thesaurus: bool = True  # pages filed by WordNet under a noun the question uses (thesaurus.py)
    answer_kinds: bool = True  # a question asking for a time, an amount, a name, ... needs a page giving one
    alternatives: bool = True  # "Priya's or Tom's?": each alternative is ranked on its own as well


@dataclass
class Hit:
    """A candidate page and why it matched."""

    page: PageRow
    score: float
    terms: list[str] = field(default_factory=list)
    hop: int = 1
    coverage: float = 0.0
    similarity: float | None = None  # cosine with the question, when meaning was looked at
    # What found it: lexical, semantic, both, thesaurus (filed under a noun of the question), or hop (by name).
    signal: str = "lexical"

    def to_json(self) -> dict[str, object]:
        return {"segment_id": self.page.segment_id, "page": self.page.index, "score": round(self.score, 3),
                "coverage": round(self.coverage, 3), "match": list(self.terms), "hop": self.hop,
                "signal": self.signal,
                "similarity": None if self.similarity is None else round(self.similarity, 3)}


def worded(hits: Sequence[Hit]) -> list[Hit]:
    """The hits the words found (alone or with meaning): only these name what a question named."""
    return [hit for hit in hits if hit.signal in ("lexical", "both")]


class Ranker:
    """Ranks the pages of one swap for one prompt; `rank()` returns the hits, best first."""

    def __init__(self, swap: Swap, options: RecallOptions | None = None) -> None:
        self.swap = swap
        self.options = options or RecallOptions()
        self._total = max(swap.page_total(), 1)
        self._postings: dict[str, dict[int, float]] = {}
        self._units: tuple[list[int], Any] | None = None  # (page rowid of each unit, its cosine with the prompt)
        self._frequencies: dict[str, int] = {}
        self._lookalikes: dict[int, bool] = {}  # page rowid -> about a look-alike of what is asked (one prompt)
        # Pages this ranking left out as look-alikes, with the noun asked and the page's word (for %context --json).
        self.left_out: dict[int, tuple[PageRow, str, str]] = {}
        # The kind of answer asked for that no page found gave ("a clock time"), and how many pages were found.
        self.unanswered: dict[str, object] | None = None

    def rank(self, prompt: str, context: Sequence[str] = (), resident: Sequence[str] = ()) -> list[Hit]:
        """The pages `prompt` needs, best first. `context`: recent prompts; `resident`: texts in the window
        (a first hop may be there already, and then only the second one is in swap)."""
        anchored = self._anchored(prompt, context, resident) if self.options.temporal else None
        hits = anchored if anchored is not None else self._rank(prompt, context, resident)
        if self.options.alternatives:
            hits = self._alternatives(prompt, hits, context, resident)
        return self._answering(prompt, hits)

    def _alternatives(self, prompt: str, hits: list[Hit], context: Sequence[str], resident: Sequence[str]) -> list[Hit]:
        """`hits` and, for a question offering alternatives ("Priya's or Tom's?", "higher than February's?"), the
        pages each alternative finds on its own, taken in turn with the whole question's: a page carries one of
        them, and against the whole question it matches half of what is asked (held-out F's comparisons: one of
        the two pages came back). Each alternative is ranked by a ranker of its own (a ranking's caches are for
        one prompt); what they left out as look-alikes is this ranking's too."""
        parts = alternatives(prompt)
        if not parts:
            return hits
        single = RecallOptions(**{**vars(self.options), "alternatives": False, "answer_kinds": False})
        rankings = [hits]
        for part in parts:
            ranker = Ranker(self.swap, single)
            rankings.append(ranker.rank(part, context, resident))
            self.left_out.update(ranker.left_out)
        merged: dict[int, Hit] = {}
        for position in range(max(len(ranking) for ranking in rankings)):
            for ranking in rankings:
                if position < len(ranking):
                    merged.setdefault(ranking[position].page.rowid, ranking[position])
        return list(merged.values())[: self.options.max_pages]

    def _answering(self, prompt: str, hits: list[Hit]) -> list[Hit]:
        """`hits`, or none when the question asks for a kind of answer (a clock time, an amount, a name: answers.py)
        that not one of them gives: the right topic and a fact never told ("What time is the dentist?" and the
        page saying it is on Tuesday) answers nothing. Recorded in `unanswered`."""
        kind = asked_for(prompt) if self.options.answer_kinds and hits else None
        if kind is None or any(gives(kind, hit.page.text, prompt) for hit in hits):
            return hits
        self.unanswered = {"wanted": kind, "pages": len(hits)}
        return []

    def _anchored(self, prompt: str, context: Sequence[str], resident: Sequence[str]) -> list[Hit] | None:
        """A question placed in time by an anchor ("before Sofia", "after the move"): what it asks about, among
        the pages said before (or after) the anchor was first mentioned, the nearest in time first, and the
        anchor's own page with them. None when the question has no anchor memory knows, or nothing on that side
        of it matches: then it is ranked as a whole."""
        match = _ANCHOR.search(prompt)
        if match is None or _PHRASAL.search(prompt[: match.start()]):
            return None
        topic = (prompt[: match.start()] + prompt[match.end() :]).strip()
        if len(query_terms(topic)) < 1:
            return None
        anchors = self._rank(match.group("anchor"), (), ())
        if not anchors:
            return None
        side = match.group("side").lower()
        before = side in ("before", "until", "prior to")
        # The anchor's time: when it was first said (the change that "before Sofia" refers to). Only pages that
        # name it count, not pages found through it (a second hop, or meaning alone): "before Scarva" also finds
        # the older supplier the switch names, and taking that page as the anchor hid the very page asked for.
        named = worded(anchors[:3]) or anchors[:1]
        anchor = min(named, key=lambda hit: hit.page.created)
        when = anchor.page.created
        unanchored = RecallOptions(**{**vars(self.options), "temporal": False})
        hits = [hit for hit in Ranker(self.swap, unanchored)._rank(topic, context, resident)
                if hit.page.rowid != anchor.page.rowid
                and (hit.page.created < when if before else hit.page.created > when)]
        if not hits:
            return None
        hits.sort(key=lambda hit: -hit.page.created if before else hit.page.created)  # nearest in time first
        return [*hits[: self.options.max_pages - 1], anchor]

    def _rank(self, prompt: str, context: Sequence[str], resident: Sequence[str]) -> list[Hit]:
        options = self.options
        terms = [term for term in query_terms(prompt) if not self._common(term)]
        names = [term for term in entities(prompt) if term in terms]
        known = [name for name in names if self._frequency(name)]
        if names and not known:
            return []  # about someone (or something) memory has never heard of: nothing to recall
        weights = {term: self._weight(term, term in names) for term in terms}
        is_set = asks_for_set(prompt, earliest=self.options.temporal)
        gate, share = self._gate(weights, known)
        if is_set and not known:
            # Members of a set share one of the question's words each, rarely all ("books" and "read": one fact
            # says "reading", another "a biography"): any of its rarest words lets a page in.
            share = min(share, SET_COVERAGE)
        passing = [hit for hit in self._score(weights, names, gate, share).values()
                   if self._passes(sum(weights[t] for t in hit.terms), sum(weights.values()), bool(known))]
        if options.semantic:
            passing = self._fuse(prompt, passing, known, is_set)
        if options.two_hop and not known:
            hops = self._second_hop(passing, weights, self._resident_names(resident, terms))
            for hit in hops:
                hit.signal = "hop"
            passing += hops
        if options.context_weight > 0:
            self._add_context(passing, context, terms)
        return self._order(passing, self._direction(prompt))[: options.max_pages]

    # -- meaning ---------------------------------------------------------------------------------------

    def _fuse(self, prompt: str, lexical: list[Hit], known: list[str], is_set: bool = False) -> list[Hit]:
        """The lexical hits and the pages close in meaning, one list, scored by both signals.

        A question naming someone memory knows stays about them: meaning then only reorders (and adds) pages
        that carry those names. Otherwise a page passes on meaning alone above the floor, near the best page.
        A question about a set ("list all the pets", "how many", "which did we get first") needs every member,
        and its members are less alike it than one fact is to a pointed question: once the question has found
        something (a page above the floor, or words that survived the gate), pages down to SET_FLOOR near the
        best come with it, and the budget decides how many fit."""
        similar = self._similar(prompt, lexical)
        if similar is None:
            return lexical  # no model: words alone, as before
        floor = self.options.semantic_floor
        wanted = self._wanted(prompt) if self.options.thesaurus else []
        asked = query_terms(prompt)
        if wanted:
            # Pages about a look-alike go before anything is measured against them: the best of the rest decides
            # whether a set follows and how near the best a page must be.
            rows = {hit.page.rowid: hit.page for hit in lexical}
            rows.update((row.rowid, row) for row in self.swap.pages([rowid for rowid in similar if rowid not in rows]))
            banned = {rowid for rowid, row in rows.items() if self._lookalike(wanted, asked, row)}
            lexical = [hit for hit in lexical if hit.page.rowid not in banned]
            similar = {rowid: sim for rowid, sim in similar.items() if rowid not in banned}
        if not known and any(not self._frequency(term) for term in asked if not self._common(term)):
            # A word memory has never seen says what the question is about ("film" in "my favourite film"):
            # pages sharing only its other words ("favourite tea") must be close in meaning to come back.
            lexical = [hit for hit in lexical if similar.get(hit.page.rowid, 0.0) >= floor]
        best_lexical = max((hit.score for hit in lexical), default=0.0) or 1.0
        if not similar:
            return lexical
        best_sim = max(similar.values())
        if is_set and (best_sim >= floor or lexical):
            cut = max(SET_FLOOR, best_sim - SET_MARGIN)
        else:
            cut = max(floor, best_sim - SEMANTIC_MARGIN)
        by_row = {hit.page.rowid: hit for hit in lexical}

        def closeness(sim: float) -> float:
            # Pages within the margin of the best are equally close: recency (an update) decides among them.
            return max(0.05, min(1.0, (sim - cut) / max(best_sim - SEMANTIC_MARGIN - cut, 1e-6)))

        for hit in lexical:
            hit.score /= best_lexical
            hit.similarity = similar.get(hit.page.rowid)
            if hit.similarity is not None and hit.similarity >= cut:
                hit.signal = "both"
                hit.score += closeness(hit.similarity)
        extra = [rowid for rowid, sim in similar.items() if sim >= cut and rowid not in by_row]
        for row in self.swap.pages(extra):
            if known and not any(re.search(rf"\b{re.escape(n)}\b", row.text, re.IGNORECASE) for n in known):
                continue
            sim = similar[row.rowid]
            by_row[row.rowid] = Hit(row, closeness(sim), [], 1, 0.0, sim, "semantic")
        if self.options.thesaurus and not known:
            # Members of a set asked about ("which of my relatives") are each little like the question: the
            # relation is the evidence. Not "the first" or "old" of something: that asks for one.
            floor = THESAURUS_SET_FLOOR if is_set and asks_for_set(prompt, earliest=False) else THESAURUS_FLOOR
            members = floor == THESAURUS_SET_FLOOR
            said = {rowid: words for rowid, words in self._thesaurus_pages(prompt, members).items()
                    if rowid not in by_row}
            for row, sim in self._closeness_of(list(said)):
                if sim >= floor and not (wanted and self._lookalike(wanted, asked, row)):
                    by_row[row.rowid] = Hit(row, max(0.5, closeness(sim)), said[row.rowid], 1, 0.0, sim, "thesaurus")
        return list(by_row.values())

    def _wanted(self, prompt: str) -> list[str]:
        """The things `prompt` asks about that may have look-alikes: its nouns naming people, animals, food,
        body parts, illnesses, plants, substances or fields of knowledge (thesaurus.CLOSE_KINDS), when the
        thesaurus is loaded. Every word placed as a noun, not only the heads: "my brother work" is a noun and
        its verb."""
        from . import thesaurus

        if thesaurus.loaded() is None:
            return []
        # "Which of our pets is not a cat?", "apart from the cat": the cat's look-alikes are what is asked for.
        negated = ruled_out(prompt)
        wanted = [noun for noun in nouns(prompt)
                  if " " not in noun and noun not in negated and thesaurus.closely_kinded(noun)]
        if asks_yes_no(prompt):
            # "Is my sister a doctor?": a page on her as a nurse answers it (no). Only what the question is about,
            # its first noun, rules a look-alike out ("Is my brother a nurse?" and the sister's page).
            return wanted[:1]
        return wanted

    def _thesaurus_pages(self, prompt: str, members: bool = False) -> dict[int, list[str]]:
        """Pages saying a word that is a kind (or a member) of one of the prompt's nouns, by WordNet (swap's
        concept index: thesaurus.py), with those words. Only nouns memory has never seen: one it has seen is the
        lexical path's; but `members` (a question about a set: "how many pets") wants every member, and a
        member is named by its kind whether or not the notebook once said "pets". A word on many pages tells
        nothing, and an inflection of the question's own word is the lexical path's business too."""
        from . import thesaurus

        words = query_terms(prompt)
        unseen = [noun for noun in nouns(prompt)
                  if members or not all(self._frequency(word) for word in noun.split())]
        if not unseen:
            return {}
        # Pages paged out a moment ago, not yet indexed by the background thread: a bounded number, here.
        self.swap.index_concepts(PENDING, export=False)
        # Two words WordNet does not know as one ("family members") stand for what each of them does.
        concepts = [concept for noun in unseen
                    for concept in thesaurus.concepts(noun) or (
                        tuple(c for word in noun.split() if " " in noun for c in thesaurus.concepts(word)))]
        if members:  # "which pets", "what animals": every thing of the kind they stand for (thesaurus.ROOTS)
            concepts += [concept for noun in unseen for concept in thesaurus.kind_root(noun)]
        pages = self.swap.conceptual(list(dict.fromkeys(concepts)))
        spread: dict[str, int] = {}
        for said in pages.values():
            for word in said:
                spread[word] = spread.get(word, 0) + 1
        limit = ALTERNATIVE_SHARE * self._total if self._total >= COMMON_FLOOR else math.inf
        kept = {word for word, count in spread.items() if count <= limit and not inflected(word, words)}
        return {rowid: [word for word in said if word in kept] for rowid, said in pages.items()
                if any(word in kept for word in said)}

    def _lookalike(self, wanted: Sequence[str], asked: Sequence[str], page: PageRow) -> bool:
        """Whether `page` is about a close kind of a thing the question asks about and does not name
        (thesaurus.lookalike): "my brother's job" and a page on the sister's, "my first teacher" and one on
        a nurse. The right topic and a fact never told: however close in meaning or in words, such a page
        answers nothing, and what comes with it (the rest of a set, a second hop) would be more of the same.
        Such a page is recorded in `left_out`, with the two words."""
        from . import thesaurus

        if page.rowid not in self._lookalikes:
            words = [word.lower() for word in WORD.findall(page.text)]
            said = [noun for noun in head_nouns(page.text) if not inflected(noun, asked)]
            pair = next(((noun, other) for noun in wanted if not inflected(noun, words)
                         for other in said if thesaurus.lookalike(noun, other)), None)
            self._lookalikes[page.rowid] = pair is not None
            if pair is not None:
                self.left_out[page.rowid] = (page, *pair)
        return self._lookalikes[page.rowid]

    def left_out_json(self) -> list[dict[str, object]]:
        """The pages this ranking left out as look-alikes: which, and the word asked about and the page's own."""
        return [{"segment_id": page.segment_id, "page": page.index, "cell": page.execution_count, "asked": asked,
                 "said": said} for page, asked, said in self.left_out.values()]

    def _closeness_of(self, rowids: list[int]) -> list[tuple[PageRow, float]]:
        """These pages, each with its cosine with the prompt (its closest unit), closest first, at most a few
        times max_pages; pages without a vector yet are left out."""
        if not rowids or self._units is None:
            return []
        ids, sims = self._units
        best: dict[int, float] = {}
        wanted = set(rowids)
        for index, rowid in enumerate(ids):
            if rowid in wanted:
                best[rowid] = max(best.get(rowid, -1.0), float(sims[index]))
        rows = self.swap.pages(sorted(best, key=best.__getitem__, reverse=True)[: 2 * self.options.max_pages])
        return [(row, best[row.rowid]) for row in rows]

    def _similar(self, prompt: str, lexical: list[Hit]) -> dict[int, float] | None:
        """Page rowid -> cosine with the prompt, for the closest pages (None when no model is installed).

        Pages the background thread has not reached yet (paged out just now) are embedded here when the
        words found them, so a fresh page is never ranked below an older one for lack of a vector."""
        from . import embed

        if not getattr(self.swap, "embedding", False) or not embed.available():
            return None
        model = embed.embedder()
        if model is None:
            return None
        # Pages the background thread has not reached yet (paged out a moment ago, or by an older version of
        # the kernel) are embedded here, a bounded number a prompt, newest first.
        self.swap.embed_pending(PENDING)
        query = model.embed([prompt])[0]
        ids, matrix = self.swap.vectors()
        found: dict[int, float] = {}
        if ids:
            sims = matrix @ query
            self._units = (ids, sims)
            # A page is as close as its closest unit (rows of one page repeat its rowid): best rows first.
            for row in sims.argsort()[::-1]:
                rowid = ids[row]
                if rowid not in found:
                    found[rowid] = float(sims[row])
                    if len(found) >= SEMANTIC_TOP:
                        break
        known = set(ids)
        fresh = [hit.page for hit in sorted(lexical, key=lambda h: -h.score) if hit.page.rowid not in known][:FRESH]
        if fresh:
            for page, vectors in zip(fresh, embed.embed_units(model, [page.text for page in fresh]), strict=True):
                found[page.rowid] = float((vectors @ query).max())
        return {rowid: sim for rowid, sim in found.items() if sim >= min(SET_FLOOR, self.options.semantic_floor)}

    def _direction(self, prompt: str) -> float:
        """+1: newer wins among equals (the default); -1: older wins ("first", "originally"); 2: "now"."""
        if not self.options.temporal:
            return 1.0
        if EARLIEST.search(prompt):
            return -1.0
        return 2.0 if LATEST.search(prompt) else 1.0

    def _gate(self, weights: dict[str, float], known: list[str]) -> tuple[dict[str, float], float]:
        """The words a page must carry, and what share of their weight.

        A question naming someone memory knows is about them: most of the weight of those names (a shared
        first name is not enough), however the rest is worded. Otherwise the query's rarest words that memory
        has seen (the red canoe of "what does the owner of the red canoe do?"), and the whole query's share
        as well: the words every question uses must not decide, and a page must still match the question.
        """
        if known:
            return {name: weights[name] for name in known}, NAME_COVERAGE
        seen = sorted((term for term in weights if self._frequency(term)), key=self._frequency)
        if not seen or self.options.coverage <= 0:
            return weights, self.options.coverage
        return {term: weights[term] for term in seen[:ANCHORS]}, self.options.coverage

    def _passes(self, covered: float, whole: float, named: bool) -> bool:
        return named or self.options.coverage <= 0 or covered >= self.options.floor * whole

    # -- scoring ---------------------------------------------------------------------------------------

    def _common(self, term: str) -> bool:
        return self._total >= COMMON_FLOOR and self._frequency(term) > COMMON_SHARE * self._total

    def _frequency(self, term: str) -> int:
        if term not in self._frequencies:
            postings = self._postings.get(term)
            self._frequencies[term] = len(postings) if postings is not None else self.swap.frequency(term)
        return self._frequencies[term]

    def _postings_of(self, term: str) -> dict[int, float]:
        if term not in self._postings:
            self._postings[term] = self.swap.postings(term)
        return self._postings[term]

    def _weight(self, term: str, name: bool) -> float:
        if name:
            return ENTITY_WEIGHT * self._idf(term)
        return self._idf(term) * (1.0 if self._frequency(term) else UNSEEN_WEIGHT)

    def _idf(self, term: str) -> float:
        frequency = self._frequency(term)
        return math.log(1 + (self._total - frequency + 0.5) / (frequency + 0.5))

    def _score(self, weights: dict[str, float], names: list[str], gate: dict[str, float],
               share: float) -> dict[int, Hit]:
        """Pages carrying at least `share` of the `gate` words' weight, best first (at most a few times
        max_pages: the recency order only reorders those). Only they are read from swap."""
        whole = sum(gate.values()) or 1.0
        scores: dict[int, float] = {}
        covered: dict[int, float] = {}
        matched: dict[int, list[str]] = {}
        for term in weights:
            factor = ENTITY_WEIGHT if term in names else 1.0
            for rowid, score in self._postings_of(term).items():
                scores[rowid] = scores.get(rowid, 0.0) + factor * score
                covered[rowid] = covered.get(rowid, 0.0) + gate.get(term, 0.0)
                matched.setdefault(rowid, []).append(term)
        floor = share * whole
        passing = sorted((rowid for rowid in scores if covered[rowid] >= floor), key=scores.__getitem__, reverse=True)
        rows = {row.rowid: row for row in self.swap.pages(passing[: 4 * self.options.max_pages])}
        return {rowid: Hit(row, scores[rowid], matched[rowid], 1, covered[rowid] / whole)
                for rowid, row in rows.items()}

    def _resident_names(self, texts: Sequence[str], terms: list[str]) -> list[str]:
        """Names in the window's paragraphs that carry two of the question's distinctive words (the first hop
        is resident, so swap does not know those words: at most twice)."""
        rare = {term for term in terms if self._frequency(term) <= 2}
        if len(rare) < 2:
            return []
        found: list[str] = []
        for text in texts:
            for paragraph in text.split("\n\n"):
                words = {word.lower() for word in WORD.findall(paragraph)}
                if len(rare & words) >= 2:
                    found += [name for name in entities(paragraph) if name not in terms]
        return found

    def _second_hop(self, first: list[Hit], query: dict[str, float], resident: list[str]) -> list[Hit]:
        """Pages naming whoever the best first-hop pages name: the question reached them only through those.
        They must carry those names; the question's own words rank them among themselves."""
        known = {hit.page.rowid for hit in first}
        ceiling = max((hit.score for hit in first), default=1.0)
        # The names that lead on come from pages the question's words found: a page found by meaning alone
        # (another person's favourite tea, for "the favourite tea of the owner of the telescope") names no bridge.
        origins_from = worded(first) or [hit for hit in first if hit.signal != "thesaurus"]
        origins = [(hit.score, entities(hit.page.text)) for hit in self._order(origins_from)[: self.options.hop_pages]]
        if resident:
            origins.append((ceiling, resident))
        found: dict[int, Hit] = {}
        for strength, mentioned in origins:
            names = [name for name in dict.fromkeys(mentioned)
                     if name not in query and name not in NOT_BRIDGES and self._frequency(name)
                     and not self._common(name)]
            if not names:
                continue
            gate = {name: self._idf(name) for name in names}
            hits = [hit for rowid, hit in self._score({**query, **gate}, names, gate, NAME_COVERAGE).items()
                    if rowid not in known]
            top = max((hit.score for hit in hits), default=0.0) or 1.0
            for hit in hits:
                # A hop is weaker evidence than a direct match: scaled below the page that named them.
                hit.hop, hit.score = 2, 0.8 * min(strength, ceiling) * hit.score / top
                if hit.page.rowid not in found or found[hit.page.rowid].score < hit.score:
                    found[hit.page.rowid] = hit
        return list(found.values())

    def _add_context(self, hits: list[Hit], context: Sequence[str], terms: list[str]) -> None:
        extra = [term for term in query_terms(" ".join(context))
                 if term not in terms and not self._common(term)]
        for term in extra:
            postings = self._postings_of(term)
            for hit in hits:
                bonus = postings.get(hit.page.rowid)
                if bonus:
                    hit.score += self.options.context_weight * bonus
                    hit.terms.append(term)

    def _order(self, hits: list[Hit], direction: float = 1.0) -> list[Hit]:
        """Best first: relevance, plus a recency bonus that decides between pages of about equal relevance
        (`direction` -1 makes it an age bonus: the first time something was said)."""
        if not hits:
            return []
        best = max(hit.score for hit in hits) or 1.0
        by_age = sorted({hit.page.created for hit in hits})
        span = max(len(by_age) - 1, 1)
        age_rank = {created: index / span for index, created in enumerate(by_age)}

        def key(hit: Hit) -> tuple[float, float]:
            age = age_rank[hit.page.created] if direction > 0 else 1.0 - age_rank[hit.page.created]
            return (hit.score / best + abs(direction) * self.options.recency * age, direction * hit.page.created)

        return sorted(hits, key=key, reverse=True)
