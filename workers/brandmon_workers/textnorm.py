"""How the text analyzer reads a caption: folding, de-obfuscation, words, hashtags, stems.

Pure functions (no I/O) shared by keyword matching (`text.py`), the built-in brand-risk
categories (`risk.py`) and the trained signals (`signals.py`), so all three see the same
words:

- folding: lower case, accents and compatibility forms removed (NFKD, combining marks
  dropped), so "Café", "CAFE" and full-width capitals read "cafe";
- de-obfuscation: in a word where look-alike digits or symbols sit between letters, they
  all read as the letters they hide (0→o, 1→i, 3→e, 4→a, 5→s, 7→t, @→a, $→s, !→i, |→i:
  "m0rons", "r3tarded", "sh!tty", "sc@m", "1d10ts"; a leading "$" too: "$cam"), and
  masked letters ("f***ing", "sh*t", "f#ck") are filled in from the vocabulary the
  matcher knows. A word with another digit or fewer than two letters is left alone, so
  "5g", "4k", "mp3", "covid19", "a320" and "$8" keep their meaning;
- hashtags: camelCase bodies split into words ("#DataBreach" → "data breach"), and an
  all-lower-case body that starts with a known word is split after it
  ("#boycottlumen" → "boycott lumen");
- words: runs of letters and digits; '_' and everything else separate words;
- stems: Snowball stemmers (PyStemmer) per language, so "recalls", "recalled" and
  "recalling" share the stem of "recall";
- language: py3langid's identifier (model shipped in the wheel) on the folded text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import py3langid  # type: ignore[import-untyped]
import Stemmer  # type: ignore[import-not-found]

# Languages whose Snowball stemmer PyStemmer ships, by ISO 639-1 code (py3langid's codes).
STEMMER_OF = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german",
    "el": "greek", "en": "english", "es": "spanish", "et": "estonian", "eu": "basque",
    "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi", "hu": "hungarian",
    "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian",
    "ne": "nepali", "nl": "dutch", "no": "norwegian", "nb": "norwegian", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "sv": "swedish", "ta": "tamil", "tr": "turkish",
}  # fmt: skip

# Scripts written without spaces between words: a term in them matches as a substring of
# the folded text, since there are no word boundaries to respect.
_UNSPACED = re.compile(
    r"[\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer
    r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"  # kana, CJK ideographs
)

_WORD = re.compile(r"[^\W_]+")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# A candidate for de-obfuscation: word characters mixed with the symbols people use to
# hide letters. '#' is included only after a letter, so hashtags keep their meaning.
_CHUNK = re.compile(r"(?:[^\W_]|[*@$!|])+(?:#(?:[^\W_]|[*@$!|])+)*")
_LEET = str.maketrans("013457@$!|", "oieastasii")
_LOOKALIKE_DIGITS = frozenset("013457")
_HIDDEN = re.compile(r"[^\W\d_][013457@$!|]+[^\W\d_]")
_MASK = re.compile(r"[*#]+")
_URL = re.compile(r"https?://\S+|www\.\S+")


def fold(text: str) -> str:
    """Lower-case the text and remove accents and compatibility forms."""
    if text.isascii():  # most captions: NFKD leaves ASCII as it is, with no combining marks
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(folded: str) -> list[str]:
    """Split folded text into words (runs of letters and digits)."""
    return _WORD.findall(folded)


def has_unspaced_script(text: str) -> bool:
    """Return whether the text contains a script written without spaces (CJK, Thai...)."""
    return _UNSPACED.search(text) is not None


def split_hashtags(
    text: str, known: Collection[str] = (), known_stems: Collection[str] = ()
) -> str:
    """Rewrite hashtags as the words they join (camelCase, or a known leading word)."""

    def split(match: re.Match[str]) -> str:
        body = match.group(1)
        if "_" in body:
            return body  # already separated
        if any(c.isupper() for c in body[1:]) and not body.isupper():
            return " ".join(_CAMEL.split(body))
        lowered = body.casefold()
        # A hashtag that is one known word in some form ("#scammers") stays whole.
        if lowered in known or stems([lowered], "en")[0] in known_stems:
            return body
        # Else split after the longest known word it starts with, leaving a word of at
        # least 4 letters ("#boycottlumen" -> "boycott lumen").
        for end in range(len(lowered) - 4, 3, -1):
            if lowered[:end] in known:
                return f"{lowered[:end]} {lowered[end:]}"
        return body

    return _HASHTAG.sub(split, text)


def _unmask(chunk: str, vocabulary: Collection[str], preferred: Collection[str] = ()) -> str | None:
    """Fill masked letters ('*', '#') from the vocabulary: "f***ing" -> "fucking"."""
    parts = _MASK.split(chunk)
    if len(parts) < 2 or not any(parts):  # noqa: PLR2004 - a mask needs text around it
        return None
    masks = _MASK.findall(chunk)
    pattern = "".join(
        re.escape(part) + (f"([^\\W\\d_]{{1,{len(masks[i]) + 2}}})" if i < len(masks) else "")
        for i, part in enumerate(parts)
    )
    compiled = re.compile(pattern)
    ranked = []
    for word in vocabulary:
        match = compiled.fullmatch(word)
        if match:
            # Best: one hidden letter per mask character ("f***ing" hides "uck", not the
            # "ly" of "flying"); then words people mask (profanity); then the shortest.
            exact = all(len(g) == len(m) for g, m in zip(match.groups(), masks, strict=True))
            ranked.append((not exact, word not in preferred, len(word), word))
    return min(ranked)[3] if ranked else None


def _unleet(chunk: str) -> str:
    """Read look-alike digits and symbols as letters where they sit inside a word."""
    letters = sum(c.isalpha() for c in chunk)
    if letters < 2:  # noqa: PLR2004 - "b4", "5g": too little word to tell
        return chunk
    if any(c.isdigit() and c not in _LOOKALIKE_DIGITS for c in chunk):
        return chunk  # "covid19", "a320": a number, not a disguise
    # Only look-alikes between letters give a disguise away ("m0rons", "1d10ts"); then
    # the ones at the word's edges are part of it too. "$" may also start a word ("$cam").
    if not (_HIDDEN.search(chunk) or (chunk[0] == "$" and chunk[1:2].isalpha())):
        return chunk
    return chunk.translate(_LEET)


def deobfuscate(
    folded: str, vocabulary: Collection[str] = (), preferred: Collection[str] = ()
) -> str:
    """Return folded text with obfuscated words read as the words they hide."""

    def fix(match: re.Match[str]) -> str:
        chunk = match.group(0)
        if chunk.isalnum() and not any(c.isdigit() for c in chunk):
            return chunk
        start = ""
        while chunk and chunk[0] == "@":  # a mention, not a hidden 'a'
            start += "@"
            chunk = chunk[1:]
        end = ""
        while chunk and chunk[-1] in "!|*#":  # "scam!!!" is emphasis, not "scami"
            end = chunk[-1] + end
            chunk = chunk[:-1]
        if "*" in chunk or "#" in chunk:
            filled = _unmask(_unleet(chunk), vocabulary, preferred)
            if filled is not None:
                return start + filled + end
            return start + chunk + end
        return start + _unleet(chunk) + end

    return _CHUNK.sub(fix, folded)


def strip_urls(text: str) -> str:
    """Remove links: their letters are not what the post says."""
    return _URL.sub(" ", text)


@functools.cache
def _stemmer(language: str) -> Stemmer.Stemmer | None:
    name = STEMMER_OF.get(language)
    return Stemmer.Stemmer(name, 10_000) if name else None


def stems(tokens: Sequence[str], language: str) -> list[str]:
    """Return the Snowball stems of folded words (the words themselves without a stemmer)."""
    stemmer = _stemmer(language)
    if stemmer is None:
        return list(tokens)
    result: list[str] = stemmer.stemWords(list(tokens))
    return result


def stem_phrase(phrase: Iterable[str], language: str) -> tuple[str, ...]:
    """Return the stems of a phrase's words."""
    return tuple(stems(list(phrase), language))


@functools.cache
def _identifier() -> object:
    # Its own instance, so no other caller's set_languages() changes what it answers.
    return py3langid.langid.LanguageIdentifier.from_model_file(
        py3langid.langid.MODEL_FILE, norm_probs=True
    )


def detect_language(folded: str) -> tuple[str, float]:
    """Return the most likely ISO 639-1 language of the text and its probability."""
    language, probability = _identifier().classify(folded)  # type: ignore[attr-defined]
    return str(language), float(probability)


def rank_languages(folded: str, top: int = 12) -> list[tuple[str, float]]:
    """Return the `top` most likely languages, most likely first, with probabilities."""
    ranked = _identifier().rank(folded)  # type: ignore[attr-defined]
    return [(str(lang), float(p)) for lang, p in ranked[:top]]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Words the analyzer knows: they fill masks and split hashtags."""

    words: frozenset[str]
    english_stems: frozenset[str]
    maskable: frozenset[str] = frozenset()
    """Words people mask (profanity): preferred when a mask fits several words."""

    @classmethod
    def of(cls, words: Iterable[str], maskable: Iterable[str] = ()) -> Vocabulary:
        """Build from folded words (the maskable ones are added to them)."""
        masked = frozenset(maskable)
        known = frozenset(w for w in words if w) | masked
        return cls(known, frozenset(stems(sorted(known), "en")), masked)


@dataclass(frozen=True, slots=True)
class Reading:
    """A caption as the analyzer reads it."""

    folded: str
    """Folded, de-obfuscated text without links, hashtags split into their words."""

    words: list[str]
    """The words of `folded`."""

    language: str
    """Most likely language (ISO 639-1), "und" when there are no words."""

    ranked: list[tuple[str, float]]
    """Languages by the identifier's probability (empty when there are no words)."""

    def likely_of(self, languages: Collection[str], fallback: str = "en") -> list[str]:
        """Return the most likely of the given languages, and the runner-up when close.

        Short posts in related languages are often close calls (Spanish, Italian and
        Portuguese share most short words): a runner-up at least half as likely as the
        best is read too. The fallback is always last.
        """
        ranked = [(lang, p) for lang, p in self.ranked if lang in languages][:2]
        result = [ranked[0][0]] if ranked else []
        if len(ranked) == 2 and ranked[1][1] >= 0.5 * ranked[0][1]:  # noqa: PLR2004
            result.append(ranked[1][0])
        if fallback not in result:
            result.append(fallback)
        return result

    def best_of(self, languages: Collection[str], fallback: str = "en") -> str:
        """Return the most likely of the given languages (the fallback if none ranks)."""
        for language, _ in self.ranked:
            if language in languages:
                return language
        return fallback


def read(text: str, vocabulary: Vocabulary | None = None) -> Reading:
    """Read a caption: links removed, hashtags split, folded, de-obfuscated, split into words."""
    known = vocabulary or Vocabulary(frozenset(), frozenset())
    no_links = strip_urls(text)
    folded = deobfuscate(
        fold(split_hashtags(no_links, known.words, known.english_stems)),
        known.words,
        known.maskable,
    )
    tokens = words(folded)
    ranked = rank_languages(folded) if tokens else []
    language = ranked[0][0] if ranked else "und"
    return Reading(folded=folded, words=tokens, language=language, ranked=ranked)
