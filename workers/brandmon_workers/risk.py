"""Built-in brand-risk categories: which kinds of damage a caption reports, with evidence.

The pure matching core (no I/O) over the taxonomy in `risk_lexicon.py`. A caption is read
once (`textnorm`: folded, de-obfuscated, hashtags split) and its words are stemmed for the
languages it is matched in: the most likely of the taxonomy's languages (py3langid,
restricted to en/es/de/fr/pt/it) and English, which brand posts mix into every language
("#boycott", "data breach"). A cue phrase matches a run of words:

- a plain word matches a word with the same Snowball stem in the cue's language
  ("recall" matches "recalls", "recalled", "RECALLING", "#Recall");
- `word*` matches a word starting with `word`, `*word` a word ending with it;
- `...` lets up to three words sit in between ("battery ... explod*" matches "battery
  on my phone exploded"), six in an `unless` phrase.

A cue is cancelled when an `unless` phrase of the same language covers one of its words
("can't recall", "killer battery"). Each category reports its strong and weak cues found;
`category_scores` turns them into a score: the category's weight when a strong cue was
found, else, when only weak cues were, a quarter of the weight times how far past
neutral the post's negativity or toxicity is (0 up to 0.5, 1 at 1: a topic word alone is
not damage, a topic word in an angry post is some evidence), else nothing.

`A & B` in a cue means both phrases, anywhere in the post ("layoffs & bonus*");
`=word` matches that exact word only, for words whose stem is a common word ("=fined":
the stem of "fined" is "fine"; "=accessibility": its stem is that of "accessed").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from brandmon_workers import textnorm
from brandmon_workers.risk_lexicon import LANGUAGES, TAXONOMY, CategoryLexicon

_GAP = 3  # words a '...' may skip in a cue
# ...and in an unless phrase: harmless context ("the outage this morning has been
# resolved") may sit further from the cue than a cue's own words do.
_UNLESS_GAP = 6
# Shorter words are too ambiguous to fill a mask or split a hashtag after ("#thebomb").
MIN_KNOWN_WORD = 4
# Words this short are not matched in a fallback language (see _without_short_words).
_SHORT_WORD = 3
# Weak cues are topic words, not damage: at most a quarter of the category's weight, so a
# very negative post with a weak cue alerts only with other evidence. The trained
# sentiment head is confident on ordinary complaints ("I want a refund": P(negative)
# 0.94), which are not damage on their own.
WEAK_SHARE = 0.25

# Words people mask with '*' or '#' ("f***ing", "sh#t"), beside every word of the
# taxonomy: de-obfuscation fills a mask only with a word it knows.
_MASKABLE_TEXT = (
    "fuck fucking fucked fucker fuckers fuckin motherfucker motherfuckers shit shitty"
    " bullshit shithole shitshow asshole assholes ass bitch bitches bastard bastards damn"
    " crap crappy cunt cunts dick dickhead dickheads piss pissed prick twat wanker idiot"
    " idiots moron morons retard retarded retards scam scammers hell sucks scheisse scheiss"
    " arschloch arschlocher wichser merde putain connard connards encule encules mierda puta"
    " puto putos joder gilipollas cabron cabrones merda porra caralho foda fodase cazzo"
    " stronzo stronzi vaffanculo coglioni"
)
MASKABLE = tuple(_MASKABLE_TEXT.split())


@dataclass(frozen=True, slots=True)
class _Element:
    kind: str  # "stem", "prefix", "suffix" or "gap"
    value: str


@dataclass(frozen=True, slots=True)
class _Cue:
    category: str
    language: str
    phrase: str
    elements: tuple[_Element, ...]
    strong: bool
    also: tuple[tuple[_Element, ...], ...] = ()  # parts that must appear anywhere too


@dataclass(frozen=True, slots=True)
class CueMatch:
    """A cue found in a caption: its category, whether it is strong, and the words."""

    category: str
    strong: bool
    evidence: str
    language: str
    span: tuple[int, int] = (0, 0)
    """Positions of the (first part of the) match in the words: [start, end)."""


@dataclass(frozen=True, slots=True)
class CategoryScore:
    """A category's contribution to a post's text risk, and why."""

    category: str
    label: str
    score: float
    strong: bool
    evidence: tuple[str, ...]


def _phrases(text: str) -> list[str]:
    return [p.strip() for p in text.split("|") if p.strip()]


def _compile(phrase: str, language: str, gap: int = _GAP) -> tuple[_Element, ...]:
    elements: list[_Element] = []
    for raw in textnorm.fold(phrase).split():
        if raw == "...":
            elements.append(_Element("gap", str(gap)))
        elif raw.endswith("*"):
            elements.append(_Element("prefix", raw.rstrip("*")))
        elif raw.startswith("*"):
            elements.append(_Element("suffix", raw.lstrip("*")))
        elif raw.startswith("="):
            elements.append(_Element("exact", raw.lstrip("=")))
        else:
            for word in textnorm.words(raw):
                elements.append(_Element("stem", textnorm.stems([word], language)[0]))
    while elements and elements[0].kind == "gap":
        elements.pop(0)
    while elements and elements[-1].kind == "gap":
        elements.pop()
    return tuple(elements)


class _Index:
    """Cues of one language indexed by what their first word must be."""

    def __init__(self, cues: Iterable[_Cue]) -> None:
        self.by_stem: dict[str, list[_Cue]] = {}
        self.by_prefix: dict[str, list[_Cue]] = {}
        self.by_suffix: dict[str, list[_Cue]] = {}
        self.by_exact: dict[str, list[_Cue]] = {}
        for cue in cues:
            first = cue.elements[0]
            table = {
                "stem": self.by_stem,
                "prefix": self.by_prefix,
                "suffix": self.by_suffix,
                "exact": self.by_exact,
            }
            table[first.kind].setdefault(first.value, []).append(cue)
        # Only affixes of the lengths the cues have are looked up.
        self.prefix_lengths = sorted({len(p) for p in self.by_prefix})
        self.suffix_lengths = sorted({len(p) for p in self.by_suffix})

    def starting_at(self, word: str, stem: str) -> list[_Cue]:
        found = list(self.by_stem.get(stem, ()))
        found.extend(self.by_exact.get(word, ()))
        for length in self.prefix_lengths:
            if length > len(word):
                break
            found.extend(self.by_prefix.get(word[:length], ()))
        for length in self.suffix_lengths:
            if length > len(word):
                break
            found.extend(self.by_suffix.get(word[-length:], ()))
        return found


def _element_matches(element: _Element, word: str, stem: str) -> bool:
    if element.kind == "stem":
        return stem == element.value
    if element.kind == "prefix":
        return word.startswith(element.value)
    if element.kind == "exact":
        return word == element.value
    return word.endswith(element.value)


def _match_at(
    elements: Sequence[_Element], words: Sequence[str], stems: Sequence[str], start: int
) -> int | None:
    """Return the end (exclusive) of a match of the elements starting at `start`, if any."""

    def walk(e: int, i: int) -> int | None:
        if e == len(elements):
            return i
        element = elements[e]
        if element.kind == "gap":
            for skip in range(int(element.value) + 1):
                end = walk(e + 1, i + skip)
                if end is not None:
                    return end
            return None
        if i < len(words) and _element_matches(element, words[i], stems[i]):
            return walk(e + 1, i + 1)
        return None

    return walk(0, start)


def _find(
    elements: Sequence[_Element], words: Sequence[str], stems: Sequence[str], covered: set[int]
) -> str | None:
    """Return the words of the first match of the elements anywhere, or None."""
    for i in range(len(words)):
        end = _match_at(elements, words, stems, i)
        if end is not None and not covered.intersection(range(i, end)):
            return " ".join(words[i:end])
    return None


def _without_short_words(words: Sequence[str], stems: Sequence[str]) -> list[str]:
    """Blank the stems of short words, for a language the caption is not mainly in.

    Short words are mostly another language's function words, and some share a stem
    with a cue ("die", the German article, is the stem of "died").
    """
    return [
        stem if len(word) > _SHORT_WORD else "" for word, stem in zip(words, stems, strict=True)
    ]


class CategoryMatcher:
    """The taxonomy compiled once, matched against many captions."""

    def __init__(self, taxonomy: Sequence[CategoryLexicon] = TAXONOMY) -> None:
        self.categories = {c.name: c for c in taxonomy}
        cues: dict[str, list[_Cue]] = {lang: [] for lang in LANGUAGES}
        unless: dict[str, list[_Cue]] = {lang: [] for lang in LANGUAGES}
        vocabulary: set[str] = set(MASKABLE)
        for category in taxonomy:
            for strong, table in ((True, category.strong), (False, category.weak)):
                for language, text in table.items():
                    for phrase in _phrases(text):
                        first, *rest = (_compile(p, language) for p in phrase.split("&"))
                        if first and all(rest):
                            cues[language].append(
                                _Cue(category.name, language, phrase, first, strong, tuple(rest))
                            )
                        vocabulary.update(
                            w
                            for w in textnorm.words(textnorm.fold(phrase))
                            if len(w) >= MIN_KNOWN_WORD
                        )
            for language, text in category.unless.items():
                for phrase in _phrases(text):
                    elements = _compile(phrase, language, _UNLESS_GAP)
                    if elements:
                        unless[language].append(
                            _Cue(category.name, language, phrase, elements, strong=False)
                        )
        self._cues = {lang: _Index(c) for lang, c in cues.items()}
        self._unless = {lang: _Index(c) for lang, c in unless.items()}
        self.words = frozenset(vocabulary)

    def harmless(self, words: Sequence[str], languages: Sequence[str]) -> set[int]:
        """Return the positions of words read in a harmless sense ("can't recall")."""
        positions: set[int] = set()
        for language in languages:
            if language in self._unless:
                stems = textnorm.stems(words, language)
                for start, end, _ in self._spans(self._unless[language], words, stems):
                    positions.update(range(start, end))
        return positions

    def matches(self, words: Sequence[str], languages: Sequence[str]) -> list[CueMatch]:
        """Return the cues found in already normalised words, for the given languages."""
        found: list[CueMatch] = []
        seen: set[tuple[str, str]] = set()
        for rank, language in enumerate(languages):
            if language not in self._cues:
                continue
            stems = textnorm.stems(words, language)
            if rank > 0 and rank == len(languages) - 1:  # the fallback, not a close call
                stems = _without_short_words(words, stems)
            blocked = self._spans(self._unless[language], words, stems)
            covered = set().union(*(range(s, e) for s, e, _ in blocked)) if blocked else set()
            spans = [
                (start, end, cue)
                for start, end, cue in self._spans(self._cues[language], words, stems)
                if not covered.intersection(range(start, end))
            ]
            for start, end, cue in spans:
                # "breach" inside "data breach" is the same evidence: keep the longer one.
                if any(
                    other.category == cue.category
                    and other.strong >= cue.strong
                    and s <= start
                    and end <= e
                    and (s, e) != (start, end)
                    for s, e, other in spans
                ):
                    continue
                evidence = " ".join(words[start:end])
                if cue.also:
                    others = [_find(part, words, stems, covered) for part in cue.also]
                    if any(other is None for other in others):
                        continue
                    evidence = " … ".join([evidence, *(o for o in others if o is not None)])
                if (cue.category, evidence) in seen:
                    continue
                seen.add((cue.category, evidence))
                found.append(CueMatch(cue.category, cue.strong, evidence, language, (start, end)))
        return found

    @staticmethod
    def _spans(
        index: _Index, words: Sequence[str], stems: Sequence[str]
    ) -> list[tuple[int, int, _Cue]]:
        spans = []
        for i, (word, stem) in enumerate(zip(words, stems, strict=True)):
            for cue in index.starting_at(word, stem):
                end = _match_at(cue.elements, words, stems, i)
                if end is not None:
                    spans.append((i, end, cue))
        return spans

    def scores(
        self,
        matches: Sequence[CueMatch],
        negativity: float,
        toxicity: float,
        weights: Mapping[str, float] | None = None,
    ) -> list[CategoryScore]:
        """Score each category found (see the module docstring), in taxonomy order."""
        return category_scores(self.categories.values(), matches, negativity, toxicity, weights)


def weak_strength(negativity: float) -> float:
    """How much a weak cue counts: nothing up to P(negative) 0.5, fully at 1."""
    return min(1.0, max(0.0, (negativity - 0.5) / 0.5))


def category_scores(
    categories: Iterable[CategoryLexicon],
    matches: Sequence[CueMatch],
    negativity: float,
    toxicity: float,
    weights: Mapping[str, float] | None = None,
) -> list[CategoryScore]:
    """Score the categories found (weight, or weight x weak strength without strong cues).

    A category with a strong cue scores its weight; one with weak cues only, its weight
    times WEAK_SHARE times `weak_strength(max(negativity, toxicity))`. `weights`
    overrides a category's default weight (0 disables it).
    """
    anger = weak_strength(max(negativity, toxicity))
    result = []
    for category in categories:
        mine = [m for m in matches if m.category == category.name]
        if not mine:
            continue
        weight = category.weight if weights is None else weights.get(category.name, category.weight)
        strong = any(m.strong for m in mine)
        score = weight if strong else weight * WEAK_SHARE * anger
        if score <= 0.0:
            continue
        evidence = tuple(m.evidence for m in mine if m.strong or not strong)
        result.append(CategoryScore(category.name, category.label, score, strong, evidence))
    return result


def vocabulary(extra: Iterable[str] = ()) -> textnorm.Vocabulary:
    """Return the words the analyzer knows: the taxonomy's, the maskable ones, and `extra`."""
    return textnorm.Vocabulary.of(default_matcher().words | frozenset(extra), MASKABLE)


@functools.cache
def default_matcher() -> CategoryMatcher:
    """Return the built-in taxonomy, compiled once per process."""
    return CategoryMatcher()
