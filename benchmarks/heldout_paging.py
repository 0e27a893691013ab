"""A held-out long-memory set for bench_paging.py: written before the issue-22 ranking was tuned, never tuned on.

The development set in bench_paging.py has one fact per cell among logistics filler. This one is a chatty
notebook of five days: each cell mixes a personal aside with a request about code or data, in the user's own
loose wording, and the fact sits in the same paragraph as the chatter (so a page holds more than the fact).
Its questions are of the same kinds, worded the way people ask, and were frozen before any ranking change of
this round; a change to the ranker is judged on this set, not fitted to it.
"""

from __future__ import annotations

# (day, cell text). A fact is the sentence quoted in a question's `needed` list: it must appear verbatim here.
CELLS: list[tuple[int, str]] = [
    (1, "Morning! Quick one before standup: my sister Maria just started as a nurse at the children's hospital,"
        " so I'm covering the school run this week. Can you show me how to read a CSV with a date column in pandas?"),
    (1, "ugh, coffee machine broke again. Anyway, how do I group a DataFrame by month and sum one column?"),
    (1, "Note to self: the dentist appointment is on Thursday at 9:30 with Dr. Okonjo. Now, what's the difference"
        " between merge and join?"),
    (1, "We adopted a tabby kitten called Miso on Saturday and she has already knocked a plant over. Can you explain"
        " what a left join keeps?"),
    (1, "I'm trying to learn Portuguese, evening class on Tuesdays, so my brain is fried. How do I pivot a table?"),
    (1, "My commute is forty minutes by tram each way, which is when I read. What does melt do in pandas?"),
    (2, "Back again. The landlord raised the rent by eighty euros a month, not thrilled. How do I plot two series"
        " on one axis in matplotlib?"),
    (2, "For the record, my laptop is a ThinkPad X1 Carbon with 16 GB of RAM, which is why big joins hurt."
        " How can I read a parquet file in chunks?"),
    (2, "Our project codename is Bluefin and the deadline is the 28th. What's a good way to profile a slow function?"),
    (2, "I moved our standup to 10:15 because half the team is in Lisbon. How do I time a cell in Jupyter?"),
    (2, "My son got a hamster named Pip from his friend, so now we have two pets. How do I write a unit test with"
        " pytest for a function that reads a file?"),
    (2, "Had the dentist appointment moved: it's now Friday at 14:00, same dentist. How do fixtures work in pytest?"),
    (3, "Long day. I ran 12 km this morning before work, training for the Berlin marathon in September."
        " Can you show me a regex that matches ISO dates?"),
    (3, "The staging database lives on host db-stage-07 and uses port 6432. How do I connect with SQLAlchemy?"),
    (3, "My manager is Henrik Aalto, he wants the report in Excel, sigh. How do I write several sheets with"
        " pandas?"),
    (3, "Our boiler was replaced by a plumber from Ghent in May and the flat is finally warm. What is an upsert?"),
    (3, "I'm allergic to peanuts and shellfish, so the team lunch on Friday needs care. How do I drop duplicate"
        " rows but keep the latest?"),
    (3, "Grandpa Tomas turns ninety in October, we're planning a party. How do I make a bar chart horizontal?"),
    (4, "The Bluefin deadline slipped to the 5th of next month, good news for once. How do I cache a function's"
        " results?"),
    (4, "A retired racing greyhound named Bolt joined the family yesterday, the kitten is not impressed."
        " What's the difference between a list and a tuple?"),
    (4, "My manager changed: Henrik left and my new manager is Sofia Brandt. How do I format numbers with commas"
        " in an f-string?"),
    (4, "I drive a second-hand green Skoda Octavia estate, and it needs new tyres. How do I sort a dict by value?"),
    (4, "Staging moved to host db-stage-11, same port. How can I retry a flaky HTTP call with backoff?"),
    (4, "I finished reading Middlemarch on the tram, took me a month. Can you explain Python generators?"),
    (5, "Friday! I switched my Portuguese class to Thursdays because of football. How do I read JSON lines?"),
    (5, "Ran 18 km on Sunday, longest so far, knees are fine. What does `yield from` do?"),
    (5, "We booked the anniversary dinner at Casa Verde for the ninth, ten years married. How do I type hint a"
        " callable?"),
    (5, "My daughter Lucia plays the cello in the youth orchestra, concert next week. How do I memoize a method?"),
    (5, "I cut my thumb badly slicing bread this morning, typing slowly. How do I parse command line arguments?"),
    (5, "The laptop got upgraded to 32 GB of RAM, joins are fine now. What's a context manager?"),
]

# (kind, question, needed fact sentences). Kinds: no-overlap (no shared stem, checked), update, temporal,
# aggregation, multi-session (facts from different days), abstention (nothing in memory answers it).
QUESTIONS: list[tuple[str, str, list[str]]] = [
    ("no-overlap", "Does anyone in my family work in medicine?",
     ["my sister Maria just started as a nurse at the children's hospital"]),
    ("no-overlap", "Which animals live with us?",
     ["We adopted a tabby kitten called Miso on Saturday", "My son got a hamster named Pip",
      "A retired racing greyhound named Bolt joined the family yesterday"]),
    ("no-overlap", "What vehicle do I own?", ["I drive a second-hand green Skoda Octavia estate"]),
    ("no-overlap", "Who fixed our heating?", ["Our boiler was replaced by a plumber from Ghent in May"]),
    ("no-overlap", "Which foods must I avoid?", ["I'm allergic to peanuts and shellfish"]),
    ("no-overlap", "How old will my grandfather be this autumn?", ["Grandpa Tomas turns ninety in October"]),
    ("paraphrase", "What musical instrument does my kid play?",
     ["My daughter Lucia plays the cello in the youth orchestra"]),
    ("no-overlap", "How long is my journey to the office?", ["My commute is forty minutes by tram each way"]),
    ("no-overlap", "How much more do I pay for the apartment now?",
     ["The landlord raised the rent by eighty euros a month"]),
    ("update", "When is my dentist appointment?", ["it's now Friday at 14:00, same dentist"]),
    ("update", "Who is my manager?", ["my new manager is Sofia Brandt"]),
    ("update", "Which host is the staging database on?", ["Staging moved to host db-stage-11, same port"]),
    ("update", "When is the Bluefin deadline?", ["The Bluefin deadline slipped to the 5th of next month"]),
    ("update", "How much RAM does my laptop have?", ["The laptop got upgraded to 32 GB of RAM"]),
    ("update", "Which evening is my Portuguese class?", ["I switched my Portuguese class to Thursdays"]),
    ("temporal", "Who was my manager before Sofia?", ["My manager is Henrik Aalto"]),
    ("temporal", "What was the original Bluefin deadline?",
     ["Our project codename is Bluefin and the deadline is the 28th"]),
    ("temporal", "Which pet did we get first?", ["We adopted a tabby kitten called Miso on Saturday"]),
    ("temporal", "What was the first distance I ran for marathon training?", ["I ran 12 km this morning before work"]),
    ("temporal", "Which host did staging use originally?", ["The staging database lives on host db-stage-07"]),
    ("aggregation", "List all the pets we have.",
     ["We adopted a tabby kitten called Miso on Saturday", "My son got a hamster named Pip",
      "A retired racing greyhound named Bolt joined the family yesterday"]),
    ("aggregation", "How far have I run in total in my training runs?",
     ["I ran 12 km this morning before work", "Ran 18 km on Sunday, longest so far"]),
    ("aggregation", "Which of my relatives have I mentioned?",
     ["my sister Maria just started as a nurse", "Grandpa Tomas turns ninety in October",
      "My daughter Lucia plays the cello", "My son got a hamster named Pip"]),
    ("aggregation", "What are all the appointments and bookings I have coming up?",
     ["it's now Friday at 14:00, same dentist", "We booked the anniversary dinner at Casa Verde for the ninth"]),
    ("multi-session", "How many pets do we have now, and what are they called?",
     ["We adopted a tabby kitten called Miso on Saturday", "My son got a hamster named Pip",
      "A retired racing greyhound named Bolt joined the family yesterday"]),
    ("multi-session", "How has the Bluefin deadline changed over the week?",
     ["Our project codename is Bluefin and the deadline is the 28th",
      "The Bluefin deadline slipped to the 5th of next month"]),
    ("multi-session", "What injuries or health issues have I mentioned?",
     ["I'm allergic to peanuts and shellfish", "I cut my thumb badly slicing bread this morning"]),
    ("abstention", "What is my favourite film?", []),
    ("abstention", "Which football team do I support?", []),
    ("abstention", "What's my blood type?", []),
    ("abstention", "Where did I go to university?", []),
    ("abstention", "What is the name of my first teacher?", []),
    ("abstention", "Which city was I born in?", []),
    ("abstention", "What did I get for my birthday last year?", []),
    ("abstention", "What's my partner's favourite colour?", []),
    ("abstention", "How many siblings does my manager have?", []),
    ("abstention", "Which programming language did I learn first?", []),
    ("abstention", "What's the wifi password at the office?", []),
    ("abstention", "What time does my gym open?", []),
]

# Set B: written after the ranking changes of this round, and run once as they stood: the untuned figure.
# Another person, another register (a researcher's lab notebook with life in the margins).
CELLS_B: list[tuple[int, str]] = [
    (1, "Starting the week. My partner Jonas is a firefighter and is on nights, so I'm up early."
        " Can you explain what a p-value actually measures?"),
    (1, "The centrifuge in room 214 is booked by the Keller group until noon. How do I run a t-test in scipy?"),
    (1, "I keep bees on the allotment, two hives, and they swarmed last weekend. What's a Welch correction?"),
    (1, "Our cluster account is under project code ZX-4471 and the quota is 2 TB. How do I submit a job array"
        " with Slurm?"),
    (2, "Rough night: the baby has a fever, so I'm working from home. How do I bootstrap a confidence interval?"),
    (2, "I play the bassoon in a community orchestra on Wednesdays. How do I plot residuals?"),
    (2, "My PhD supervisor is Professor Ines Albuquerque and she wants the draft by the 12th."
        " What is heteroscedasticity?"),
    (2, "We bought a second-hand cargo bike for the school run, it's orange. How do I do a log transform safely"
        " with zeros?"),
    (3, "The quota on ZX-4471 was raised to 5 TB after I asked nicely. How do I check disk usage per directory?"),
    (3, "I broke my wrist skiing in February and typing still hurts a bit. Can you explain mixed models?"),
    (3, "The draft deadline moved to the 20th, Ines is travelling. How do I report effect sizes?"),
    (3, "Conference trip booked: Vienna in June, then Kyoto in October for the workshop. What's a Bonferroni"
        " correction?"),
    (4, "Jonas switched to day shifts this month, finally. How do I make a forest plot?"),
    (4, "I'm vegetarian and the retreat caterer keeps forgetting. How do I reshape long to wide in R?"),
    (4, "The centrifuge moved to room 309 after the renovation. What's a permutation test?"),
    (5, "Our landlady is selling the house, so we're flat hunting in Leith. How do I cite a software package?"),
    (5, "My mother Graça visits from Porto next month and stays two weeks. How do I seed numpy reproducibly?"),
]
QUESTIONS_B: list[tuple[str, str, list[str]]] = [
    ("no-overlap", "What does my spouse do for a living?", ["My partner Jonas is a firefighter"]),
    ("paraphrase", "Which instrument do I play?", ["I play the bassoon in a community orchestra"]),
    ("no-overlap", "Is our child unwell?", ["the baby has a fever"]),
    ("no-overlap", "Do I have any insects as a hobby?", ["I keep bees on the allotment, two hives"]),
    ("no-overlap", "What can't I eat?", ["I'm vegetarian and the retreat caterer keeps forgetting"]),
    ("no-overlap", "Have I had any fractures?", ["I broke my wrist skiing in February"]),
    ("no-overlap", "How do the kids get to class?", ["We bought a second-hand cargo bike for the school run"]),
    ("no-overlap", "Are we moving?", ["Our landlady is selling the house, so we're flat hunting in Leith"]),
    ("update", "How much storage does ZX-4471 have?", ["The quota on ZX-4471 was raised to 5 TB"]),
    ("update", "Which room is the centrifuge in?", ["The centrifuge moved to room 309"]),
    ("update", "When is the draft due?", ["The draft deadline moved to the 20th"]),
    ("update", "What shift does Jonas work?", ["Jonas switched to day shifts this month"]),
    ("temporal", "What was the quota before it was raised?", ["the quota is 2 TB"]),
    ("temporal", "Where was the centrifuge originally?", ["The centrifuge in room 214"]),
    ("temporal", "Which trip comes first this year?", ["Vienna in June, then Kyoto in October"]),
    ("aggregation", "List all the cities I'm travelling to.", ["Vienna in June, then Kyoto in October"]),
    ("aggregation", "Which family members have I talked about?",
     ["My partner Jonas is a firefighter", "the baby has a fever", "My mother Graça visits from Porto"]),
    ("aggregation", "What are all my deadlines?", ["The draft deadline moved to the 20th"]),
    ("abstention", "What is my favourite programming language?", []),
    ("abstention", "Where did I grow up?", []),
    ("abstention", "What is my dog's name?", []),
    ("abstention", "Which car do I drive?", []),
    ("abstention", "What is my salary?", []),
    ("abstention", "When is my next dentist appointment?", []),
    ("abstention", "Which gym do I go to?", []),
    ("abstention", "What's Jonas's favourite food?", []),
]

# Set C: written after set B while the ranker was still being tuned, and kept from whoever tuned it: run once as
# it stood. Another person and register again: the owner of a small pottery studio keeping the shop's numbers in
# a notebook over six days (Monday to Saturday). Several facts are corrections ("actually, scratch that, ..."),
# one lives in the notes under a pasted CSV, and look-alikes (a cousin, a cat, cities visited) sit beside the
# questions that must recall nothing.
CELLS_C: list[tuple[int, str]] = [
    (1, "Morning. Setting up this notebook to finally get the shop's numbers in order. The studio is a converted"
        " railway arch in Deptford, so the wifi is awful under the bricks. Can you help me load a CSV of Shopify"
        " orders and parse the dates?"),
    (1, "All our stoneware clay comes from Valentine Clays in Stoke, 25 kg bags, delivered monthly."
        " How do I compute cost per kilo from a column of bag prices?"),
    (1, "Staff first: my only employee, Ottilie, teaches the wheel-throwing classes and works three days a week."
        " What's the cleanest way to store her hours in a DataFrame?"),
    (1, "We open Tuesday to Saturday, 10 till 6, and I want those as business hours in some plots."
        " How do I filter timestamps to opening hours?"),
    (1, "Did the Deptford makers market yesterday and sold 14 mugs, not bad for a grey Sunday. How do I append a"
        " row to a DataFrame now that append is gone?"),
    (1, "Our mascot is a one-eyed ginger tomcat named Brisket who sleeps on the warm kiln lid. Anyway: what's the"
        " difference between loc and iloc?"),
    (2, "Rough start: the kiln element burnt out mid-firing and I lost a whole load of bowls. Can you write a"
        " function that logs firing temperatures every minute?"),
    (2, "Here's this week's sales export, can you help me total it by product?\n\n"
        "date,product,qty,price\n"
        "2026-11-30,speckled mug,6,28\n"
        "2026-11-30,bud vase,3,19\n"
        "2026-12-01,serving bowl,2,54\n\n"
        "Notes for later (don't let me forget):\n"
        "- Insurance renewal is due on 14 March with Hiscox, premium 640 pounds\n"
        "- Dariusz wants the VAT figures by the 7th"),
    (2, "my cousin Dariusz does the bookkeeping for me every Friday, bless him. How do I export a DataFrame to"
        " Excel with a currency format?"),
    (2, "First proper wholesale order! Halden's café wants 40 espresso cups. Oh wait, actually, scratch that,"
        " they just rang back and want 60. How do I make an order table with a due-date column?"),
    (2, "We hit 2,300 followers on Instagram this week, which feels huge for a pottery. How do I plot a cumulative"
        " count over time?"),
    (2, "The speckled oatmeal mugs sell for 28 pounds each and they're our bestseller by far. How do I rank"
        " products by revenue?"),
    (2, "Firing schedule, for the record: the bisque firing runs every Monday night, glaze firing on Thursdays."
        " How do I generate a list of Mondays for the next three months?"),
    (3, "The electrician, Mr Adeyemi, came out and replaced both kiln elements, so we're firing again. How do I"
        " compute the time between two timestamps in minutes?"),
    (3, "Actually, scratch that about opening hours: we're closed Tuesdays now and open Wednesday to Sunday,"
        " same times. Can you update my filter function for the new days?"),
    (3, "Sold 9 mugs and a pile of bud vases at Columbia Road flower market this morning, freezing hands."
        " How do I turn a wide sales table into long form?"),
    (3, "I get migraines if I stare at screens past 9pm, so this notebook has a curfew. How do I set a dark theme"
        " for matplotlib?"),
    (3, "Class prices: one session is 45 pounds, or 160 for a block of four. How do I build a price table with a"
        " discount column?"),
    (3, "Drove up to Stoke on Sunday to see Mum, she still has my first wonky teapot on the mantelpiece."
        " Can you explain what a MultiIndex is?"),
    (3, "Booked a stall at the Greenwich Christmas market for the 12th, 60 pounds for the day. How do I add a"
        " countdown column of days remaining?"),
    (4, "Big news on supplies: scratch what I said about Valentine, we've switched our clay to Scarva because"
        " their delivery is cheaper. How do I join supplier prices onto orders?"),
    (4, "The Bramble & Rye deli ordered 24 serving bowls for their new counter. How do I count orders per"
        " customer?"),
    (4, "The pug mill is leaking oil again, I'll have to call the service guy. Meanwhile, how do I drop columns"
        " that are all NaN?"),
    (4, "Moving the bisque firing to Wednesday nights from now on, the cheaper electricity tariff starts at 11pm"
        " then. How do I shift dates to a weekday in pandas?"),
    (4, "I order the celadon glaze in 5 kg tubs from Potclays, it's the one everybody asks about. Can you show me"
        " how to read a table out of a PDF price list?"),
    (4, "I injured my shoulder wedging clay last winter and still see a physio twice a month, so long sessions"
        " at the laptop hurt. How do I use a key function in sort_values?"),
    (5, "Ottilie has gone up to four days a week since the Saturday classes filled up. How do I recompute weekly"
        " wage costs?"),
    (5, "That reel of the glaze dripping went viral, we're at 4,100 followers on Instagram now! How do I annotate"
        " a spike on a line chart?"),
    (5, "Sold out of bud vases at Broadway Market today, should have brought twice as many. How do I forecast"
        " next week's stock?"),
    (5, "The tenmoku batch crawled again on the bowl rims, I think I'm applying it too thick. How do I store"
        " test-tile results with paths to photos?"),
    (5, "The card reader keeps dropping the wifi during busy markets, which costs me sales. How do I find gaps in"
        " transaction timestamps?"),
    (5, "Saturday mornings I volunteer at the food bank on Creek Road, so no markets before noon. How do I leave"
        " certain hours out of a resample?"),
    (6, "From today the speckled mugs are 32 pounds, clay went up again. Please write a function that applies a"
        " percentage increase per product."),
    (6, "A hotel group in Marylebone wants 200 side plates for their breakfast room, biggest order yet. How do I"
        " split a large order into kiln loads of 30?"),
    (6, "New shino test tiles came out lovely, warm orange where it's thin. How do I make a grid of images in"
        " matplotlib?"),
    (6, "Back from a trade fair in Birmingham, met three shop buyers. How do I dedupe contacts by email?"),
    (6, "Greenwich moved our Christmas market stall to the 19th, annoyingly. How do I reschedule one event in a"
        " calendar table?"),
]
QUESTIONS_C: list[tuple[str, str, list[str]]] = [
    ("no-overlap", "Who handles my accounts?", ["my cousin Dariusz does the bookkeeping for me every Friday"]),
    ("no-overlap", "What gives me headaches?", ["I get migraines if I stare at screens past 9pm"]),
    ("no-overlap", "Where is my workplace located?", ["The studio is a converted railway arch in Deptford"]),
    ("no-overlap", "Do we have any animals around the workshop?",
     ["Our mascot is a one-eyed ginger tomcat named Brisket"]),
    ("no-overlap", "Which joint is giving me trouble?",
     ["I injured my shoulder wedging clay last winter and still see a physio twice a month"]),
    ("no-overlap", "When does my cover expire?", ["Insurance renewal is due on 14 March with Hiscox"]),
    ("no-overlap", "Do I do any charity work?", ["Saturday mornings I volunteer at the food bank on Creek Road"]),
    ("no-overlap", "Who repaired the furnace?",
     ["The electrician, Mr Adeyemi, came out and replaced both kiln elements"]),
    ("no-overlap", "Who do I have on the payroll?", ["my only employee, Ottilie, teaches the wheel-throwing classes"]),
    ("no-overlap", "Which relative did I visit at the weekend?", ["Drove up to Stoke on Sunday to see Mum"]),
    ("paraphrase", "Which e-commerce platform runs my online shop?", ["a CSV of Shopify orders"]),
    ("paraphrase", "What's my most popular product?", ["they're our bestseller by far"]),
    ("paraphrase", "How much is a single class?", ["one session is 45 pounds, or 160 for a block of four"]),
    ("paraphrase", "Where do I buy my celadon?", ["I order the celadon glaze in 5 kg tubs from Potclays"]),
    ("paraphrase", "What's wrong with the pug mill?", ["The pug mill is leaking oil again"]),
    ("paraphrase", "What problem am I having with the tenmoku?", ["The tenmoku batch crawled again on the bowl rims"]),
    ("paraphrase", "How did the shino tests turn out?", ["New shino test tiles came out lovely"]),
    ("paraphrase", "What keeps going wrong with taking card payments?",
     ["The card reader keeps dropping the wifi during busy markets"]),
    ("update", "Who supplies our clay now?", ["we've switched our clay to Scarva"]),
    ("update", "Which days is the shop open?", ["we're closed Tuesdays now and open Wednesday to Sunday"]),
    ("update", "What night do we do the bisque firing?", ["Moving the bisque firing to Wednesday nights"]),
    ("update", "How many days a week does Ottilie work?", ["Ottilie has gone up to four days a week"]),
    ("update", "How many Instagram followers do we have?", ["we're at 4,100 followers on Instagram now"]),
    ("update", "What do the speckled mugs cost?", ["From today the speckled mugs are 32 pounds"]),
    ("update", "How many espresso cups is Halden's getting?", ["they just rang back and want 60"]),
    ("update", "What date is the Greenwich stall?", ["Greenwich moved our Christmas market stall to the 19th"]),
    ("temporal", "Where did we get our clay before Scarva?", ["All our stoneware clay comes from Valentine Clays"]),
    ("temporal", "Which night did the bisque firing used to be on?", ["the bisque firing runs every Monday night"]),
    ("temporal", "Which wholesale customer ordered first?", ["Halden's café wants 40 espresso cups"]),
    ("temporal", "What was the most recent big order?", ["A hotel group in Marylebone wants 200 side plates"]),
    ("temporal", "Which market did I do most recently?", ["Sold out of bud vases at Broadway Market today"]),
    ("temporal", "Which market did I sell at first this week?", ["Did the Deptford makers market yesterday"]),
    ("temporal", "How many followers did we have before the reel took off?",
     ["We hit 2,300 followers on Instagram"]),
    ("temporal", "Who came out after the kiln element burnt out?",
     ["The electrician, Mr Adeyemi, came out and replaced both kiln elements"]),
    ("temporal", "What were the opening days before I changed them?", ["We open Tuesday to Saturday, 10 till 6"]),
    ("temporal", "Which order came in after Halden's?", ["The Bramble & Rye deli ordered 24 serving bowls"]),
    ("aggregation", "List all the markets I've sold at this week.",
     ["Did the Deptford makers market yesterday", "at Columbia Road flower market",
      "Sold out of bud vases at Broadway Market today"]),
    ("aggregation", "How many wholesale orders have I got?",
     ["Halden's café wants 40 espresso cups", "The Bramble & Rye deli ordered 24 serving bowls",
      "A hotel group in Marylebone wants 200 side plates"]),
    ("aggregation", "Which suppliers have I mentioned?",
     ["All our stoneware clay comes from Valentine Clays", "we've switched our clay to Scarva",
      "I order the celadon glaze in 5 kg tubs from Potclays"]),
    ("aggregation", "What glazes am I working with?",
     ["I order the celadon glaze", "The tenmoku batch crawled again", "New shino test tiles came out lovely"]),
    ("aggregation", "What equipment has been giving me trouble?",
     ["the kiln element burnt out mid-firing", "The pug mill is leaking oil again",
      "The card reader keeps dropping the wifi"]),
    ("aggregation", "Which towns have I been to apart from the markets?",
     ["Drove up to Stoke on Sunday to see Mum", "Back from a trade fair in Birmingham"]),
    ("aggregation", "What deadlines have I got?",
     ["Insurance renewal is due on 14 March with Hiscox", "Dariusz wants the VAT figures by the 7th"]),
    ("aggregation", "What health problems do I have?",
     ["I get migraines if I stare at screens past 9pm", "I injured my shoulder wedging clay last winter"]),
    ("multi-session", "How has our Instagram following grown?",
     ["We hit 2,300 followers on Instagram", "we're at 4,100 followers on Instagram now"]),
    ("multi-session", "How many mugs have I sold at markets altogether?",
     ["Did the Deptford makers market yesterday and sold 14 mugs", "Sold 9 mugs"]),
    ("multi-session", "What went wrong with the kiln, and who sorted it?",
     ["the kiln element burnt out mid-firing",
      "The electrician, Mr Adeyemi, came out and replaced both kiln elements"]),
    ("multi-session", "How has Ottilie's schedule changed?",
     ["Ottilie, teaches the wheel-throwing classes and works three days a week",
      "Ottilie has gone up to four days a week"]),
    ("multi-session", "Who helps me run the studio?",
     ["my only employee, Ottilie", "my cousin Dariusz does the bookkeeping"]),
    ("multi-session", "How have my mug prices changed?",
     ["The speckled oatmeal mugs sell for 28 pounds each", "From today the speckled mugs are 32 pounds"]),
    ("multi-session", "What were the old and new opening days?",
     ["We open Tuesday to Saturday, 10 till 6", "we're closed Tuesdays now and open Wednesday to Sunday"]),
    ("multi-session", "How many pieces do the café and the deli want in total?",
     ["they just rang back and want 60", "The Bramble & Rye deli ordered 24 serving bowls"]),
    ("abstention", "What does my brother do for work?", []),
    ("abstention", "What's my nephew called?", []),
    ("abstention", "How did the trip to Bristol go?", []),
    ("abstention", "Which hotel did I stay in when I was in Edinburgh?", []),
    ("abstention", "How old is our dog?", []),
    ("abstention", "Which bank does the business use?", []),
    ("abstention", "How much rent do I pay?", []),
    ("abstention", "How many children do I have?", []),
    ("abstention", "Am I allergic to anything?", []),
    ("abstention", "Which podcasts do I like?", []),
    ("abstention", "What year did I open the studio?", []),
]
