"""Recipe 2 of the demo model's corpus (make_corpus.py --recipe 2): world questions in many shapes.

Recipe 1's model learned each world fact behind the four phrasings it saw and could not answer
it in a fifth shape (MODEL_CARD.md). Recipe 2 asks every fact in 17 training phrasings and holds
out two more per attribute, built so that the held-out test measures whether a fact moves to a
sentence shape the model knows, not whether it parses a grammar it never saw:

- A *frame* is a sentence shape with two slots, the attribute's phrase {a} ("river", "home town")
  and the entity {x}: "{x} has which {a}?". All 12 frames are filled with every attribute's phrase.
- For each attribute, two frames (one entity-first) are held out; the other 10 frames and 7
  hand-written free templates are its training phrasings.
- The shape rule, which check_corpus.py verifies on the written files: a held-out question is a
  frame F filled with attribute A's phrase; F is never used for A in training, F is used in
  training for at least MIN_SHAPE_ATTRIBUTES other attributes, and A's phrase occurs in at least
  MIN_PHRASE_TEMPLATES of A's training templates.

Everything else (arithmetic, stories, small talk, the world's facts) is recipe 1's; word tasks
differ only in that every word is spelled in training (only length / first / last are held out).
"""

from collections import namedtuple

import make_corpus as mc

MIN_SHAPE_ATTRIBUTES = 8
MIN_PHRASE_TEMPLATES = 5

# The turn mix: (upper bound of the uniform draw, task). Recipe 1: arithmetic 0.40, world 0.28.
MIX = (("arithmetic", 0.28), ("world", 0.68), ("about", 0.73), ("word", 0.85), ("story", 0.92),
       ("small_talk", 1.0))

# (text, entity_first). Frames 0-7 put the entity last, 8-11 first.
FRAMES = [
    ("What is the {a} of {x}?", False),
    ("Tell me the {a} of {x}.", False),
    ("Name the {a} of {x}.", False),
    ("Do you know the {a} of {x}?", False),
    ("What is {x}'s {a}?", False),
    ("The {a} of {x} is what?", False),
    ("Please give the {a} of {x}.", False),
    ("I would like to know the {a} of {x}.", False),
    ("{x}'s {a} is what?", True),
    ("{x} has which {a}?", True),
    ("{x}: what is the {a}?", True),
    ("{x}, tell me the {a}.", True),
]

# attribute -> (phrase, held-out frames (entity-last, entity-first), free training templates).
# Free templates are never a frame with one word changed, so a held-out frame has no near twin.
ATTRIBUTES = {
    ("town", "river"): ("river", (3, 9), [
        "Which river flows through {x}?", "What river runs through {x}?", "On which river does {x} lie?",
        "What is the name of the river in {x}?", "{x} is on which river?", "{x} lies on which river?",
        "{x} stands beside which river?"]),
    ("town", "food"): ("famous food", (0, 10), [
        "What food is {x} known for?", "What is {x} famous for eating?", "Which dish comes from {x}?",
        "What should I eat in {x}?", "{x} is known for which food?", "{x} is famous for what dish?",
        "In {x}, which dish do people love?"]),
    ("town", "mayor"): ("mayor", (6, 11), [
        "Who is the mayor of {x}?", "Who runs the town of {x}?", "Which person is mayor of {x}?",
        "Tell me who the mayor of {x} is.", "Who is in charge of {x}?", "{x} is led by whom?",
        "{x} is run by which person?"]),
    ("person", "town"): ("home town", (7, 8), [
        "Where does {x} live?", "In which town does {x} live?", "What town is {x} from?",
        "Which town is home to {x}?", "Where is the home of {x}?", "{x} lives in which town?",
        "{x} comes from which town?"]),
    ("person", "job"): ("job", (5, 10), [
        "What does {x} do for work?", "What work does {x} do?", "{x} works as what?",
        "{x} does what for a living?", "How does {x} earn a living?", "Which job does {x} do?",
        "What kind of work does {x} do?"]),
    ("person", "pet"): ("pet", (4, 9), [
        "What pet does {x} have?", "Which animal does {x} keep as a pet?", "What kind of pet does {x} keep?",
        "Tell me about the pet of {x}. What is it?", "What animal is {x}'s pet?",
        "{x}'s pet is what kind of animal?", "{x} keeps which animal?"]),
    ("river", "source"): ("source", (1, 11), [
        "Where does the river {x} start?", "Which mountain is the source of the river {x}?",
        "From which mountain does the {x} flow?", "Where is the source of the river {x}?",
        "The river {x} begins on which mountain?", "The {x} rises on which mountain?",
        "The river {x} flows from which mountain?"]),
    ("river", "mouth"): ("mouth", (2, 8), [
        "Where does the river {x} end?", "Into which water does the river {x} flow?",
        "Where does the {x} river flow to?", "What does the river {x} empty into?", "The river {x} ends where?",
        "The {x} flows into which water?", "The river {x} runs into what?"]),
    ("mountain", "height"): ("height", (5, 11), [
        "How tall is {x}?", "How high is {x} in metres?", "How many metres high is {x}?", "{x} is how tall?",
        "{x} is how many metres high?", "How high does {x} rise?", "How high is {x}?"]),
    ("food", "ingredient"): ("main ingredient", (4, 8), [
        "What is {x} made from?", "Which ingredient is in {x}?", "What goes into {x}?", "{x} is made from what?",
        "{x} is made with which ingredient?", "What do cooks put in {x}?", "What is {x} made of?"]),
    ("food", "taste"): ("taste", (7, 9), [
        "How does {x} taste?", "Is {x} sweet, salty, sour, bitter, spicy, smoky or mild?",
        "What does {x} taste like?", "Describe the taste of {x} in one word.", "{x} tastes how?",
        "{x} tastes like what?", "Which word describes how {x} tastes?"]),
    ("food", "town"): ("home town", (6, 10), [
        "Which town is {x} from?", "Where does {x} come from?", "In which town is {x} made?",
        "What town makes {x}?", "{x} is a dish of which town?", "{x} comes from which town?",
        "{x} is made in which town?"]),
}

# text: with {x} for the entity's name; frame: the FRAMES index, or None for a free template.
Template = namedtuple("Template", "text frame entity_first")


def entity_first(text):
    """True when nothing but an article (and "river") comes before the entity."""
    return text.split("{x}")[0].lower() in ("", "the ", "the river ")


def frame_template(kind, phrase, index):
    text = FRAMES[index][0].replace("{a}", phrase)
    if kind == "river":  # a river is named "the river Sela" in a frame, as the free templates do
        text = text.replace("{x}", "the river {x}")
    return Template(text, index, entity_first(text))


def templates(key):
    """(training templates, held-out templates) of one (kind, attribute)."""
    phrase, held, free = ATTRIBUTES[key]
    framed = [frame_template(key[0], phrase, i) for i in range(len(FRAMES))]
    train = [t for t in framed if t.frame not in held] + [Template(t, None, entity_first(t)) for t in free]
    return train, [framed[i] for i in held]


def render(template, entity):
    text = template.text.format(x=entity["name"])
    return text[0].upper() + text[1:]


class CorpusV2(mc.Corpus):
    mix = MIX  # recipe 3 (recipe3.py) overrides it

    def __init__(self, seed):
        super().__init__(seed)
        self.tables = {key: templates(key) for key in ATTRIBUTES}

    def draw_world(self):
        e, attribute = self.rng.choice(self.facts)
        train, _ = self.tables[(e["kind"], attribute)]
        return render(self.rng.choice(train), e), mc.fact_answer(e, attribute)

    @staticmethod
    def word_heldout(task, word):
        return task != "spell" and mc.heldout_key(task, word)

    def draw_turn(self):
        r = self.rng.random()
        draws = {"arithmetic": self.draw_arithmetic, "world": self.draw_world, "about": self.draw_about,
                 "word": self.draw_word_task, "story": self.draw_story, "small_talk": self.draw_small_talk}
        for task, limit in self.mix:
            if r < limit:
                turn = draws[task]()
                return turn if turn is not None else self.draw_turn()
        raise AssertionError("unreachable")

    def coverage_rows(self):
        """One conversation for every (fact, training template) and one spelling of every word: each
        phrasing of each fact and each word's spelling is in training whatever the corpus size, so
        the checker's rules hold for small runs too."""
        turns = [(render(t, e), mc.fact_answer(e, attribute))
                 for e, attribute in self.facts for t in self.tables[(e["kind"], attribute)][0]]
        spell_templates, spell = mc.SPELL_TEMPLATES["spell"]
        turns += [(self.rng.choice(spell_templates).format(w=w), spell(w)) for w in mc.WORDS]
        rows = []
        for user, assistant in turns:
            messages = [{"role": "system", "content": self.rng.choice(mc.SYSTEMS)}] if self.rng.random() < 0.6 else []
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
            rows.append({"messages": messages})
        return rows

    def world_heldout_items(self):
        items = []
        for e, attribute in self.facts:
            for t in self.tables[(e["kind"], attribute)][1]:
                item = mc.eval_item(render(t, e), mc.fact_answer(e, attribute), f"world_{e['kind']}_{attribute}")
                item["shape"] = "entity_first" if t.entity_first else "entity_last"
                items.append(item)
        return items
