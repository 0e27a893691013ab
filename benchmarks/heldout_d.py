"""Held-out session D for bench_paging.py: written apart from the recall ranker's tuning, and kept from it.

Whoever tunes llmos_kernel/memory/recall.py must not read this file: the figures it gives are worth something
only while nobody has fitted the ranker to its questions (sets A, B and C in heldout_paging.py are "seen" now).

Another person and another register from A, B and C: a chemistry teacher in Glasgow who coaches the school's
rowing club keeps one notebook for the class marks, the club's erg tests and family logistics, over five
evenings (Monday to Friday), typing fast and lower-case. Unlike A, B and C, D brings its own chatter (`chatter`:
the teacher's own code questions and staff-room small talk, full of the incidental words "got", "first",
"latest", "called", "name" and "new"), two pasted tables with notes under one of them, and a club handbook
`%load`ed before the first cell (larger than the 10% window, so the kernel pages it).

Besides the kinds of A, B and C (no-overlap, paraphrase, update, temporal, aggregation, multi-session,
abstention) it asks counting ("how many"), comparison ("which is faster"), yes/no and negation ("which did not")
questions, and the handbook's document questions, half worded with the handbook's words and half paraphrased.
Abstention questions include look-alikes: the right topic, a fact never told (the brother's dog when only the
sister's dog was mentioned).

`check` runs when bench_paging.build_heldout('d') builds the session: every needed fact is verbatim in a cell or
the handbook, no no-overlap question and no paraphrased document question shares a porter stem with its facts
(the bench's own `stems`), a paraphrase shares two at most (the thing it names), a multi-session question's
facts come from two days or more, and no cell nor the handbook says anything that would answer an abstention
question (its ABSENT patterns).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

# (day, cell text). Day 1 is Monday. A needed fact is quoted verbatim from these cells.
CELLS: list[tuple[int, str]] = [
    (1, "ok new notebook, new term resolution. quick intro for future me: i teach chemistry at Kelvinside High and"
        " coach the school rowing club on tuesdays and saturdays. first thing, how do i read the marks"
        " spreadsheet when the header is on row 3?"),
    (1, "my wife Roisin's on nights again, she's a paramedic on the ambulance crew out of Govan so the house is"
        " silent till 2. how do i get the first row of each group in pandas?"),
    (1, "the twins, Cal and Ewan, turned eight on sunday and the living room is still full of balloons. how do i"
        " convert 2k times like 7:02.4 into seconds?"),
    (1, "dad moved into Larchgrove care home in Paisley last month, i visit on wednesdays after school. what's the"
        " pandas way to fill missing marks with the class median?"),
    (1, "parents' evening for S4 is wednesday the 10th, 4 till 7, and i need the reports printed by then. how do i"
        " export one pdf per pupil from a dataframe?"),
    (1, "the boys won two goldfish at the fair and named them Fish and Chips, of course. how do i sort a dataframe"
        " by two columns with one of them descending?"),
    (1, "my head of department is Mr Farquhar, old school, wants everything on paper. how do i print a dataframe"
        " nicely for a handout?"),
    (1, "still limping, tore my calf at parkrun in october and the physio says six more weeks. how do i plot a line"
        " per rower from a long table?"),
    (1, "club fleet for the record: two old quads, the Kelvin and the Leven, both older than me. how do i make a"
        " bar chart of outings per boat?"),
    (2, "change of plan: parents' evening got moved to thursday the 11th, the hall's double-booked with the panto."
        " how do i change one date in a schedule dataframe?"),
    (2, "tonight's 2k erg test, can you rank them and work out the average split?\n\n"
        "rower,2k,split\n"
        "Murray Dunn,6:48.2,1:42.0\n"
        "Isla Baird,7:31.5,1:52.8\n"
        "Finlay Ross,7:05.9,1:46.4\n"
        "Amira Shah,7:44.0,1:56.0\n\n"
        "notes:\n"
        "- minibus for the regatta booked with Arnold Clark, ref AC-55120\n"
        "- club subs are 35 pounds a term, due by 1 february"),
    (2, "my sister Aoife's border collie, Tam, spent the afternoon herding the twins round the garden. how do i use"
        " np.where for a pass/fail column?"),
    (2, "first regatta of the season is at Strathclyde Park on the 21st, the novices' first race ever. how do i"
        " count entries per event?"),
    (2, "the fume cupboard in lab 3 failed its inspection, so the S5 titration practical is in lab 5 for now. how"
        " do i merge the lab timetable with the class lists?"),
    (2, "booked easter today: ferry to Arran and four nights in a cottage at Lochranza, the boys want to see the"
        " deer. how do i compute the days between two dates?"),
    (2, "the Berlingo's MOT is due on 19 december and the wipers are shot. what's the difference between loc and"
        " iloc again?"),
    (2, "S5 prelims start on 12 january, so it's revision cards all round. how do i shuffle rows to make random"
        " quiz questions?"),
    (3, "big news at work: Farquhar's retiring at christmas and Priya Nair is acting head of department from"
        " monday. how do i rename an index level?"),
    (3, "redox test marks are in, pasting them so i stop losing the sheet:\n\n"
        "pupil,mark\n"
        "Kirsty Lowe,96\n"
        "Adam Reid,41\n"
        "Sophie Chen,78\n"
        "Jamie Boyle,38\n"
        "Leah McAllister,64\n\n"
        "pass mark is 50. can you flag who needs a resit?"),
    (3, "my brother Declan rang from Toronto, he's a sound engineer for a theatre there and sounds knackered. how"
        " do i read a csv with a semicolon separator?"),
    (3, "the club finally got its new boat, a coxed four called the Clyde Heron, paid for by the former pupils'"
        " fund. how do i add a row to a dataframe now that append is gone?"),
    (3, "passed my British Rowing level 2 coaching award at the weekend, certificate's on the fridge. how do i"
        " write a proper docstring?"),
    (3, "i'm coeliac, so the staff room birthday cake was a no again. what does groupby().transform do?"),
    (3, "the roof's leaking over the twins' room, a roofer called Gallacher is coming friday. how do i plot a"
        " bucket count per day?"),
    (3, "adopted a rescue tortoise called Shelly from the SSPCA, she's about forty and hates lettuce. how do i get"
        " the latest file in a folder?"),
    (4, "dad's getting moved to Birchwood care home in Renfrew on saturday, ten minutes from us instead of forty."
        " how do i join two tables on two keys?"),
    (4, "Murray pulled a 6:41.0 2k tonight, new personal best, he's unbearable. how do i update one cell in a"
        " dataframe by row name?"),
    (4, "Ewan's now taller than Cal by two centimetres and won't let anyone forget it. how do i compute the"
        " difference between consecutive rows?"),
    (4, "we switched the mortgage to a two-year fix at 4.1% with Nationwide, roisin did the phoning. how do i work"
        " out compound interest monthly?"),
    (4, "my mother-in-law Bernie is coming over from Cork for christmas, ten days, god help me. how do i make a"
        " calendar heatmap?"),
    (4, "need new glasses, my prescription went up again and the smartboard is a blur. how do i make the font"
        " bigger in matplotlib?"),
    (4, "Adam Reid resat the redox test and got 67, so he's through. how do i overwrite values from another"
        " table?"),
    (5, "gutted: the Strathclyde regatta's cancelled, blue-green algae in the loch, so we're racing at Castle Semple"
        " on the 28th instead. how do i reschedule rows in my fixtures table?"),
    (5, "we've ditched Arran, roisin wants sun, so it's flights to Lanzarote for easter now. how do i compare two"
        " price columns?"),
    (5, "Gallacher fixed the flashing on the roof, 280 pounds cash, and the twins' ceiling is dry. how do i log"
        " expenses by category?"),
    (5, "Isla knocked twenty seconds off, 7:11.8 on the 2k tonight, best improvement in the squad. how do i compute"
        " the improvement per rower?"),
    (5, "roisin got promoted to team leader at the ambulance station, first in her year to do it. how do i build"
        " a rota table?"),
    (5, "the Kelvin's hull got cracked on the slipway, so she's out for repairs till march. how do i mark a boat"
        " unavailable between two dates?"),
    (5, "Aoife's expecting her first baby in may, i'm going to be an auntie. how do i count down the weeks to a"
        " date?"),
]

ROISIN = "my wife Roisin's on nights again, she's a paramedic on the ambulance crew out of Govan"
TWINS = "the twins, Cal and Ewan, turned eight on sunday"
DAD_OLD = "dad moved into Larchgrove care home in Paisley last month"
DAD_NEW = "dad's getting moved to Birchwood care home in Renfrew"
PARENTS_OLD = "parents' evening for S4 is wednesday the 10th, 4 till 7"
PARENTS_NEW = "parents' evening got moved to thursday the 11th"
GOLDFISH = "the boys won two goldfish at the fair and named them Fish and Chips"
TORTOISE = "adopted a rescue tortoise called Shelly from the SSPCA"
FARQUHAR = "my head of department is Mr Farquhar"
PRIYA = "Priya Nair is acting head of department from monday"
CALF = "tore my calf at parkrun in october"
COELIAC = "i'm coeliac"
GLASSES = "my prescription went up again"
QUADS = "two old quads, the Kelvin and the Leven"
HERON = "a coxed four called the Clyde Heron"
KELVIN = "the Kelvin's hull got cracked on the slipway"
COACH = "coach the school rowing club on tuesdays and saturdays"
AWARD = "passed my British Rowing level 2 coaching award"
MURRAY_OLD = "Murray Dunn,6:48.2"
MURRAY_NEW = "Murray pulled a 6:41.0 2k tonight"
ISLA_OLD = "Isla Baird,7:31.5"
ISLA_NEW = "Isla knocked twenty seconds off, 7:11.8 on the 2k tonight"
FINLAY = "Finlay Ross,7:05.9"
AMIRA = "Amira Shah,7:44.0"
REGATTA_OLD = "first regatta of the season is at Strathclyde Park on the 21st"
REGATTA_OFF = "the Strathclyde regatta's cancelled"
REGATTA_NEW = "we're racing at Castle Semple on the 28th instead"
EASTER_OLD = "ferry to Arran and four nights in a cottage at Lochranza"
EASTER_NEW = "it's flights to Lanzarote for easter now"
ROOF_LEAK = "the roof's leaking over the twins' room, a roofer called Gallacher is coming friday"
ROOF_FIXED = "Gallacher fixed the flashing on the roof, 280 pounds cash"
KIRSTY = "Kirsty Lowe,96"
ADAM_OLD = "Adam Reid,41"
ADAM_NEW = "Adam Reid resat the redox test and got 67"
JAMIE = "Jamie Boyle,38"
PASS_MARK = "pass mark is 50"
AOIFE_DOG = "my sister Aoife's border collie, Tam"
AOIFE_BABY = "Aoife's expecting her first baby in may"
DECLAN = "my brother Declan rang from Toronto, he's a sound engineer"
BERNIE = "my mother-in-law Bernie is coming over from Cork for christmas"
ROISIN_NEW = "roisin got promoted to team leader at the ambulance station"
MOT = "the Berlingo's MOT is due on 19 december"
TEACH = "i teach chemistry at Kelvinside High"
FUME = "the fume cupboard in lab 3 failed its inspection, so the S5 titration practical is in lab 5"
PRELIMS = "S5 prelims start on 12 january"
MINIBUS = "minibus for the regatta booked with Arnold Clark, ref AC-55120"
SUBS = "club subs are 35 pounds a term, due by 1 february"
TALLER = "Ewan's now taller than Cal by two centimetres"

# (kind, question, needed fact sentences: all must reach the request; none for an abstention).
QUESTIONS: list[tuple[str, str, list[str]]] = [
    # no-overlap: no word stem in common with any of its facts (checked)
    ("no-overlap", "Does my spouse work in healthcare?", [ROISIN]),
    ("no-overlap", "How old are my sons?", [TWINS]),
    ("no-overlap", "What's my job?", [TEACH]),
    ("no-overlap", "Which animals live in our house?", [GOLDFISH, TORTOISE]),
    ("no-overlap", "Which student scored highest?", [KIRSTY]),
    ("no-overlap", "Is gluten a problem for me?", [COELIAC]),
    ("no-overlap", "When does the van need its annual roadworthiness check?", [MOT]),
    ("no-overlap", "Which sibling lives abroad?", [DECLAN]),
    ("no-overlap", "Have I earned any sporting qualifications recently?", [AWARD]),
    ("no-overlap", "Is my sister pregnant?", [AOIFE_BABY]),
    ("no-overlap", "Who is repairing the ceiling drip above the kids' bedroom?", [ROOF_LEAK]),
    ("no-overlap", "How much is the membership fee for the rowers?", [SUBS]),
    ("no-overlap", "Where is the acid-base experiment happening?", [FUME]),
    ("no-overlap", "Who is staying with us over the festive season?", [BERNIE]),
    # paraphrase: the thing named, the attribute worded otherwise
    ("paraphrase", "What are my goldfish called?", [GOLDFISH]),
    ("paraphrase", "Which days do I coach rowing?", [COACH]),
    ("paraphrase", "What breed is Aoife's dog?", [AOIFE_DOG]),
    ("paraphrase", "What's the new boat called?", [HERON]),
    ("paraphrase", "What did the roof repair cost?", [ROOF_FIXED]),
    ("paraphrase", "When do the S5 exams begin?", [PRELIMS]),
    ("paraphrase", "What happened to the Kelvin?", [KELVIN]),
    ("paraphrase", "Why do I need new glasses?", [GLASSES]),
    ("paraphrase", "What's the booking reference for the minibus?", [MINIBUS]),
    # update: told, then changed; the newer value must reach the request
    ("update", "When is parents' evening?", [PARENTS_NEW]),
    ("update", "Who is head of department now?", [PRIYA]),
    ("update", "Which care home is Dad going to be in?", [DAD_NEW]),
    ("update", "What's Murray's 2k time now?", [MURRAY_NEW]),
    ("update", "Where's the first regatta going to be now?", [REGATTA_NEW]),
    ("update", "Where are we going for Easter?", [EASTER_NEW]),
    ("update", "What's Adam Reid's redox mark now?", [ADAM_NEW]),
    ("update", "What's Isla's latest 2k time?", [ISLA_NEW]),
    ("update", "What is Roisin's job now?", [ROISIN_NEW]),
    # temporal: before / after / first / most recently / originally
    ("temporal", "Who was head of department before Priya?", [FARQUHAR]),
    ("temporal", "Which care home was Dad in first?", [DAD_OLD]),
    ("temporal", "What was the Easter plan before Lanzarote?", [EASTER_OLD]),
    ("temporal", "What pet did we get after the goldfish?", [TORTOISE]),
    ("temporal", "What was Murray's 2k before his personal best?", [MURRAY_OLD]),
    ("temporal", "Where was the regatta supposed to be originally?", [REGATTA_OLD]),
    ("temporal", "What did Adam Reid get the first time he sat the redox test?", [ADAM_OLD]),
    ("temporal", "Which day was parents' evening before it moved?", [PARENTS_OLD]),
    ("temporal", "What broke at the club most recently?", [KELVIN]),
    ("temporal", "What did Isla row in the 2k test before she improved?", [ISLA_OLD]),
    # aggregation: every one of its facts must reach the request
    ("aggregation", "List everyone in my family I've mentioned.",
     [ROISIN, TWINS, DAD_OLD, AOIFE_DOG, DECLAN, BERNIE]),
    ("aggregation", "What things have broken this week?", [FUME, ROOF_LEAK, KELVIN]),
    ("aggregation", "Which rowers' 2k times do I have?", [MURRAY_OLD, ISLA_OLD, FINLAY, AMIRA]),
    ("aggregation", "What's going on with my body at the moment? List everything.", [CALF, COELIAC, GLASSES]),
    ("aggregation", "List every animal in the family, including my sister's.", [GOLDFISH, TORTOISE, AOIFE_DOG]),
    ("aggregation", "What are all the dates I have coming up in December?", [PARENTS_NEW, MOT]),
    # multi-session: facts told on different days
    ("multi-session", "How have Dad's living arrangements changed?", [DAD_OLD, DAD_NEW]),
    ("multi-session", "How has Murray's 2k changed over the week?", [MURRAY_OLD, MURRAY_NEW]),
    ("multi-session", "What happened with our Easter holiday plans?", [EASTER_OLD, EASTER_NEW]),
    ("multi-session", "What's the story with the roof?", [ROOF_LEAK, ROOF_FIXED]),
    ("multi-session", "How did Adam Reid do on the redox test, both times?", [ADAM_OLD, ADAM_NEW]),
    ("multi-session", "Who has run the science department this year?", [FARQUHAR, PRIYA]),
    ("multi-session", "What's happened with the regatta?", [REGATTA_OLD, REGATTA_NEW]),
    # counting
    ("counting", "How many boats does the club have?", [QUADS, HERON]),
    ("counting", "How many creatures do we look after at home?", [GOLDFISH, TORTOISE]),
    ("counting", "How many kids are in our house?", [TWINS]),
    ("counting", "How many pupils failed the redox test the first time?", [ADAM_OLD, JAMIE, PASS_MARK]),
    ("counting", "How many rowers did the 2k erg test?", [MURRAY_OLD, ISLA_OLD, FINLAY, AMIRA]),
    # comparison
    ("comparison", "Which twin is taller?", [TALLER]),
    ("comparison", "Who is faster over 2k, Finlay or Amira?", [FINLAY, AMIRA]),
    ("comparison", "Which is sooner, parents' evening or the Berlingo's MOT?", [PARENTS_NEW, MOT]),
    ("comparison", "Which care home is closer to us, the old one or the new one?", [DAD_OLD, DAD_NEW]),
    # yes/no
    ("yes-no", "Is the Strathclyde regatta still going ahead?", [REGATTA_OFF]),
    ("yes-no", "Did I pass my coaching award?", [AWARD]),
    ("yes-no", "Is Dad still in Paisley?", [DAD_NEW]),
    ("yes-no", "Are we still going to Arran at Easter?", [EASTER_NEW]),
    ("yes-no", "Has Kirsty Lowe passed the redox test?", [KIRSTY]),
    # negation
    ("negation", "Which pupils did not reach the pass mark in the redox test?", [ADAM_OLD, JAMIE]),
    ("negation", "Which of the club's boats isn't a quad?", [QUADS, HERON]),
    ("negation", "Which of my siblings doesn't live in Scotland?", [AOIFE_DOG, DECLAN]),
    ("negation", "Which days am I not at the rowing club?", [COACH]),
    # abstention: nothing told answers it (look-alikes: the topic was mentioned, this fact never was)
    ("abstention", "What breed is my brother's dog?", []),
    ("abstention", "What did the twins get for their birthday?", []),
    ("abstention", "Which care home is my mum in?", []),
    ("abstention", "What's our cat called?", []),
    ("abstention", "What was my finishing time in the Glasgow half marathon?", []),
    ("abstention", "Which hotel are we booked into in Lanzarote?", []),
    ("abstention", "How much did the Clyde Heron cost?", []),
    ("abstention", "What's my brother's wife called?", []),
    ("abstention", "What mark did Kirsty Lowe get in physics?", []),
    ("abstention", "Who is head of the maths department?", []),
    ("abstention", "Which university did I study at?", []),
    ("abstention", "What's my sister's husband's job?", []),
    ("abstention", "When is the tortoise's vet appointment?", []),
    ("abstention", "What's the interest rate on the car loan?", []),
    ("abstention", "Which football team do the twins support?", []),
    ("abstention", "What's the name of Declan's theatre?", []),
    ("abstention", "What time does the ferry to Arran leave?", []),
    ("abstention", "How old is Tam?", []),
]

# What would answer each abstention question: none of these (regular expressions, case-insensitive) may match any
# cell, any chatter or the handbook.
ABSENT: dict[str, list[str]] = {
    "What breed is my brother's dog?": [r"declan's (dog|collie|puppy)", r"\bhis (dog|collie|puppy)"],
    "What did the twins get for their birthday?": [r"\bpresents\b", r"\bgifts?\b", r"for their birthday",
                                                    r"birthday (present|gift)"],
    "Which care home is my mum in?": [r"\bmum\b", r"\bmother\b(?!-in-law)", r"\bmam\b"],
    "What's our cat called?": [r"\bcats?\b", r"\bkitten", r"\bmoggy"],
    "What was my finishing time in the Glasgow half marathon?": [r"marathon", r"half-marathon"],
    "Which hotel are we booked into in Lanzarote?": [r"\bhotel", r"\bresort", r"apartment"],
    "How much did the Clyde Heron cost?": [r"heron[^.\n]{0,40}(pounds|£|\d{3,})", r"\bcost\b[^.\n]{0,30}boat"],
    "What's my brother's wife called?": [r"declan's (wife|partner)", r"sister-in-law"],
    "What mark did Kirsty Lowe get in physics?": [r"physics"],
    "Who is head of the maths department?": [r"\bmaths\b", r"mathematics"],
    "Which university did I study at?": [r"universit", r"\bdegree\b", r"graduat"],
    "What's my sister's husband's job?": [r"aoife's (husband|partner|man)", r"brother-in-law"],
    "When is the tortoise's vet appointment?": [r"\bvets?\b", r"veterinar"],
    "What's the interest rate on the car loan?": [r"(car|van|berlingo) (loan|finance)", r"\bloan\b(?! oars)"],
    "Which football team do the twins support?": [r"football", r"celtic", r"rangers", r"partick"],
    "What's the name of Declan's theatre?": [r"theatre (called|named)", r"the \w+ theatre\b"],
    "What time does the ferry to Arran leave?": [r"ferry[^.\n]{0,40}\d{1,2}[:.]\d{2}", r"sailing"],
    "How old is Tam?": [r"tam[^.\n]{0,30}(years?|months?) old", r"\bpuppy"],
}

# The club handbook, `%load`ed before the first cell. One fact sentence a section, among its running text.
DOCUMENT_NAME = "kelvinside-rowing-handbook.txt"
FOUNDED = "The club was founded in 1974 by a chemistry teacher called Hector Lindsay."
SWIM = "Membership is open to pupils from S2 upwards who can swim 50 metres in light clothing."
LIFEJACKET = "Coxes must wear an auto-inflating lifejacket at all times afloat."
WIND = "No crew goes out when the wind at the boathouse gauge is above 20 knots."
CAPSIZE = "After a capsize, stay with the boat and count heads before anything else."
KEYSAFE = "The boathouse key safe code is 4417."
KIT = "Club kit is navy and gold, ordered through Godfrey Sports in October only."
ERGS = "Ergometers must be wiped down with the green spray after every session."
STRETCH = "Outings stay between the Albert Bridge and the tidal weir."
TRAILER = "Trailer towing is done only by the boatman, Archie Gowan."
URN = "Parents on the rota run the tea urn at home regattas."
FUND = "Pupils on free school meals row free of charge through the Lindsay Fund."
WETSUIT = "From November to March, novices wear a thermal layer under their kit on the water."
CUP = "The Lindsay Cup goes to the most improved rower at the summer dinner."

DOCUMENT = f"""Kelvinside High School Boat Club: members' handbook (revised August)

1. Welcome and history
Welcome to the boat club. Whether you have never sat in a boat or you have raced before, this handbook tells you how
the club runs, what is expected of you and whom to ask when something is unclear. {FOUNDED} He borrowed two
wooden boats from a city club and trained his first crews before school, and the early morning outing is still a
tradition on the first Saturday of every term. Read the whole handbook once, keep it somewhere you can find it, and
ask a coach if anything here does not match what you see at the boathouse. Rules change from time to time and the
newest copy is always the one pinned inside the boathouse door.

2. Joining the club
{SWIM} The swim test is done at the school pool in the first fortnight of term, supervised by a coach, and a pupil
who does not pass may retake it once a month. New members start in the novice squad, which trains on land for the
first weeks before going afloat. A consent form signed by a parent or carer must be returned before any outing, and
medical conditions that a coach should know about are written on the same form. Membership lasts for the school year
and is renewed each August.

3. Safety afloat
Every outing has a named coach on the bank or in the launch, and nobody goes afloat without one. {LIFEJACKET} Rowers
do not wear lifejackets in the boat, because they can snag on the rigger, but the launch carries spares for everyone.
Before each outing the coach checks the heel restraints, the bow ball and the hatches of every boat, and a boat with
a missing bow ball stays on the rack. Outings are logged in the book by the door with the crew, the boat and the time
out and back.

4. Weather and water
The coach on duty decides whether the water is safe, and that decision is final. {WIND} Fog, lightning and ice also
stop outings, and crews already on the water return at once if the coach raises the red flag. After heavy rain the
river runs fast and carries branches, so crews keep well away from the bridges and the weir. In the dark months the
last outing returns before sunset. If you are unsure about the conditions, stay ashore and use the ergometers.

5. Capsize drill
Every member takes part in a capsize drill at the pool before rowing in a small boat. {CAPSIZE} A boat floats even
when full of water and is easy to see from the bank, whereas a swimmer is not. Keep your head up, call out your name
and wait for the launch; do not try to swim to the bank. After any capsize the crew is checked for cold and goes home
in dry clothes, and the coach writes the incident in the log the same day.

6. The boathouse
The boathouse is shared with two other clubs, so keep our racks tidy and never move their equipment. {KEYSAFE} The
code is not to be shared outside the club, and the last person out checks that the roller door is locked and the
lights are off. Oars live on the wall racks, blades up, and each set is marked with the boat it belongs to. Food is
eaten upstairs, never in the boat bay.

7. Club kit
Racing kit is compulsory at regattas and optional in training. {KIT} Each member needs a club all-in-one and may buy
a splash top; second-hand kit is swapped at the start of every year. Wear close-fitting layers in training, since
loose clothing catches in the slides, and bring a hat and a dry top for after the outing. Name every item of kit:
the lost property box is emptied at the end of each term.

8. Land training
The ergometer room is open on training evenings when a coach is present. {ERGS} Sessions are written on the board
by the coach, and test pieces are recorded in the club's results sheet. Warm up for ten minutes before any hard
piece and stretch afterwards. A rower who feels pain, dizziness or sickness stops at once and tells a coach.
Circuits on the games hall floor replace water sessions when the river is closed.

9. Where we row
{STRETCH} Above the bridge the river is used by larger club eights, and below the weir the water is tidal and
reserved for experienced crews with a launch. Crews keep to the right-hand side of the river going upstream and
downstream, turn only at the marked points, and give way to any boat that is racing or being coached. Swans nesting
in spring are given a wide berth.

10. Trailers and transport
Boats travel to regattas on the club trailer. {TRAILER} Members help load and unload under his direction, and
riggers, seats and oars are packed in the marked boxes. Pupils travel in the minibus, driven by a member of staff
with the correct licence; parents may drive their own children if they have told the coach beforehand. The trailer
is checked for lights, straps and tyres before every journey.

11. Parents and volunteers
The club depends on parents and former pupils. {URN} Volunteers also help with boat maintenance on the first Sunday
of each month and with fundraising at the Christmas fair. Parents are welcome on the bank during training but are
asked not to coach from it. Any concern about a coach or a pupil is raised with the head of the club, who keeps it
confidential.

12. Fees and help with costs
The termly subscription covers coaching, boat use and insurance; regatta entries are charged separately. {FUND} No
pupil is asked to explain why they need help, and requests go to the head of the club in confidence. Second-hand kit
and loan oars are available for anyone starting out. Fees unpaid by the end of term are followed up by letter.

13. Winter rowing
Cold water is the biggest danger in winter. {WETSUIT} Crews stay close to the bank, outings are shorter, and a
capsize in winter ends the session for the whole squad. Hands and feet are kept covered until the outing starts, and
a flask of something warm waits in the boathouse. Coaches may cancel water sessions at short notice when the
temperature drops.

14. Awards and the summer dinner
The season ends with the summer dinner, where crews are thanked and awards are presented. {CUP} Other prizes go to
the best novice, the best cox and the member who gave most to the club, chosen by the coaches and the captains.
Former members are invited each year, and the dinner is paid for by the tickets, with help from the club's fund for
those who need it.

15. Coxing
A good cox is the most valuable member of any crew, and every rower is encouraged to try it. Coxes steer, call the
drills and are responsible for the safety of the crew and the boat, so they give the orders on the landing stage as
well as afloat. Coxes weigh in at the start of each season, and a light cox carries a sandbag at regattas to make up
the minimum weight. A new cox goes out with a coach in the launch alongside for at least five outings before coxing
without one.

16. Regattas and racing
Entries for regattas are made by the coaches, never by members themselves, and entries close ten days before the
race. Crews are picked on erg scores, seat racing and attendance, and the coaches' decision is final. On regatta day
members arrive at the time on the team sheet, help rig the boats and stay until the trailer is loaded, whatever time
their own race is. Results are posted on the noticeboard and on the school website the following Monday.

17. Boat care and repairs
Boats are washed inside and out after every outing, and the slides and wheels are wiped dry. Any damage to a boat,
however small, is reported to the boatman the same day and written on the whiteboard in the boat bay. A damaged
boat is tagged with a red label and is not used until the boatman removes the label. Never stand in a boat, never
drag one across the gravel, and carry every boat with enough people to hold it at the riggers.

18. First aid and injuries
The first aid kit is kept in the blue box above the sink in the changing room, and the launch carries a smaller kit
and a foil blanket. Every coach holds a current first aid certificate. Blisters are common in the first weeks and
are cleaned and covered before the next outing. Back pain is not normal: a rower with a sore back stops training
and sees a coach, who may suggest a physiotherapist and a change to the training plan.

19. Club communication
Club news goes out by email every Sunday evening with the week's sessions, crews and any changes. Members must read
it, and a parent's address is added for every pupil under sixteen. Cancellations on the day are sent by text message
before three o'clock. The club noticeboard by the boathouse door carries the safety notices, the duty rota and the
results, and is the place to look when in doubt.

20. Conduct
Members represent the school at every outing and every regatta, and are expected to be polite to other clubs,
umpires and the public on the towpath. Bullying, swearing at officials and rough play around the water are not
accepted, and a member who breaks these rules may be suspended from racing. Mobile phones stay in the changing room
during sessions, except the coach's, which is carried in a waterproof pouch.
"""

# (wording, question, fact): "direct" uses the handbook's own words, "paraphrase" shares no word stem (checked).
DOCUMENT_QUESTIONS: list[tuple[str, str, str]] = [
    ("direct", "Who founded the boat club?", FOUNDED),
    ("direct", "What is the boathouse key safe code?", KEYSAFE),
    ("direct", "Who does the trailer towing?", TRAILER),
    ("direct", "What colours is the club kit?", KIT),
    ("direct", "What is the Lindsay Cup awarded for?", CUP),
    ("paraphrase", "What's the weather limit for going afloat?", WIND),
    ("paraphrase", "Who is allowed to drive with the shells hitched behind?", TRAILER),
    ("paraphrase", "What should the steerer have on while on the river?", LIFEJACKET),
    ("paraphrase", "Can kids from low-income households join without paying?", FUND),
    ("paraphrase", "What should you do first if the shell tips over?", CAPSIZE),
]


# -- the teacher's chatter: code questions and staff-room small talk, nothing personal, none of the facts ---------

OPENERS = ("", "right,", "ok so", "another one:", "sorry, me again.", "quick q:", "before i forget,", "next one:",
           "one more then bed:", "ugh.", "alright,", "hiya,", "free period, so:")
SMALL_TALK = ("", "marking pile is enormous tonight.", "the staff base printer jammed again.",
              "it's been chucking it down all day.", "first coffee of the day was stone cold.",
              "the latest windows update ate my free period.", "the projector in the lab keeps flickering.",
              "fire drill in the middle of a practical, brilliant.", "the wifi in the science block is dreadful.",
              "half my S3s were off with the bug going round.", "got soaked walking in from the car park.",
              "the new photocopier code finally works.", "bell's about to go so this is quick.",
              "spent lunch chasing missing homework.", "had a meeting that could have been an email.",
              "kettle's on, marking's not.", "the heating in block B is off again.",
              "got the new laptop image today and everything's moved.", "the first years were hyper after lunch.")
TASKS = (
    "how do i name the columns when the excel file has no header row?",
    "how do i get the first row of each group?",
    "how do i find the latest file in a folder with pathlib?",
    "how do i turn split times like 1:45.3 into seconds?",
    "how do i average the marks per class?",
    "how do i highlight marks under 50 in a styled dataframe?",
    "how do i merge the attendance sheet onto the marks?",
    "how do i rank pupils within each class?",
    "how do i count how many pupils got each grade?",
    "how do i write a function that turns a percentage into an A to D grade?",
    "how do i loop over every sheet in one workbook?",
    "how do i stop the SettingWithCopyWarning?",
    "how do i format a timedelta as minutes and seconds?",
    "how do i make a scatter plot of homework against test marks?",
    "how do i drop the pupils who left mid-term from a table?",
    "how do i read a csv that excel saved with a weird encoding?",
    "how do i pivot the marks so each test is a column?",
    "how do i get the median and the spread per class?",
    "how do i find duplicate names across two class lists?",
    "how do i round to one decimal place in a table?",
    "how do i strip spaces out of column names?",
    "how do i filter rows where a name contains some text?",
    "how do i make a histogram of marks with 10-mark bins?",
    "how do i add a column that's the difference between two tests?",
    "how do i save a figure at a size that prints on A4?",
    "how do i use f-strings to write a comment for each pupil?",
    "how do i check which names are missing from the second list?",
    "how do i compute a moving average of weekly quiz scores?",
    "how do i turn a list of dicts into a dataframe?",
    "how do i read only some columns from a big csv?",
    "how do i label the bars on a bar chart?",
    "how do i change the date format to day/month/year?",
    "how do i group by two columns and get the mean?",
    "how do i test my grade function with pytest?",
    "how do i time how long a cell takes?",
    "what's the numpy function called that rounds up?",
    "why does my groupby give back a series and not a dataframe?",
    "what's the difference between apply and map?",
    "is there a way to undo a cell in jupyter?",
    "what does inplace=True actually do?",
)
TAILS = ("", "thanks!", "cheers.", "keep it simple pls, it's for a colleague who's scared of python.",
         "my first attempt got a KeyError.", "show the latest pandas way if it's changed.",
         "what's that error called when the shapes don't match?", "no rush.", "short answer is fine.",
         "explain it like i'm a chemist, not a programmer.", "i got it working once and then it broke.",
         "the column's name has a space in it, if that matters.", "the new version of the sheet has more rows.")


def chatter(rng: random.Random) -> str:
    """One cell of the day's chatter: an opener, maybe a line of small talk, a code question, maybe a tail."""
    parts = [rng.choice(OPENERS), rng.choice(SMALL_TALK), rng.choice(TASKS), rng.choice(TAILS)]
    return " ".join(part for part in parts if part)


def check(cells: list[str], stems: Callable[[str], set[str]]) -> None:
    """The set's own checks (bench_paging.build_heldout also checks the needed facts, no-overlap and
    multi-session): the document facts and questions, and that nothing answers an abstention question."""
    for wording, ask, fact in DOCUMENT_QUESTIONS:
        assert fact in DOCUMENT, fact
        if wording == "paraphrase":
            shared = stems(ask) & stems(fact)
            assert not shared, f"a paraphrased document question shares {shared} with its fact: {ask!r}"
    for kind, ask, needed in QUESTIONS:  # a paraphrase may name its subject, no more than two word stems
        shared = {stem for fact in needed for stem in stems(ask) & stems(fact)}
        assert kind != "paraphrase" or len(shared) <= 2, f"a paraphrase shares {shared} with its fact: {ask!r}"
    asked = {ask for kind, ask, _ in QUESTIONS if kind == "abstention"}
    assert asked == set(ABSENT), asked ^ set(ABSENT)
    for ask, patterns in ABSENT.items():
        for pattern in patterns:
            for text in [*cells, DOCUMENT]:
                found = re.search(pattern, text, re.IGNORECASE)
                assert found is None, f"{found.group(0)!r} would answer the abstention question {ask!r}"
