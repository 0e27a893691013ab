"""Demand paging on a long-memory benchmark: is what a question needs in the request when it is asked?

A LongMemEval-style session of our own design (seeded, generated here): 40 people, each with facts told once in
a cell among filler paragraphs, then 24 questions of each of five kinds:

- direct: the question words the fact's attribute as the fact did ("What is Ada Quill's favourite tea?");
- paraphrase: it names the person but words the attribute otherwise ("What does Ada Quill do for a living?"
  for "Ada Quill works as a glassblower");
- update: the fact was told, then changed much later; the newer value must reach the request;
- two-hop: the question names the person only through another fact ("the owner of the brass telescope"):
  both facts must reach the request;
- abstention: about people never mentioned; a hit is a prompt that recalled nothing.

Issue 22 adds first-person notebook facts and four kinds whose questions name no one (so the name gate cannot
help): no-overlap (the question shares no word stem with its fact: checked mechanically with FTS5's own porter
stemmer when the session is built), aggregation (a question asking for all of something: every one of its facts
must reach the request), temporal (an older and a newer fact; "original"/"first" needs the older, "now" the
newer) and abstention-open (nothing in memory answers it; a hit is a prompt that recalled nothing). The
"rank ms" column is the median time to rank swap for one question in the kernel, embedding it included.

The development session also `%load`s a document before its first cell (the "document" kind): a generated
owner's manual of 36 sections (an irrigation controller: nothing in it is about the people or the notebook
facts), each with one fact sentence among instructions, about 2.6 times the 10% window and larger than the
25% one, so the kernel pages it behind a pinned stub at every window (documents.py) and each question recalls
its pages. Twelve questions ask about it, half worded with the section's words, half paraphrased (no shared
word stem with the fact, checked as for no-overlap); a hit is the fact sentence in the request. The manual has
its own seed and its questions are inserted at seeded places, so the cells, the other questions and their
order are as before, and the windows stay shares of the cells' tokens. `trim_messages` gets it as the first
user message (the oldest, so the first trimmed); LRU gets what the kernel does with `%recall --auto off`,
which still recalls a paged document's pages (the stub stands for them).

A real llmos kernel runs the session against the loopback OpenAI-compatible server (an echo model, so the
figures do not depend on any model); a hit means the needed fact sentences are in the request the server
received. Three systems are run the same way, at windows of 5%, 10% and 25% of the session's tokens:

- llmos with demand paging (auto-recall, the default);
- llmos with LRU paging and no recall (`%recall --auto off`);
- full-history truncation: litellm's `trim_messages` over the whole conversation to the same usable window,
  sent to the same server.

At 10% the recall steps are also switched off one at a time (ablations), to show what each adds. The script
also checks that every fact stays findable in the kernel (resident, or found by a swap search) after the run.

    python benchmarks/bench_paging.py            # everything (a few minutes on 2 cores)
    python benchmarks/bench_paging.py --quick    # 10% only, no ablations
    python benchmarks/bench_paging.py --sets c --quick --restarts   # held-out C, a kernel restart each day

The held-out sessions (heldout_paging.py: A, B and C; heldout_d.py: D, with its own chatter and a `%load`ed
handbook, kept from whoever tunes the ranker: do not read it) are told over several days; `--restarts` restarts
the kernel at each day boundary and before the questions, as a user's notebook would be restarted overnight: the
kernel is started for a notebook path ($JPY_SESSION_NAME), so each restart (a new process, checked by its pid)
reopens the same stored session, and only the session store carries memory across days.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import Kernel, jupyter_env, log, wait_for_iopub, work_dir

from llmos_kernel.memory.tokenizers import EstimateTokenizer, count_messages
from tests.support.openai_server import OpenAIServer, estimate_prompt_tokens

KINDS = ("direct", "paraphrase", "update", "two-hop", "abstention", "no-overlap", "aggregation", "temporal",
         "abstention-open", "document")
QUESTIONS_PER_KIND = 24
WINDOWS = (0.05, 0.10, 0.25)
RESERVED = 256  # %reserve: tokens held back for the answer (the echo answers are short)
SYSTEM = "You are a helpful assistant inside a Jupyter notebook. Answer concisely in Markdown."

def _words(text: str, sep: str | None = None) -> list[str]:
    return [word.strip() for word in text.split(sep)]


FIRST = _words("Ada Bram Cleo Dario Edda Felix Greta Hugo Iris Jonas Kira Lars Mira Nils Olga Pavel Rosa Sven Tilda"
               " Ugo Vera Wim Xenia Yuri")
LAST = _words("Quill Marsh Okafor Lindqvist Brandt Castell Duarte Ferro Galloway Hollis")
# Abstention: 24 people never mentioned (no first or last name shared with anyone in the session or each other).
ABSENT_FIRST = _words("Priya Tomasz Hiroshi Amara Bodil Chidi Esme Faisal Ingrid Kofi Leilani Mateo Noor Oluwa"
                      " Paulo Quinn Ravi Saoirse Tariq Uma Valentin Wanjiru Yusuf Zofia")
ABSENT_LAST = _words("Raman Wojcik Sato Nwosu Petersen Achebe Laurent Haddad Kowalczyk Mensah Tanaka Ibarra Novak"
                     " Osei Pereira Quispe Rahman Silva Takahashi Udeh Varga Walsh Yilmaz Zapata")
DIRECT = [("favourite tea", "{p}'s favourite tea is {v}.", "What is {p}'s favourite tea?",
           "smoky lapsang|jasmine pearls|rooibos|sencha|earl grey|chamomile|masala chai|oolong"),
          ("locker number", "{p}'s locker number is {v}.", "What is {p}'s locker number?",
           "{n}"),
          ("dog's name", "{p}'s dog is named {v}.", "What is the name of {p}'s dog?",
           "Biscuit|Pepper|Juniper|Otto|Mochi|Rusty|Clover|Bramble")]
PARAPHRASE = [("{p} works as a {v}.", "What does {p} do for a living?",
               "glassblower|harbour pilot|luthier|bee keeper|tram driver|cartographer|stone mason|radio host"),
              ("{p} was born in {v}.", "Which town is {p} originally from?",
               "Tromso|Ghent|Matera|Bergamo|Lublin|Aarhus|Cadiz|Brno"),
              ("{p} is allergic to {v}.", "Which food makes {p} ill?",
               "peanuts|shellfish|kiwi fruit|sesame|celery|mustard seed|lupin flour|buckwheat")]
UPDATES = [("{p} lives in {v}.", "{p} has moved house and now lives in {v}.", "Where does {p} live?",
            "Lisbon|Porto|Oslo|Bergen|Riga|Tallinn|Ljubljana|Zagreb|Vilnius|Krakow|Gdansk|Turku"),
           ("{p}'s team lead is {v}.", "{p} changed teams; {p}'s team lead is now {v}.", "Who is {p}'s team lead?",
            "Marta Stone|Ivan Hale|Nora Vance|Oskar Reed|Petra Lowe|Quentin Rhys|Selma Ortiz|Tobias Wren")]
OBJECTS = _words("brass telescope|green tandem bicycle|red canoe|oak rocking chair|silver harmonica|blue glider|"
                 "walnut chess set|copper kettle|striped hammock|vintage typewriter|clay pizza oven|grey sailboat|"
                 "cedar sauna|yellow scooter|paper kite|iron anvil|velvet armchair|tin drum|lacquered piano|"
                 "bamboo fishing rod|pewter tankard|marble statue|woolen tent|jade teapot", "|")
# Filler: ordinary logistics chatter, varied enough that no two paragraphs read alike.
FILLER_WORDS = {
    "adj": _words("quiet busy narrow wide damp dusty bright early late steady loud calm muddy cold warm heavy light"
                  " empty crowded patched rusty freshly-painted overloaded delayed"),
    "noun": _words("crate pallet barge lorry forklift ledger shipment gate ramp conveyor trolley depot container"
                   " manifest invoice tarpaulin crane winch hatch bollard rope coil drum sack"),
    "verb": _words("waited rolled stalled arrived departed rattled hummed drifted slowed cleared leaked tipped"
                   " jammed reversed idled swayed creaked queued"),
    "place": _words("north dock|loading bay|rail yard|canal lock|customs shed|outer quay|cold store|east gate|"
                    "fuel jetty|weighbridge|container stack|harbour office|dry dock|grain silo", "|"),
    "time": _words("before dawn|after lunch|at dusk|on the night shift|during the rain|near noon|at first light|"
                   "after the tide turned|during the inspection|before the whistle", "|"),
}


# Issue 22: first-person notebook facts, as a person keeps them. Questions of these kinds name no one, so the
# name gate cannot help; build_session() checks mechanically (FTS5's own porter stemmer) that a no-overlap
# question shares no word stem with its fact.
NO_OVERLAP = [
    ("My sister Maria works as a nurse at the children's hospital.", "Do any of my siblings have a job in medicine?"),
    ("We adopted a tabby kitten and two hamsters last spring.", "What animals share our home?"),
    ("Our daughter Lucia plays the cello in the youth orchestra.", "Which instrument does my child practise?"),
    ("I am allergic to peanuts and shellfish.", "Which foods make me ill?"),
    ("My commute is forty minutes by tram each way.", "How long does getting to the office take me?"),
    ("The wedding anniversary dinner is booked at Casa Verde on the ninth.", "Where are we celebrating being married?"),
    ("I ran the Berlin marathon in three hours and fifty minutes.", "What was my finishing time in that race?"),
    ("My landlord raised the rent by eighty euros a month.", "How much extra must I pay for the flat?"),
    ("Grandpa Tomas turns ninety in October.", "How old will my grandfather be this autumn?"),
    ("I drive a second-hand green Skoda Octavia estate.", "What car do I own?"),
    ("Our boiler was replaced by a plumber from Ghent in May.", "Who fixed the heating?"),
    ("I am learning Portuguese with an evening class on Tuesdays.", "Which language am I studying?"),
]
AGGREGATION = [
    (["We adopted a tabby kitten named Miso.", "My son brought home a hamster called Pip.",
      "A retired racing greyhound named Bolt joined the family in June."], "List all the pets we have."),
    (["In March I visited Lisbon for a conference.", "We spent August camping in the Dolomites.",
      "I flew to Montreal in November for my cousin's wedding."], "Which places did I travel to this year? List all."),
    (["I finished reading Middlemarch on the train.", "On holiday I read The Left Hand of Darkness.",
      "Last week I read a biography of Ada Lovelace."], "Which books have I read? List every one."),
    (["I sprained my ankle playing five-a-side football.", "I cut my thumb badly while slicing bread.",
      "I bruised a rib falling off my bike on the ice."], "What injuries have I had? List them all."),
]
TEMPORAL = [  # (older fact, newer fact, question, which one is needed)
    ("I started at the bakery as a dishwasher.", "At the bakery I was promoted to head baker.",
     "What was my original role at the bakery?", 0),
    ("My phone number was 0612 4455.", "I changed my phone number to 0699 1212.", "What is my phone number now?", 1),
    ("The team meeting was on Mondays.", "The team meeting moved to Thursdays.", "When is the team meeting now?", 1),
    ("My first car was a red Fiat Panda.", "These days my car is an electric Renault Zoe.",
     "What was my first car?", 0),
]
ABSTAIN_OPEN = ["What is my favourite film?", "Which football team do I support?", "What is my blood type?",
                "Where did I go to university?", "What colour is my front door?", "What is my shoe size?",
                "Which newspaper do I read?", "What is my favourite board game?", "What is my star sign?",
                "Which mountain did I climb?"]


# Issue 22: a `%load`ed document larger than the window (a product manual of our own, generated with its own seed
# so the cells and questions above are drawn exactly as before). Each section states one fact; twelve sections
# carry a question worded with the section's own words and one paraphrased, and the session asks one of the two.
MANUAL_NAME = "fernhill-gx40-manual.txt"
MANUAL_SECTIONS: list[tuple[str, str, str, tuple[str, str] | None]] = [  # title, fact, values, (direct, para.)
    ("Unpacking", "The GX-40 box contains {v} drip stakes.", "{n:24-60}", None),
    ("Mounting", "Mount the controller at least {v} centimetres above the ground.", "{n:30-90}", None),
    ("Power supply", "The mains adapter delivers {v} volts to the controller.", "9|12|18|24", None),
    ("Backup battery", "The backup battery is a {v} cell.", "CR2032|CR2450|AA lithium|9-volt", None),
    ("Zones", "The GX-40 can water up to {v} separate zones.", "{n:6-16}", None),
    ("Default schedule", "Out of the box, every zone waters at {v} each morning.", "05:30|05:45|06:15|06:40", None),
    ("Rain sensor", "The rain sensor pauses watering for {v} hours after a storm.", "{n:12-72}",
     ("For how many hours does the rain sensor pause watering after a storm?",
      "How long does the irrigation stay off once it has poured down?")),
    ("Soil probe calibration", "To calibrate a soil probe, hold the Set button for {v} seconds while the probe"
     " sits in a glass of water.", "{n:5-15}", None),
    ("Frost guard", "Frost guard blocks every valve when the air falls below {v} degrees Celsius.", "2|3|4|5",
     ("Below how many degrees Celsius does frost guard block every valve?",
      "At what temperature does the device stop irrigating so that nothing freezes?")),
    ("Keypad", "The factory PIN of the keypad is {v}.", "{n:1000-9999}",
     ("What is the factory PIN of the keypad?", "Which code unlocks the buttons on a brand-new unit?")),
    ("Zone valves", "Each zone valve is a {v} solenoid.", "24-volt AC|latching DC|9-volt pulse", None),
    ("Flow meter", "The flow meter raises an alarm above {v} litres per minute.", "{n:18-45}",
     ("Above how many litres per minute does the flow meter raise an alarm?",
      "What water throughput sets off the leak warning?")),
    ("Display", "The display dims after {v} seconds without a key press.", "{n:20-90}", None),
    ("Companion app", "The pairing code for the companion app is {v}.", "FERN-{n:100-999}",
     ("What is the pairing code for the companion app?", "Which code links my smartphone to the device?")),
    ("Firmware", "Firmware updates are downloaded every {v} night.", "Monday|Tuesday|Wednesday|Thursday|Friday",
     None),
    ("Fertiliser injector", "The fertiliser injector mixes {v} millilitres of concentrate into each litre.",
     "{n:2-9}", ("How many millilitres of concentrate does the fertiliser injector mix into each litre?",
                 "What dose of plant food gets added to the water?")),
    ("Inlet filter", "Rinse the inlet filter every {v} weeks.", "{n:2-8}",
     ("How often should the inlet filter be rinsed?", "How frequently do I need to clean the intake strainer?")),
    ("Winter storage", "Before winter, drain the manifold through the {v} drain cock.", "red|yellow|blue|orange",
     None),
    ("Error codes", "Error code E{v} means that a valve coil is open.", "{n:10-99}",
     ("Which error code means that a valve coil is open?",
      "What fault number shows when a valve's wiring is broken?")),
    ("Factory reset", "A factory reset needs the Zone and Back keys held together for {v} seconds.", "{n:8-20}",
     ("For how many seconds must the Zone and Back keys be held for a factory reset?",
      "How long do I press the two buttons to wipe all settings?")),
    ("Warranty", "The warranty covers the controller for {v} years from purchase.", "2|3|5|7",
     ("For how many years does the warranty cover the controller?", "How long is the guarantee on this unit?")),
    ("Regional support", "The support engineer for the northern region is {v}.",
     "Halvard Pike|Ines Moreau|Kasper Dahl|Lotte Brink", None),
    ("Manifold", "The manifold is rated for a maximum inlet pressure of {v} bar.", "6|8|10|12",
     ("What maximum inlet pressure is the manifold rated for?",
      "How much water force can the valve block take at most?")),
    ("Pump relay", "The pump relay switches on {v} seconds before the first valve opens.", "{n:3-15}", None),
    ("Supply hose", "The main supply hose has an inner diameter of {v} millimetres.", "13|16|19|25", None),
    ("Cleaning", "Wipe the enclosure with a cloth dampened in {v}.",
     "diluted vinegar|soapy water|isopropyl alcohol", None),
    ("Sensor cables", "A sensor cable may be at most {v} metres long.", "{n:20-80}", None),
    ("Log export", "Watering logs are exported as {v} files to the USB port.", "CSV|JSON|XML", None),
    ("Manual run", "A manual run waters the chosen zone for {v} minutes unless stopped.", "{n:5-30}", None),
    ("Seasonal adjust", "Seasonal adjust scales all run times between {v} percent and 200 percent.", "10|20|30",
     None),
    ("Child lock", "The child lock engages after {v} minutes of idle time.", "{n:2-10}", None),
    ("Low battery", "The alarm buzzer sounds {v} short beeps for a low battery.", "2|3|4|5", None),
    ("Mister mode", "In mister mode a zone sprays for {v} seconds every ten minutes.", "{n:10-40}", None),
    ("Auxiliary relay", "The auxiliary relay can drive grow lights of up to {v} watts.", "{n:200-600}", None),
    ("Installation", "Installation must be signed off by a certified installer from {v}.",
     "Brookfield Systems|Verdant Fitters|Aldergrove Technical|Sundew Services",
     ("Which company's certified installer must sign off the installation?",
      "Who has to approve the fitting work before use?")),
    ("Serial plate", "The serial number plate is on the {v} of the enclosure.", "underside|left side|back panel",
     None),
]
# The manual's running text around each fact: plain instructions with none of the facts' key words.
MANUAL_FILLER = (
    "Check that the {part} is {state} before you {action}.",
    "If the {part} looks {defect}, {action} and try again {when}.",
    "The {part} is shipped {state}; you only need to {action} {when}.",
    "Installers usually {action} {when}, which keeps the {part} {state}.",
    "Do not force the {part}: if it feels {defect}, contact your dealer.",
    "A {defect} {part} is the most common reason to {action}.",
)
MANUAL_WORDS = {
    "part": _words("gasket|terminal block|cable gland|mounting bracket|hinge|front cover|label|screw cap|ribbon"
                   " connector|wall plug|spirit level|knock-out|grommet|clip|housing seal|cover latch", "|"),
    "state": _words("clean|dry|seated firmly|level|free of dust|tightened by hand|aligned|closed|upright", "|"),
    "action": _words("tighten the screws|wipe the surface|reseat the cover|check the wiring diagram|"
                     "refit the seal|mark the drill holes|tidy the cables|read the quick-start card", "|"),
    "defect": _words("cracked|loose|bent|discoloured|worn|stiff|warped|scratched", "|"),
    "when": _words("after fitting|once a season|at the next visit|before the first use|after a move|"
                   "when the cover is off", "|"),
}
MANUAL_SENTENCES = 14  # filler sentences a section: about 2.5 times the 10% window, more than the 25% one


def manual_value(rng: random.Random, values: str) -> str:
    """One value of a section's fact: a choice from 'a|b|c', or a number where '{n:LOW-HIGH}' stands."""
    found = re.search(r"\{n:(\d+)-(\d+)\}", values)
    if found:
        number = str(rng.randint(int(found.group(1)), int(found.group(2))))
        return values[: found.start()] + number + values[found.end() :]
    return rng.choice(values.split("|"))


def build_manual(seed: int) -> tuple[str, list[str], list[Question]]:
    """The manual's text, each section's fact sentence, and its questions: half worded with the section's words
    (direct), half paraphrased, one per asked section."""
    rng = random.Random(seed)
    asked = [index for index, section in enumerate(MANUAL_SECTIONS) if section[3]]
    paraphrased = set(rng.sample(asked, len(asked) // 2))
    sections: list[str] = []
    facts: list[str] = []
    questions: list[Question] = []
    for index, (title, fact, values, asks) in enumerate(MANUAL_SECTIONS):
        sentence = fact.format(v=manual_value(rng, values))
        facts.append(sentence)
        body = [rng.choice(MANUAL_FILLER).format(**{key: rng.choice(words) for key, words in MANUAL_WORDS.items()})
                for _ in range(MANUAL_SENTENCES)]
        body.insert(rng.randint(1, len(body)), sentence)
        sections.append(f"Section {index + 1}. {title}\n" + " ".join(body))
        if asks:
            wording = "paraphrase" if index in paraphrased else "direct"
            questions.append(Question("document", asks[index in paraphrased], [sentence], wording))
    text = "Fernhill GX-40 greenhouse irrigation controller: owner's manual\n\n" + "\n\n".join(sections) + "\n"
    return text, facts, questions


def stems(text: str) -> set[str]:
    """The porter stems FTS5 (the swap's own tokenizer) indexes for `text`, stop-words left out."""
    import sqlite3

    from llmos_kernel.memory.swap import query_terms

    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(x, tokenize = 'porter unicode61 remove_diacritics 2')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'row')")
    db.execute("INSERT INTO f VALUES (?)", (" ".join(query_terms(text)),))
    return {row[0] for row in db.execute("SELECT term FROM v")}


@dataclass
class Question:
    kind: str
    text: str
    needed: list[str]  # fact sentences that must all be in the request
    wording: str = ""  # document questions: "direct" (the section's words) or "paraphrase"


@dataclass
class Session:
    cells: list[str]
    facts: list[str]
    questions: list[Question]
    tokens: int = 0
    name: str = "development"
    kinds: tuple[str, ...] = KINDS
    # The index of the first cell of each day after the first (held-out sessions): where `--restarts` restarts.
    day_starts: tuple[int, ...] = ()
    # A file `%load`ed before the first cell (written to the kernel's working directory), and its size in tokens.
    document: str = ""
    document_name: str = MANUAL_NAME
    document_tokens: int = 0


@dataclass
class Run:
    system: str
    window_share: float
    window: int
    usable: int
    hits: dict[str, list[bool]] = field(default_factory=dict)
    request_tokens: list[int] = field(default_factory=list)
    recalled_tokens: list[int] = field(default_factory=list)
    findable: str = "-"
    pids: list[int] = field(default_factory=list)  # the kernel's process id, one per start (restarts: several)
    plan_ms: float | None = None  # median time to rank swap for one question (the recall's planning cost)
    thrashing: int | None = None
    seconds: float = 0.0
    lookalikes: dict[str, list[int]] = field(default_factory=dict)  # pages left out as look-alikes, per question
    # Per question: 1 when the pages found gave none of the kind of answer asked (answers.py), so none came back.
    unanswered: dict[str, list[int]] = field(default_factory=dict)

    def rate(self, kind: str) -> float:
        values = self.hits.get(kind, [])
        return 100.0 * sum(values) / len(values) if values else float("nan")


# -- the session ----------------------------------------------------------------------------------------------


def filler(rng: random.Random, sentences: int) -> str:
    words = FILLER_WORDS
    parts = []
    for _ in range(sentences):
        parts.append(f"The {rng.choice(words['adj'])} {rng.choice(words['noun'])} {rng.choice(words['verb'])}"
                     f" by the {rng.choice(words['place']).strip()} {rng.choice(words['time']).strip()}.")
    return " ".join(parts)


def build_session(seed: int = 14) -> Session:
    rng = random.Random(seed)
    people = [f"{first} {last}" for first in FIRST for last in LAST]
    rng.shuffle(people)
    people = people[:40]
    early: list[str] = []  # facts that must come before the ones that follow from them
    late: list[str] = []
    questions: list[Question] = []
    for index, person in enumerate(people):
        _, fact, ask, values = DIRECT[index % len(DIRECT)]
        value = str(rng.randint(100, 999)) if values == "{n}" else rng.choice(values.split("|"))
        direct = fact.format(p=person, v=value)
        fact, ask_p, values = PARAPHRASE[index % len(PARAPHRASE)]
        paraphrase = fact.format(p=person, v=rng.choice(values.split("|")))
        early += [direct, paraphrase]
        if index < QUESTIONS_PER_KIND:
            questions.append(Question("direct", ask.format(p=person), [direct]))
            questions.append(Question("paraphrase", ask_p.format(p=person), [paraphrase]))
        if index < QUESTIONS_PER_KIND:  # an update: the old value early, the new one late
            old, new, ask_u, values = UPDATES[index % len(UPDATES)]
            before, after = rng.sample(values.split("|"), 2)
            early.append(old.format(p=person, v=before))
            newer = new.format(p=person, v=after)
            late.append(newer)
            questions.append(Question("update", ask_u.format(p=person), [newer]))
        if QUESTIONS_PER_KIND // 2 <= index < QUESTIONS_PER_KIND // 2 + QUESTIONS_PER_KIND:  # two hops
            thing = OBJECTS[index - QUESTIONS_PER_KIND // 2]
            owner = f"The {thing} belongs to {person}."
            late.append(owner)
            second = paraphrase if index % 2 else direct
            ask_two = ("What does the owner of the {t} do for a living?" if index % 3 == 0 else
                       "Which town is the owner of the {t} originally from?" if index % 3 == 1 else
                       "Which food makes the owner of the {t} ill?")
            if index % 2 == 0:  # the second fact is the direct one
                ask_two = {0: "What is the favourite tea of the owner of the {t}?",
                           1: "What is the locker number of the owner of the {t}?",
                           2: "What is the name of the dog of the owner of the {t}?"}[index % len(DIRECT)]
            questions.append(Question("two-hop", ask_two.format(t=thing), [owner, second]))
    for index in range(QUESTIONS_PER_KIND):
        name = f"{ABSENT_FIRST[index]} {ABSENT_LAST[index]}"
        template = (DIRECT[index % len(DIRECT)][2], PARAPHRASE[index % len(PARAPHRASE)][1],
                    UPDATES[index % len(UPDATES)][2])[index % 3]
        questions.append(Question("abstention", template.format(p=name), []))
    for fact, ask in NO_OVERLAP:
        shared = stems(fact) & stems(ask)
        assert not shared, f"no-overlap question shares {shared} with its fact: {ask!r}"
        early.append(fact)
        questions.append(Question("no-overlap", ask, [fact]))
    for group, ask in AGGREGATION:
        early += group
        questions.append(Question("aggregation", ask, list(group)))
    for older, newer, ask, needed in TEMPORAL:
        early.append(older)
        late.append(newer)
        questions.append(Question("temporal", ask, [(older, newer)[needed]]))
    questions += [Question("abstention-open", ask, []) for ask in ABSTAIN_OPEN]
    rng.shuffle(early)
    rng.shuffle(late)
    facts = early + late
    cells = [f"Note {n + 1}: {fact}\n\n{filler(rng, 6)}\n\n{filler(rng, 6)}" for n, fact in enumerate(facts)]
    rng.shuffle(questions)
    # The manual has a seed of its own and its questions go in at seeded places, so the cells, the other
    # questions and their order are drawn exactly as before it was added; the windows stay shares of the
    # cells' tokens, so a 10% window is the same size with or without it.
    document, manual_facts, manual_questions = build_manual(seed + 1)
    placing = random.Random(seed + 2)
    for question in manual_questions:
        shared = stems(question.text) & stems(question.needed[0])
        assert question.wording == "direct" or not shared, f"a paraphrase shares {shared} with its fact"
        questions.insert(placing.randint(0, len(questions)), question)
    session = Session(cells, facts + manual_facts, questions, document=document)
    estimate = EstimateTokenizer("bench")
    session.tokens = sum(count_messages(estimate, [{"content": cell}, {"content": echo(cell)}]) for cell in cells)
    session.document_tokens = count_messages(estimate, [{"content": document}])
    return session


# Chatter for the held-out sessions: a day's requests about code and data, with nothing personal in them.
CHAT_TASKS = _words("read a CSV file|merge two data frames|drop rows with missing values|plot a histogram|"
                    "parse a date column|rename several columns|write a unit test|profile a slow loop|"
                    "vectorise a for loop|serialise a dataclass to JSON|open a gzip file|sort a list of tuples|"
                    "format a float with two decimals|split a string on commas|deduplicate a list in order|"
                    "make a progress bar|read an Excel sheet|compute a rolling mean|bin values into buckets|"
                    "log to a file and the console|retry a request|glob files recursively|zip two lists", "|")
CHAT_LIBS = _words("pandas|numpy|the standard library|matplotlib|pytest|polars|itertools|pathlib", "|")
CHAT_OPENERS = _words("Next question:|Another one:|Quick one:|Sorry, one more:|OK, now|Moving on,|Also,", "|")
CHATTER_PER_DAY = 60


def chatter(rng: random.Random) -> str:
    task, lib = rng.choice(CHAT_TASKS), rng.choice(CHAT_LIBS)
    return (f"{rng.choice(CHAT_OPENERS)} how do I {task} with {lib}? The input has a few thousand rows and I"
            f" want to keep the original order. {rng.choice(CHAT_OPENERS)} also show how to check the result.")


HELDOUT_SETS = ("a", "b", "c", "d")


def build_heldout(which: str, seed: int = 7) -> Session:
    """A held-out session (heldout_paging.py; D in heldout_d.py, kept from the ranker's tuning): its fact cells
    day by day, each day's among chatter cells. D brings its own chatter and a document `%load`ed first."""
    import heldout_d
    import heldout_paging as held

    source, asked = {"a": (held.CELLS, held.QUESTIONS), "b": (held.CELLS_B, held.QUESTIONS_B),
                     "c": (held.CELLS_C, held.QUESTIONS_C), "d": (heldout_d.CELLS, heldout_d.QUESTIONS)}[which]
    talk = heldout_d.chatter if which == "d" else chatter
    rng = random.Random(seed)
    cells: list[str] = []
    day_starts: list[int] = []
    for day in sorted({day for day, _ in source}):
        if cells:
            day_starts.append(len(cells))
        day_cells = [talk(rng) for _ in range(CHATTER_PER_DAY)]
        facts = [text for when, text in source if when == day]
        spots = sorted(rng.sample(range(len(day_cells) + len(facts)), len(facts)))
        for spot, fact in zip(spots, facts, strict=True):  # in their own order: an update after its fact
            day_cells.insert(spot, fact)
        cells += day_cells
    for kind, ask, needed in asked:
        for fact in needed:
            assert any(fact in cell for cell in cells), fact
        if kind == "no-overlap":
            shared = {stem for fact in needed for stem in stems(fact) & stems(ask)}
            assert not shared, f"no-overlap question shares {shared} with its fact: {ask!r}"
        if kind == "multi-session":  # its facts were told on at least two different days
            days = {day for fact in needed for day, text in source if fact in text}
            assert len(days) > 1, f"a multi-session question's facts are all from day {days}: {ask!r}"
    questions = [Question(kind, ask, list(needed)) for kind, ask, needed in asked]
    kinds = tuple(dict.fromkeys(kind for kind, _, _ in asked))
    facts = list(dict.fromkeys(fact for _, _, needed in asked for fact in needed))
    if which == "d":  # the handbook's questions, split by wording as the development set's document kind is
        heldout_d.check(cells, stems)
        questions += [Question("document", ask, [fact], wording)
                      for wording, ask, fact in heldout_d.DOCUMENT_QUESTIONS]
        kinds += ("document",)
        facts += list(dict.fromkeys(fact for _, _, fact in heldout_d.DOCUMENT_QUESTIONS))
    rng.shuffle(questions)
    session = Session(cells, facts, questions, name=f"held-out {which.upper()}", kinds=kinds,
                      day_starts=tuple(day_starts))
    estimate = EstimateTokenizer("bench")
    session.tokens = sum(count_messages(estimate, [{"content": cell}, {"content": echo(cell)}]) for cell in cells)
    if which == "d":
        session.document, session.document_name = heldout_d.DOCUMENT, heldout_d.DOCUMENT_NAME
        session.document_tokens = count_messages(estimate, [{"content": session.document}])
    return session


def echo(prompt: str) -> str:
    return f"Echo: {prompt[:40]}"  # what the loopback server answers (openai_server._echo_reply)


def request_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages", []))


# -- llmos in a real kernel --------------------------------------------------------------------------------


def launch(notebook: str | None) -> Kernel:
    """An llmos kernel; with `notebook`, started as jupyter_server starts one for that notebook
    ($JPY_SESSION_NAME), so a restart reopens the same stored session."""
    if notebook is None:
        return Kernel("llmos")
    saved = os.environ.get("JPY_SESSION_NAME")
    os.environ["JPY_SESSION_NAME"] = notebook  # Kernel() copies the environment; restarts reuse that copy
    try:
        return Kernel("llmos")
    finally:
        if saved is None:
            del os.environ["JPY_SESSION_NAME"]
        else:
            os.environ["JPY_SESSION_NAME"] = saved


def session_counts(kernel: Kernel, notebook: str) -> tuple[int, int]:
    """(cells, pages in swap) of the kernel's session, after checking it is the notebook's own session."""
    shown = kernel.execute("%session").check().text()
    if f"session: {notebook} (the notebook's path)" not in shown:
        raise RuntimeError(f"the kernel is not on the notebook's session:\n{shown}")
    found = re.search(r"cells: (\d+), segments: \d+ resident, (\d+) in swap", shown)
    if found is None:
        raise RuntimeError(f"unexpected %session output:\n{shown}")
    return int(found.group(1)), int(found.group(2))


def restart(kernel: Kernel, run: Run, notebook: str, setup: str) -> None:
    """Restart the kernel as the notebook's restart button does (jupyter_client's restart_kernel: shutdown, then
    a new process launched the same way), and check that it is a new process on the same stored session, with
    the cells and swap it had, the same usable window and the runtime-only setup applied again."""
    cells, swapped = session_counts(kernel, notebook)
    old = kernel.pid
    kernel.km.restart_kernel(now=False)
    kernel.kc.wait_for_ready(timeout=120)
    wait_for_iopub(kernel.kc)
    if kernel.pid == old:
        raise RuntimeError(f"the restart kept process {old}")
    run.pids.append(kernel.pid)
    cells_after, swapped_after = session_counts(kernel, notebook)
    if (cells_after, swapped_after) != (cells, swapped):
        raise RuntimeError(f"the restart lost memory: {cells} cells and {swapped} pages in swap before,"
                           f" {cells_after} and {swapped_after} after")
    log(f"    restart: pid {old} -> {kernel.pid}, {cells} cells and {swapped} pages in swap carried over")
    if setup:  # a runtime attribute, not part of the stored session
        kernel.execute("%%python\n" + setup).check()
    usable = json.loads(kernel.execute("%memory --json").check().text())["usable"]
    if usable != run.usable:
        raise RuntimeError(f"the restarted kernel's usable window is {usable}, it was {run.usable}")


def run_kernel(session: Session, server: OpenAIServer, share: float, system: str,
               setup: str = "", restarts: bool = False) -> Run:
    """One system over the session. With `restarts`, the kernel is restarted at each day boundary and once more
    before the questions (they are asked in a later sitting), memory carried over by the session store."""
    window = int(session.tokens * share)
    started = time.perf_counter()
    notebook = None
    if restarts:
        notebook = str(work_dir() / f"notebook-{uuid.uuid4().hex[:8]}.ipynb")
    with launch(notebook) as kernel:
        kernel.execute(f"%model openai/test --api-base {server.url} --window {window}").check()
        kernel.execute(f"%reserve {RESERVED}").check()
        kernel.execute("%recall --auto " + ("off" if system == "lru, no recall" else "on")).check()
        if setup:
            kernel.execute("%%python\n" + setup).check()
        if session.document:  # loaded before the first cell, as a user would load a manual to ask about it
            (work_dir() / session.document_name).write_text(session.document)
            loaded = kernel.execute(f"%load {session.document_name}").check().text()
            log(f"  {system} at {share:.0%}: {loaded.splitlines()[0] if loaded else '(nothing printed)'}")
        usable = json.loads(kernel.execute("%memory --json").check().text())["usable"]
        run = Run(system, share, window, usable, pids=[kernel.pid])
        day_starts = set(session.day_starts) if notebook else set()
        for n, cell in enumerate(session.cells):
            if notebook and n in day_starts:
                restart(kernel, run, notebook, setup)
            kernel.execute(cell, cell_id=f"fact-{n}").check()
            if n % 50 == 49:
                log(f"  {system} at {share:.0%}: {n + 1} cells in {time.perf_counter() - started:.0f} s")
        if notebook:
            restart(kernel, run, notebook, setup)
            log(f"  {system} at {share:.0%}: {len(run.pids) - 1} restarts, kernel pids {run.pids}")
        for n, question in enumerate(session.questions):
            before = len(server.requests)
            kernel.execute(question.text, cell_id=f"question-{n}").check()
            body = server.requests[before]["body"]
            score(run, question, body)
            abstention = question.kind.startswith("abstention") and system != "lru, no recall"
            if abstention or system == "llmos paging":
                paging = json.loads(kernel.execute("%context --json").check().text()).get("paging") or {}
                # Pages the ranker left out as look-alikes of what was asked (recall.py), per question.
                run.lookalikes.setdefault(question.kind, []).append(len(paging.get("lookalikes") or []))
                run.unanswered.setdefault(question.kind, []).append(int(bool(paging.get("unanswered"))))
            if abstention:
                run.hits[question.kind][-1] = not paging.get("recalled")
                if paging.get("recalled") and system == "llmos paging":
                    signals = [match["signal"] for item in paging["recalled"] for match in item.get("match", [])]
                    log(f"    {share:.0%} abstention recalled {paging.get('tokens', 0)} tokens ({signals}):"
                        f" {question.text}")
                run.recalled_tokens.append(paging.get("tokens", 0))
        run.findable = findable(kernel, session)
        if system != "lru, no recall":  # without recall nothing is ranked on the typing path
            run.plan_ms = planning_ms(kernel, session)
        run.thrashing = json.loads(kernel.execute("%memory --json").check().text())["paging"]["thrashing"]
    server.requests.clear()
    run.seconds = time.perf_counter() - started
    return run


def wordings(run: Run, session: Session) -> str:
    """The document kind's hits split by wording: ' (document: direct 5/6, paraphrase 3/6)'."""
    asked = [question for question in session.questions if question.kind == "document"]
    hits = run.hits.get("document", [])
    if not asked or len(hits) != len(asked):
        return ""
    split = {wording: [hit for question, hit in zip(asked, hits, strict=True) if question.wording == wording]
             for wording in ("direct", "paraphrase")}
    return " (document: " + ", ".join(f"{w} {sum(h)}/{len(h)}" for w, h in split.items()) + ")"


def score(run: Run, question: Question, body: dict[str, Any]) -> None:
    text = request_text(body)
    run.hits.setdefault(question.kind, []).append(all(fact in text for fact in question.needed))
    # The provider's own count (what the echo server reports as prompt_tokens, and the kernel calibrates to).
    run.request_tokens.append(estimate_prompt_tokens(body.get("messages", [])))


FINDABLE = """
import json
memory = get_ipython().kernel.runtime.memory
facts = json.loads({facts!r})
resident = "\\n".join(m["content"] for m in memory.plan("", apply_policy=False).messages)
found = 0
for fact in facts:
    if fact in resident or any(fact in s.text for s in memory.swap.search(fact, 3)):
        found += 1
print(found, len(facts))
"""


PLANNING = """
import json, statistics, time
from llmos_kernel.memory.recall import Ranker
memory = get_ipython().kernel.runtime.memory
times = []
for question in json.loads({questions!r}):
    started = time.perf_counter()
    Ranker(memory.swap, memory.recall_options).rank(question)
    times.append(1000 * (time.perf_counter() - started))
print(statistics.median(times))
"""


def planning_ms(kernel: Kernel, session: Session) -> float:
    """Median milliseconds to rank swap for one question (embedding the question included), in the kernel."""
    questions = json.dumps([question.text for question in session.questions])
    return float(kernel.execute("%%python\n" + PLANNING.format(questions=questions)).check().text().split()[0])


def findable(kernel: Kernel, session: Session) -> str:
    """How many facts are still in the window or found by a swap search for them (nothing is ever lost)."""
    out = kernel.execute("%%python\n" + FINDABLE.format(facts=json.dumps(session.facts))).check().text()
    found, total = out.split()[:2]
    return f"{found}/{total}"


# -- the truncation baseline: litellm's trim_messages over the whole conversation -----------------------


def run_trim(session: Session, server: OpenAIServer, share: float, usable: int) -> Run:
    import httpx
    from litellm.utils import trim_messages

    started = time.perf_counter()
    run = Run("trim_messages", share, int(session.tokens * share), usable)
    history: list[dict[str, str]] = [{"role": "system", "content": SYSTEM}]
    if session.document:  # the loaded document as the first user message: the oldest, so trimmed first
        history.append({"role": "user", "content": f"{session.document_name}:\n\n{session.document}"})
    for cell in session.cells:
        history += [{"role": "user", "content": cell}, {"role": "assistant", "content": echo(cell)}]
    with httpx.Client(timeout=30) as client:
        for question in session.questions:
            # trim_messages keeps the newest messages that fit and drops the rest, so handing it only the
            # newest ones worth 1.5 windows of text gives the same result, without re-counting 300 messages.
            recent, chars = [], 0
            for message in reversed(history[1:]):
                if chars > 6 * usable:  # about four characters a token: six a token leaves a margin
                    break
                recent.insert(0, message)
                chars += len(message["content"])
            messages = trim_messages([history[0], *recent, {"role": "user", "content": question.text}],
                                     model="gpt-4o-mini", max_tokens=usable)
            before = len(server.requests)
            client.post(f"{server.url}/chat/completions", json={"model": "test", "messages": messages})
            score(run, question, server.requests[before]["body"])
            history += [{"role": "user", "content": question.text},
                        {"role": "assistant", "content": echo(question.text)}]
    server.requests.clear()
    run.findable = "-"  # trimmed turns are gone for good
    run.seconds = time.perf_counter() - started
    return run


# -- the report ------------------------------------------------------------------------------------------------

LEXICAL = "get_ipython().kernel.runtime.memory.recall_options.semantic = False"
ABLATIONS = (
    ("llmos: no two-hop", "get_ipython().kernel.runtime.memory.recall_options.two_hop = False"),
    ("llmos: no recency", "get_ipython().kernel.runtime.memory.recall_options.recency = 0.0"),
    ("llmos: no relevance gate", "get_ipython().kernel.runtime.memory.recall_options.coverage = 0.0"),
    ("llmos: + conversation terms", "get_ipython().kernel.runtime.memory.recall_options.context_weight = 0.3"),
)


def table(runs: list[Run], kinds: tuple[str, ...] = KINDS) -> str:
    restarted = any(len(run.pids) > 1 for run in runs)  # a column only when a run restarted its kernel
    head = ["window", "system", *kinds, "avg request", "usable", "recall/abst.", "thrashing", "findable",
            *(["restarts (new pid each)"] if restarted else []), "rank ms", "time"]
    rows = []
    for run in runs:
        abstained = (f"{statistics.mean(run.recalled_tokens):.0f} tok" if run.recalled_tokens else "-")
        restarts = [str(len(set(run.pids)) - 1) if run.pids else "-"] if restarted else []
        rows.append([f"{run.window_share:.0%} ({run.window:,})", run.system,
                     *(f"{run.rate(kind):.0f}%" for kind in kinds),
                     f"{statistics.mean(run.request_tokens):,.0f}", f"{run.usable:,}", abstained,
                     "-" if run.thrashing is None else str(run.thrashing), run.findable, *restarts,
                     "-" if run.plan_ms is None else f"{run.plan_ms:.0f}", f"{run.seconds:.0f} s"])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 10%% window only, no ablations")
    parser.add_argument("--sets", default="dev,a,b",
                        help="sessions: dev (the development set), a, b and c (held-out, heldout_paging.py),"
                             " d (held-out, heldout_d.py)")
    parser.add_argument("--restarts", action="store_true",
                        help="held-out sessions: restart the kernel at each day boundary and before the questions"
                             " (the same notebook session, memory carried over by the session store)")
    parser.add_argument("--no-ablations", action="store_true", help="skip the ablations at 10%%")
    parser.add_argument("--json", metavar="PATH", help="write the runs as JSON here")
    args = parser.parse_args()
    jupyter_env()
    names = args.sets.split(",")
    unknown = [name for name in names if name != "dev" and name not in HELDOUT_SETS]
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}: choose from dev, {', '.join(HELDOUT_SETS)}")
    sessions = [build_session() if name == "dev" else build_heldout(name) for name in names]
    shares = (0.10,) if args.quick else WINDOWS
    tables: list[str] = []
    everything: list[dict[str, Any]] = []
    with OpenAIServer() as server:
        for session in sessions:
            log(f"{session.name} session: {len(session.cells)} cells, {len(session.questions)} questions,"
                f" about {session.tokens:,} tokens")
            runs: list[Run] = []
            for share in shares:
                restarts = args.restarts and bool(session.day_starts)  # the development set has no days
                ours = run_kernel(session, server, share, "llmos paging", restarts=restarts)
                lexical = run_kernel(session, server, share, "llmos, meaning off (lexical pager)", LEXICAL,
                                     restarts=restarts)
                lru = run_kernel(session, server, share, "lru, no recall", restarts=restarts)
                trim = run_trim(session, server, share, ours.usable)
                runs += [ours, lexical, lru, trim]
                for run in (ours, lexical, lru, trim):
                    log(f"{share:.0%} {run.system}: "
                        + ", ".join(f"{k} {run.rate(k):.0f}%" for k in session.kinds) + wordings(run, session))
            if not args.quick and not args.no_ablations and session.name == "development":
                for name, setup in ABLATIONS:
                    run = run_kernel(session, server, 0.10, name, setup)
                    runs.append(run)
                    log(f"10% {name}: " + ", ".join(f"{k} {run.rate(k):.0f}%" for k in session.kinds)
                        + wordings(run, session))
            days = (f", {len(session.day_starts) + 1} days, kernel restarted after each and before the questions"
                    if args.restarts and session.day_starts else "")
            tables.append(f"{session.name} session ({len(session.cells)} cells, {session.tokens:,} tokens{days})\n\n"
                          + table(runs, session.kinds))
            everything += [{"session": session.name, **vars(run)} for run in runs]
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))
    print("\n\n".join(tables))


if __name__ == "__main__":
    sys.exit(main())
