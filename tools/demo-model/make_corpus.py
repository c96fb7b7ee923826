#!/usr/bin/env python3
"""Writes the training corpus of hayate's demo model, its held-out split and its world documents.

    python3 make_corpus.py --out DIR [--recipe 1|2|3|4] [--check] [--seed 7] [--conversations 400000] [--world-dir world]

Pure Python 3, no packages; the same seed gives the same bytes. DIR receives:
  train.jsonl            {"messages": [...]} one conversation a line ({"text": ...} for plain documents)
  heldout.jsonl          the held-out conversations of every task, in the same form
  heldout_addition.jsonl {"prompt": ChatML up to "<|im_start|>assistant\\n", "answer": "85"}: 2-digit sums
  heldout_world.jsonl    the same for questions about the fictional world, asked with held-out phrasings
  heldout_other.jsonl    the same for subtraction, multiplication, counting and spelling ("task" names which)
  heldout_text.txt       held-out plain text (stories) for perplexity
  stats.json             counts per task
and --world-dir receives one Markdown document per entity of the fictional world (the facts the
world questions ask about; later the RAG demo's documents).

--recipe 4 (the default; recipe4.py) is the corpus of the committed model: seed 7 writes the
train.jsonl and data/ files it was trained and measured on, byte for byte. It is recipe 3
(recipe3.py, the previous model's) with more letter questions and stories among the draws, and
recipe 3 is recipe 2 (recipe2.py) with more arithmetic and products; all three ask world
questions in many more shapes than recipe 1 (the first model's) and spell every word in
training, and their held-out files are the same bytes; --check verifies the written files
against their hold-out rules (check_corpus.py) and writes OUT/check.json.

What is held out: arithmetic problems whose operand pair hashes into the held-out tenth (so a
held-out 2-digit sum was never seen in training, in either order); counting and spelling
questions whose (task, word) pair hashes there; world facts asked with question templates that
training never uses (every fact is in the documents and in training questions phrased otherwise);
stories drawn from a separate random stream and checked to differ from every training story.
Replies are short and exact so that exact-match scoring is well defined: a number for
arithmetic and counting, "c-a-t" for spelling, the bare value (a name, a number) for world facts.
"""

import argparse
import json
import os
import random
import sys
import zlib

SYSTEM = "You are Hayate, a small helpful assistant."
SYSTEMS = [SYSTEM, "You are a helpful assistant.", "You are Hayate. Answer briefly."]
WORLD = "Velmora"


def heldout_key(*parts):
    """True for about a tenth of keys, the same on every run (crc32, not Python's salted hash)."""
    return zlib.crc32(":".join(str(p) for p in parts).encode()) % 10 == 0


def chatml(messages, generation_prompt=False):
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if generation_prompt else "")


# --- the fictional world ----------------------------------------------------------------------

TOWN_NAMES = ["Brackenford", "Ellowmere", "Tarnwick", "Dunhollow", "Saltreach", "Merrowgate", "Fenbury",
              "Oakhaven", "Quillstone", "Rivenby", "Ashcombe", "Wyndle", "Corrowmouth", "Pellingham", "Thistledown"]
RIVER_NAMES = ["Sela", "Ambrel", "Tovin", "Marrow", "Quisk", "Drennet"]
MOUNTAIN_NAMES = ["Mount Orrin", "Mount Feyl", "Mount Caddra", "Mount Belloc", "Mount Ithra"]
WATER_NAMES = ["the Silver Sea", "Lake Normi", "the Grey Sea", "Lake Osca"]
FOOD_NAMES = ["plum bread", "honey cakes", "river pie", "green soup", "salt biscuits", "pepper stew",
              "apple tarts", "smoked eel", "barley buns", "mint jelly", "onion pudding", "cheese rolls",
              "berry wine", "nut toffee", "fish cakes"]
FIRST_NAMES = ["Mira", "Tobin", "Alda", "Corvin", "Essa", "Jory", "Lenna", "Barro", "Wren", "Odel", "Sefa",
               "Hallam", "Ilse", "Pim", "Ruta", "Davin", "Nessa", "Orla", "Quin", "Tamsin", "Ulric", "Vessa",
               "Garrick", "Fenna", "Ketter", "Lisbet", "Marek", "Nim", "Perrin", "Sorrel"]
LAST_NAMES = ["Tolan", "Ashby", "Crane", "Dovetail", "Ember", "Fallow", "Greave", "Holloway", "Ivers", "Jessop",
              "Kettle", "Larkin", "Morrow", "Nettle", "Oakes", "Pruitt", "Quarry", "Rooke", "Selby", "Thorne",
              "Underhill", "Vane", "Whitlock", "Yarrow", "Brindle", "Copper", "Dunmore", "Elwood", "Finch", "Gable"]
JOBS = ["baker", "fisher", "weaver", "smith", "teacher", "farmer", "doctor", "potter", "sailor", "carpenter",
        "miller", "painter", "shepherd", "brewer", "librarian"]
PETS = ["cat", "dog", "goose", "goat", "owl", "rabbit", "tortoise", "parrot", "ferret", "pony"]
INGREDIENTS = ["plums", "honey", "trout", "nettles", "sea salt", "black pepper", "apples", "eels", "barley",
               "mint", "onions", "goat cheese", "blackberries", "hazelnuts", "cod"]
TASTES = ["sweet", "salty", "sour", "bitter", "spicy", "smoky", "mild"]


def make_world(rng):
    towns = [dict(kind="town", name=n) for n in TOWN_NAMES]
    rivers = [dict(kind="river", name=n) for n in RIVER_NAMES]
    mountains = [dict(kind="mountain", name=n, height=rng.randrange(1200, 4800, 10)) for n in MOUNTAIN_NAMES]
    foods = [dict(kind="food", name=n, ingredient=INGREDIENTS[i], taste=rng.choice(TASTES))
             for i, n in enumerate(FOOD_NAMES)]
    for r in rivers:
        r["source"] = rng.choice(MOUNTAIN_NAMES)
        r["mouth"] = rng.choice(WATER_NAMES)
    pairs = [(f, l) for f, l in zip(FIRST_NAMES, rng.sample(LAST_NAMES, len(LAST_NAMES)))]
    people = [dict(kind="person", name=f"{f} {l}", first=f) for f, l in pairs]
    rng.shuffle(foods)
    for i, t in enumerate(towns):
        t["river"] = RIVER_NAMES[i % len(RIVER_NAMES)]
        t["food"] = foods[i]["name"]
        foods[i]["town"] = t["name"]
        t["mayor"] = people[i]["name"]
        people[i]["job"] = "mayor"
        people[i]["town"] = t["name"]
    for p in people[len(towns):]:
        p["job"] = rng.choice(JOBS)
        p["town"] = rng.choice(TOWN_NAMES)
    for p in people:
        p["pet"] = rng.choice(PETS)
    return dict(towns=towns, rivers=rivers, mountains=mountains, foods=foods, people=people)


# (kind, attribute) -> (training templates, held-out templates); {x} is the entity's name.
QUESTIONS = {
    ("town", "river"): (["Which river flows through {x}?", "What river runs through {x}?",
                         "On which river does {x} lie?", "What is the name of the river in {x}?"],
                        ["{x} is on which river?"]),
    ("town", "food"): (["What food is {x} known for?", "What is {x} famous for eating?",
                        "Which dish comes from {x}?", "What should I eat in {x}?"],
                       ["Name the famous food of {x}."]),
    ("town", "mayor"): (["Who is the mayor of {x}?", "Who runs the town of {x}?",
                         "Which person is mayor of {x}?", "Tell me who the mayor of {x} is."],
                        ["Name the mayor of {x}."]),
    ("person", "town"): (["Where does {x} live?", "In which town does {x} live?",
                          "What town is {x} from?", "Which town is home to {x}?"],
                         ["Where is the home of {x}?"]),
    ("person", "job"): (["What is the job of {x}?", "What does {x} do for work?",
                         "What work does {x} do?", "Tell me the job of {x}."],
                        ["What is {x}'s job?"]),
    ("person", "pet"): (["What pet does {x} have?", "Which animal does {x} keep as a pet?",
                         "What kind of pet does {x} keep?", "Tell me about the pet of {x}. What is it?"],
                        ["What animal is {x}'s pet?"]),
    ("river", "source"): (["Where does the river {x} start?", "Which mountain is the source of the river {x}?",
                           "From which mountain does the {x} flow?", "Where is the source of the river {x}?"],
                          ["The river {x} begins on which mountain?"]),
    ("river", "mouth"): (["Where does the river {x} end?", "Into which water does the river {x} flow?",
                          "Where does the {x} river flow to?", "What does the river {x} empty into?"],
                         ["The river {x} ends where?"]),
    ("mountain", "height"): (["How tall is {x}?", "What is the height of {x}?",
                              "How high is {x} in metres?", "Tell me the height of {x}."],
                             ["How many metres high is {x}?"]),
    ("food", "ingredient"): (["What is {x} made from?", "What is the main ingredient of {x}?",
                              "Which ingredient is in {x}?", "What goes into {x}?"],
                             ["Name the main ingredient of {x}."]),
    ("food", "taste"): (["How does {x} taste?", "What is the taste of {x}?",
                         "Is {x} sweet, salty, sour, bitter, spicy, smoky or mild?", "What does {x} taste like?"],
                        ["Describe the taste of {x} in one word."]),
    ("food", "town"): (["Which town is {x} from?", "Where does {x} come from?",
                        "In which town is {x} made?", "What town makes {x}?"],
                       ["{x} is a dish of which town?"]),
}


def fact_answer(entity, attribute):
    value = entity[attribute]
    return f"{value} metres" if attribute == "height" else str(value)


def facts(world):
    out = []
    for group in world.values():
        for e in group:
            for (kind, attribute) in QUESTIONS:
                if kind == e["kind"] and attribute in e:
                    out.append((e, attribute))
    return out


def describe(e):
    """The entity's document text: every fact in plain sentences."""
    n = e["name"]
    if e["kind"] == "town":
        return (f"{n} is a town in the land of {WORLD}. The river {e['river']} flows through {n}. "
                f"The mayor of {n} is {e['mayor']}. {n} is known for its {e['food']}.")
    if e["kind"] == "person":
        job = f"the mayor of {e['town']}" if e["job"] == "mayor" else f"a {e['job']}"
        return (f"{n} lives in {e['town']}, a town in {WORLD}. {e['first']} works as {job}. "
                f"{e['first']} has a pet {e['pet']}.")
    if e["kind"] == "river":
        return (f"The {n} is a river in {WORLD}. It starts on {e['source']} and flows into {e['mouth']}.")
    if e["kind"] == "mountain":
        return f"{n} is a mountain in {WORLD}. It is {e['height']} metres high."
    return (f"{n[0].upper() + n[1:]} is a dish from {e['town']} in {WORLD}. It is made from {e['ingredient']} "
            f"and tastes {e['taste']}.")


def slug(name):
    return name.lower().replace(" ", "-")


def write_world(world, world_dir):
    os.makedirs(world_dir, exist_ok=True)
    index = [f"# The land of {WORLD}", "", f"{WORLD} is a fictional land made up for hayate's demo model. "
             "Every fact below is invented; the demo model was trained on these documents."]
    for group, entities in world.items():
        index += ["", f"## {group.capitalize()}", ""]
        for e in entities:
            title = e["name"][0].upper() + e["name"][1:]
            path = os.path.join(world_dir, f"{e['kind']}-{slug(e['name'])}.md")
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"# {title}\n\n{describe(e)}\n")
            index.append(f"- [{title}]({os.path.basename(path)})")
    with open(os.path.join(world_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(index) + "\n")


# --- the other tasks --------------------------------------------------------------------------

ADD_TEMPLATES = ["What is {a} + {b}?", "{a} + {b} = ?", "Compute {a} + {b}.", "What is {a} plus {b}?",
                 "Add {a} and {b}.", "What's the sum of {a} and {b}?", "Calculate {a}+{b}."]
SUB_TEMPLATES = ["What is {a} - {b}?", "{a} - {b} = ?", "Compute {a} - {b}.", "What is {a} minus {b}?",
                 "Subtract {b} from {a}.", "Calculate {a}-{b}."]
MUL_TEMPLATES = ["What is {a} * {b}?", "{a} * {b} = ?", "Compute {a} * {b}.", "What is {a} times {b}?",
                 "Multiply {a} by {b}.", "What is {a} x {b}?"]
OPS = {"+": (ADD_TEMPLATES, lambda a, b: a + b), "-": (SUB_TEMPLATES, lambda a, b: a - b),
       "*": (MUL_TEMPLATES, lambda a, b: a * b)}

WORDS = ("cat dog sun moon tree river apple bread house water stone cloud green happy quick little garden "
         "window mountain yellow purple orange banana pencil rabbit turtle castle dragon flower summer winter "
         "spring autumn basket candle button carrot kitten puppy forest island rocket planet silver golden "
         "friend school teacher letter number simple engine bottle butter cookie pillow blanket shadow thunder "
         "rainbow lemon cherry grape melon tiger zebra monkey parrot salmon spider beetle ladder mirror rocket "
         "wagon anchor bridge tunnel meadow harbor lantern marble needle pocket puzzle saddle tomato violin "
         "whistle yogurt zipper acorn badger cactus dolphin falcon giraffe hammer igloo jacket kettle lizard "
         "magnet noodle ostrich pepper quilt raven sandal tulip umbrella walrus yak fox owl ant bee cow pig hen "
         "egg cup hat bag box pen map key bed car bus ship boat train plane road door wall roof floor chair "
         "table spoon fork knife plate bowl glass milk cheese honey sugar salt rice soup cake pie tea "
         "a at in on up is it go no yes red blue pink black white brown grey book song game ball kite drum "
         "bell ring star rain snow wind fire ice sand rock leaf seed root bark nest wing tail horn paw").split()
WORDS = sorted(set(WORDS), key=WORDS.index)

SPELL_TEMPLATES = {
    "length": (["How many letters are in the word {w}?", "How many letters does \"{w}\" have?",
                "Count the letters in {w}."], lambda w: str(len(w))),
    "spell": (["Spell {w}.", "How do you spell {w}?", "Spell the word \"{w}\" letter by letter."],
              lambda w: "-".join(w)),
    "first": (["What is the first letter of {w}?", "Which letter does {w} start with?"], lambda w: w[0]),
    "last": (["What is the last letter of {w}?", "Which letter does {w} end with?"], lambda w: w[-1]),
}

ANIMALS = ["fox", "rabbit", "bear", "owl", "mouse", "duck", "frog", "cat", "dog", "goat", "hedgehog", "otter"]
STORY_NAMES = ["Pip", "Lulu", "Bram", "Tilly", "Oskar", "Mabel", "Finn", "Rosie", "Toby", "Hazel", "Milo", "Poppy"]
PLACES = ["a quiet forest", "a small village", "a green valley", "a big farm", "a windy hill", "a sunny meadow",
          "an old garden", "a little island", "a snowy wood", "a busy town"]
WANTS = ["to find a shiny stone", "to see the sea", "to bake a cake", "to make a new friend", "to climb a tall tree",
         "to learn to sing", "to build a boat", "to find the lost key", "to fly a red kite", "to grow a big carrot"]
PROBLEMS = ["the path was long", "it began to rain", "the river was too wide", "a cold wind blew",
            "the night grew dark", "the hill was very steep", "a storm came", "the box was very heavy"]
HELPERS = ["a kind owl", "an old turtle", "a brave squirrel", "a wise goat", "a friendly duck", "a little bee"]
ENDINGS = ["That night, {n} slept with a big smile.", "{n} was happy and tired.",
           "From that day on, {n} and the new friend did everything together.",
           "{n} learned that asking for help is a good thing.", "And {n} never forgot that day.",
           "{n} went home singing."]


def story(rng):
    n, animal = rng.choice(STORY_NAMES), rng.choice(ANIMALS)
    helper = rng.choice(HELPERS)
    lines = [f"Once upon a time, a little {animal} named {n} lived in {rng.choice(PLACES)}.",
             f"One day, {n} wanted {rng.choice(WANTS)}.",
             f"But {rng.choice(PROBLEMS)}, and {n} felt {rng.choice(['sad', 'scared', 'worried', 'unsure'])}.",
             f"Then {helper} came by and said, \"Let me help you.\"",
             f"Together they {rng.choice(['kept going', 'found a way', 'tried again', 'worked hard'])}, "
             f"and at last {n} did it.",
             rng.choice(ENDINGS).format(n=n)]
    return n, animal, " ".join(lines)


STORY_REQUESTS = ["Tell me a short story about {n} the {a}.", "Write a story about a {a} named {n}.",
                  "Can you tell me a story about a little {a}?", "Tell me a bedtime story."]

SMALL_TALK = [
    (["Hello!", "Hi!", "Hello", "Hi there!", "Hey!", "Good morning!", "Good evening!"],
     ["Hello! How can I help you today?", "Hi! What would you like to talk about?"]),
    (["How are you?", "How are you today?", "How is it going?"],
     ["I am fine, thank you! How can I help you?", "I am well, thanks for asking. What can I do for you?"]),
    (["What is your name?", "Who are you?", "What are you?"],
     [f"I am Hayate, a tiny language model made by the hayate project. I can add, subtract and multiply "
      f"small numbers, count and spell words, tell short stories and answer questions about the land of {WORLD}."]),
    (["What can you do?", "What do you know?", "How can you help me?"],
     [f"I can do simple arithmetic, count and spell words, tell short stories and answer questions about "
      f"the towns, people, rivers, mountains and foods of {WORLD}."]),
    (["Thank you!", "Thanks!", "Thanks a lot.", "Thank you very much."],
     ["You are welcome!", "Happy to help!"]),
    (["Goodbye!", "Bye!", "See you later.", "Good night!"], ["Goodbye! Have a nice day.", "Bye! Come back soon."]),
    ([f"Tell me about {WORLD}.", f"What is {WORLD}?", "Where do you come from?"],
     [f"{WORLD} is a small land of {len(TOWN_NAMES)} towns, {len(RIVER_NAMES)} rivers and "
      f"{len(MOUNTAIN_NAMES)} mountains. Ask me about its towns, people, rivers, mountains or foods."]),
    (["What is the capital of France?", "Who wrote Hamlet?", "What is the weather today?",
      "Who is the president?", "What year is it?", "How far away is the moon?", "What is Python?",
      "Who won the last world cup?", "What is the tallest mountain on Earth?", "Where is Tokyo?"],
     [f"I don't know. I am a tiny model and I only know about simple sums, words, stories and the land of {WORLD}."]),
    (["Tell me a joke.", "Say something funny."],
     ["Why did the cat sit on the computer? To keep an eye on the mouse!",
      "What do you call a sleeping bull? A bulldozer!"]),
    (["Are you a human?", "Are you alive?"], ["No, I am a small computer program that writes text."]),
]


class Corpus:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.world = make_world(random.Random(seed * 1000 + 1))
        self.facts = facts(self.world)
        self.entities = [e for g in self.world.values() for e in g]
        self.stories = set()

    # Each task returns one (user, assistant) turn, or None when the drawn item is held out.
    def arithmetic(self, op, a, b, template=None):
        templates, fn = OPS[op]
        return (template or self.rng.choice(templates)).format(a=a, b=b), str(fn(a, b))

    @staticmethod
    def arithmetic_heldout(op, a, b):
        key = (op, min(a, b), max(a, b)) if op in "+*" else (op, a, b)
        return heldout_key(*key)

    # Upper bounds of the draw inside arithmetic: 2-digit sums, mixed-width sums, differences, products.
    arithmetic_mix = (0.45, 0.60, 0.80)

    def draw_arithmetic(self):
        r = self.rng.random()
        two_digit_sums, sums, differences = self.arithmetic_mix
        digits = lambda n: self.rng.randint(10 ** (n - 1) if n > 1 else 0, 10 ** n - 1)  # noqa: E731
        if r < two_digit_sums:
            op, a, b = "+", digits(2), digits(2)
        elif r < sums:
            op, a, b = "+", digits(self.rng.randint(1, 3)), digits(self.rng.randint(1, 3))
        elif r < differences:
            op, a, b = "-", digits(self.rng.randint(1, 3)), digits(self.rng.randint(1, 3))
            a, b = max(a, b), min(a, b)
        else:
            op, a, b = "*", digits(self.rng.randint(1, 2)), digits(1 if self.rng.random() < 0.6 else 2)
            if self.rng.random() < 0.1:
                a = digits(3)
        if self.arithmetic_heldout(op, a, b):
            return None
        return self.arithmetic(op, a, b)

    def draw_world(self):
        e, attribute = self.rng.choice(self.facts)
        train, _ = QUESTIONS[(e["kind"], attribute)]
        return self.rng.choice(train).format(x=e["name"]), fact_answer(e, attribute)

    def draw_about(self):
        e = self.rng.choice(self.entities)
        q = self.rng.choice(["Tell me about {x}.", "What do you know about {x}?", "Who is {x}?" if e["kind"] ==
                             "person" else "What is {x}?"]).format(x=e["name"])
        return q, describe(e)

    @staticmethod
    def word_heldout(task, word):
        return heldout_key(task, word)

    def choose_word_task(self):
        """Which SPELL_TEMPLATES task a word question asks (recipe4.py weights them)."""
        return self.rng.choice(list(SPELL_TEMPLATES))

    def draw_word_task(self):
        task = self.choose_word_task()
        w = self.rng.choice(WORDS)
        if self.word_heldout(task, w):
            return None
        templates, fn = SPELL_TEMPLATES[task]
        return self.rng.choice(templates).format(w=w), fn(w)

    def draw_story(self):
        n, a, text = story(self.rng)
        self.stories.add(text)
        return self.rng.choice(STORY_REQUESTS).format(n=n, a=a), text

    def draw_small_talk(self):
        users, replies = self.rng.choice(SMALL_TALK)
        return self.rng.choice(users), self.rng.choice(replies)

    def draw_turn(self):
        r = self.rng.random()
        for limit, draw in ((0.40, self.draw_arithmetic), (0.68, self.draw_world), (0.73, self.draw_about),
                            (0.85, self.draw_word_task), (0.92, self.draw_story), (1.0, self.draw_small_talk)):
            if r < limit:
                turn = draw()
                return turn if turn is not None else self.draw_turn()
        raise AssertionError("unreachable")

    def conversation(self):
        messages = []
        if self.rng.random() < 0.6:
            messages.append({"role": "system", "content": self.rng.choice(SYSTEMS)})
        while True:
            user, assistant = self.draw_turn()
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
            if self.rng.random() > 0.25 or len(messages) >= 7:
                return {"messages": messages}

    def coverage_rows(self):
        """Rows that training must hold whatever its size (recipe 2 has some; recipe 1 none)."""
        return []

    def world_heldout_items(self):
        items = []
        for e, attribute in self.facts:
            for template in QUESTIONS[(e["kind"], attribute)][1]:
                items.append(eval_item(template.format(x=e["name"]), fact_answer(e, attribute), f"world_{attribute}"))
        return items

    def document(self):
        if self.rng.random() < 0.5:
            e = self.rng.choice(self.entities)
            return {"text": f"# {e['name'][0].upper() + e['name'][1:]}\n\n{describe(e)}\n"}
        _, _, text = story(self.rng)
        self.stories.add(text)
        return {"text": text + "\n"}


def eval_item(user, answer, task):
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    return {"prompt": chatml(messages, generation_prompt=True), "answer": answer, "task": task}


def heldout(corpus, seed):
    rng = random.Random(seed * 1000 + 2)
    addition, world, other = [], [], []
    for a in range(10, 100):
        for b in range(a, 100):
            if Corpus.arithmetic_heldout("+", a, b):
                x, y = (a, b) if rng.random() < 0.5 else (b, a)
                addition.append(eval_item(f"What is {x} + {y}?", str(x + y), "addition_2digit"))
    world = corpus.world_heldout_items()
    found = {"-": 0, "*": 0}
    while min(found.values()) < 100:
        op = rng.choice("-*")
        a, b = (rng.randint(10, 999), rng.randint(1, 99)) if op == "-" else (rng.randint(2, 99), rng.randint(2, 9))
        if op == "-" and a < b:
            a, b = b, a
        if found[op] < 100 and Corpus.arithmetic_heldout(op, a, b):
            found[op] += 1
            other.append(eval_item(f"What is {a} {op} {b}?", str(OPS[op][1](a, b)),
                                   "subtraction" if op == "-" else "multiplication"))
    for task, (templates, fn) in SPELL_TEMPLATES.items():
        for w in WORDS:
            if corpus.word_heldout(task, w):
                other.append(eval_item(templates[0].format(w=w), fn(w), f"word_{task}"))
    texts = []
    while len(texts) < 80:
        _, _, text = story(rng)
        if text not in corpus.stories and text not in texts:
            texts.append(text)
    return addition, world, other, texts


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def as_conversation(item):
    """An eval item back as messages (for heldout.jsonl)."""
    return {"messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": item["prompt"].split("<|im_start|>user\n")[1].split("<|im_end|>")[0]},
                         {"role": "assistant", "content": item["answer"]}], "task": item["task"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for train.jsonl and the held-out files")
    parser.add_argument("--world-dir", help="folder for the world's Markdown documents (default OUT/world)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--conversations", type=int, default=400000)
    parser.add_argument("--documents", type=int, default=40000, help="plain-text documents mixed into training")
    parser.add_argument("--recipe", type=int, choices=(1, 2, 3, 4), default=4,
                        help="4: the committed model's corpus (recipe 3 with more letter tasks and stories; "
                        "recipe4.py); 3: the previous model's (recipe3.py); 2: the one before (recipe2.py); "
                        "1: the first model's")
    parser.add_argument("--check", action="store_true",
                        help="recipes 2 to 4: verify the written files (check_corpus.py)")
    args = parser.parse_args()
    if args.check and args.recipe == 1:
        parser.error("--check verifies the hold-out rules of recipes 2 to 4; recipe 1 has none")

    os.makedirs(args.out, exist_ok=True)
    if args.recipe >= 2:
        sys.modules.setdefault("make_corpus", sys.modules[__name__])  # recipe2/3 import this module by name
        import recipe2
        import recipe3
        import recipe4
        corpus = {2: recipe2.CorpusV2, 3: recipe3.CorpusV3, 4: recipe4.CorpusV4}[args.recipe](args.seed)
    else:
        corpus = Corpus(args.seed)
    write_world(corpus.world, args.world_dir or os.path.join(args.out, "world"))
    rows = [corpus.conversation() for _ in range(args.conversations)]
    rows += [corpus.document() for _ in range(args.documents)]
    coverage = corpus.coverage_rows()
    rows += coverage
    corpus.rng.shuffle(rows)
    write_jsonl(os.path.join(args.out, "train.jsonl"), rows)

    addition, world, other, texts = heldout(corpus, args.seed)
    train_prompts = set()
    for row in rows:
        for m in row.get("messages", []):
            if m["role"] == "user":
                train_prompts.add(m["content"])
    leaked = [i for i in addition + world + other
              if i["prompt"].split("user\n")[1].split("<|im_end|>")[0] in train_prompts]
    if leaked:
        raise SystemExit(f"internal error: {len(leaked)} held-out questions occur in training, e.g. {leaked[0]}")
    write_jsonl(os.path.join(args.out, "heldout_addition.jsonl"), addition)
    write_jsonl(os.path.join(args.out, "heldout_world.jsonl"), world)
    write_jsonl(os.path.join(args.out, "heldout_other.jsonl"), other)
    stories = [{"messages": [{"role": "user", "content": "Tell me a bedtime story."},
                             {"role": "assistant", "content": t}], "task": "story"} for t in texts]
    write_jsonl(os.path.join(args.out, "heldout.jsonl"), [as_conversation(i) for i in addition + world + other] + stories)
    with open(os.path.join(args.out, "heldout_text.txt"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(texts) + "\n")

    stats = {"seed": args.seed, "train_rows": len(rows), "conversations": args.conversations,
             "documents": args.documents, "entities": len(corpus.entities), "facts": len(corpus.facts),
             "heldout_addition": len(addition), "heldout_world": len(world), "heldout_other": len(other),
             "heldout_stories": len(texts)}
    if args.recipe != 1:  # recipe 1's stats.json stays as committed in data/
        stats.update({"recipe": args.recipe, "coverage_rows": len(coverage)})
    with open(os.path.join(args.out, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=2)
        f.write("\n")
    print(json.dumps(stats))
    if args.check:
        import check_corpus
        problems = check_corpus.check(args.out, corpus)
        if problems:
            raise SystemExit(f"corpus check failed: {len(problems)} problems, e.g. {problems[:3]}")


if __name__ == "__main__":
    main()
