"""Built-in brand-risk categories and the reading they rest on: languages, obfuscation, senses."""

from __future__ import annotations

import pytest

from brandmon_workers import risk, textnorm
from brandmon_workers.risk_lexicon import LANGUAGES, TAXONOMY, CategoryLexicon


def found(caption: str) -> dict[str, bool]:
    """Return category -> whether a strong cue was found, as the analyzer reads the caption."""
    matcher = risk.default_matcher()
    reading = textnorm.read(caption, risk.vocabulary())
    result: dict[str, bool] = {}
    for match in matcher.matches(reading.words, reading.likely_of(LANGUAGES)):
        result[match.category] = result.get(match.category, False) or match.strong
    return result


def strong(caption: str) -> set[str]:
    return {category for category, is_strong in found(caption).items() if is_strong}


# One example per category and language, written for these tests.
@pytest.mark.parametrize(
    ("category", "caption"),
    [
        ("product_safety", "Acme recalls 40,000 kettles after reports of handles melting"),
        ("product_safety", "my Acme charger caught fire overnight, the whole desk is scorched"),
        ("product_safety", "Acme retira del mercado un lote de cereales por salmonela"),
        ("product_safety", "Acme ruft Babynahrung zurück: Rückruf wegen Glassplitter"),
        ("product_safety", "Rappel conso : Acme rappelle des lots de yaourts contaminés"),
        ("product_safety", "Acme recolhe fones de ouvido que superaquecem"),
        ("product_safety", "Acme ritira dal mercato un lotto di biscotti"),
        ("legal_regulatory", "Shareholders file a class action against Acme"),
        ("legal_regulatory", "Acme recibe una multa millonaria de la autoridad de consumo"),
        ("legal_regulatory", "Sammelklage gegen Acme wegen versteckter Klauseln"),
        ("legal_regulatory", "Acme condamnée à une amende de 2 millions d'euros"),
        ("legal_regulatory", "Procon multa Acme por propaganda enganosa"),
        ("legal_regulatory", "L'antitrust apre un'indagine su Acme"),
        ("data_security", "Acme confirms a data breach affecting loyalty members"),
        ("data_security", "Filtración de datos en Acme: expuestos correos de clientes"),
        ("data_security", "Datenleck bei Acme: Kundendaten im Netz aufgetaucht"),
        ("data_security", "Acme victime d'une cyberattaque, des données volées"),
        ("data_security", "Vazamento de dados da Acme expõe CPFs de clientes"),
        ("data_security", "Furto di dati ad Acme, gli hacker chiedono un riscatto"),
        ("labor_ethics", "Acme fired the organizers right after the union vote"),
        ("labor_ethics", "Huelga en los almacenes de Acme por salarios impagos"),
        ("labor_ethics", "Kinderarbeit in der Lieferkette von Acme aufgedeckt"),
        ("labor_ethics", "Grève chez Acme contre le harcèlement des managers"),
        ("labor_ethics", "Trabalho escravo encontrado em fornecedor da Acme"),
        ("labor_ethics", "Sciopero nei magazzini Acme per lo sfruttamento dei rider"),
        ("discrimination", "The Acme manager was openly racist to my friend"),
        ("discrimination", "En Acme discriminan a los clientes mayores"),
        ("discrimination", "Acme-Filiale ist nicht barrierefrei, mit dem Rollstuhl keine Chance"),
        ("discrimination", "Propos homophobes d'un vendeur Acme"),
        ("discrimination", "Atendente da Acme foi racista com minha mãe"),
        ("discrimination", "Commessa Acme razzista con una cliente"),
        ("financial_governance", "Acme restates earnings amid accounting irregularities"),
        ("financial_governance", "Acme en quiebra: los acreedores exigen respuestas"),
        ("financial_governance", "Bilanzbetrug bei Acme? Vorstand unter Druck"),
        ("financial_governance", "Soupçons de fraude comptable chez Acme"),
        ("financial_governance", "Acme entra em recuperação judicial"),
        ("financial_governance", "Acme, l'amministratore delegato si dimette dopo lo scandalo"),
        ("outage", "Acme outage: no payments anywhere since noon"),
        ("outage", "Acme sin servicio desde hace horas en todo el país"),
        ("outage", "Großstörung bei Acme, Netzausfall in ganz Bayern"),
        ("outage", "Panne géante chez Acme, plus rien ne marche"),
        ("outage", "App da Acme fora do ar de novo"),
        ("outage", "Disservizio Acme in tutta Italia"),
        ("customer_service", "Acme billed me twice and nobody helps"),
        ("customer_service", "Acme me cobró dos veces el mes pasado"),
        ("customer_service", "Acme hat doppelt abgebucht und niemand antwortet"),
        ("customer_service", "Acme m'a prélevé deux fois, aucun remboursement"),
        ("customer_service", "Acme cobrou duas vezes e ninguém responde"),
        ("customer_service", "Acme mi ha addebitato due volte il canone"),
        ("pricing_practices", "Acme sneaks hidden fees into every order"),
        ("pricing_practices", "Acme subió la tarifa sin previo aviso"),
        ("pricing_practices", "Versteckte Kosten im Acme-Vertrag"),
        ("pricing_practices", "Frais cachés partout chez Acme"),
        ("pricing_practices", "Acme cobra taxas escondidas na fatura"),
        ("pricing_practices", "Costi nascosti nella bolletta Acme"),
        ("environment", "Acme factory caught dumping solvent into the creek"),
        ("environment", "Vertido de residuos tóxicos de la planta de Acme"),
        ("environment", "Acme-Werk: Abwasser verschmutzt den Fluss"),
        ("environment", "Pollution : l'usine Acme pointée du doigt"),
        ("environment", "Fábrica da Acme acusada de poluição do rio"),
        ("environment", "Inquinamento del fiume vicino allo stabilimento Acme"),
        ("misinformation", "Acme is covering it up, share before they delete this"),
        ("misinformation", "Las antenas de Acme causan cáncer, no quieren que sepas"),
        ("misinformation", "Acme vertuscht alles, wacht auf"),
        ("misinformation", "Acme dissimule tout, réveillez vous"),
        ("misinformation", "Compartilhe antes que apaguem: a Acme encobre tudo"),
        ("misinformation", "Svegliatevi, Acme insabbia tutto"),
        ("boycott", "Boycott Acme until they pay their suppliers"),
        ("boycott", "#BoycottAcme"),
        ("boycott", "Boicot a Acme, no compren sus productos"),
        ("boycott", "Boykottiert Acme!"),
        ("boycott", "Boycottez Acme, n'achetez plus chez eux"),
        ("boycott", "Boicote à Acme, parem de comprar"),
        ("boycott", "Boicottiamo Acme, non comprate più"),
        ("abuse", "acme staff are complete morons"),
        ("abuse", "Acme son unos sinvergüenzas y unos ladrones"),
        ("abuse", "Acme, ihr Vollidioten"),
        ("abuse", "Acme c'est des escrocs et des menteurs"),
        ("abuse", "Acme é uma cambada de ladrões"),
        ("abuse", "Acme sono dei truffatori"),
    ],
)
def test_each_category_is_found_in_each_language(category: str, caption: str) -> None:
    assert category in strong(caption), found(caption)


@pytest.mark.parametrize(
    "caption",
    [
        "this Acme deal is sick, grabbed two",
        "Acme's new phone has a killer battery",
        "can't recall that deal Acme ran last spring, was it 20% off?",
        "Acme's chocolate cake is the bomb",
        "this Acme hot sauce is fire 🔥",
        "I'm dead 😂 the Acme ad with the goat",
        "killing it at the gym, then an Acme smoothie",
        "Acme opens its biggest store yet in Lyon",
        "Lo nuevo de Acme está de muerte, me encanta",
        "Die Acme-Kampagne ist brandneu und richtig gut",
        "J'étais mort de rire devant la pub Acme",
        "Acme é muito bom, recomendo",
        "Il nuovo gelato Acme è da morire",
        "Acme support sorted my issue in five minutes, great support",
        "Acme's outage from this morning has been resolved",
        "Acme flight lands safely after a bird strike, no one was hurt",
        "Il volo Acme atterra in sicurezza, nessun ferito",
        "Acme roaming worked flawlessly, no hidden fees at all",
    ],
)
def test_harmless_senses_and_praise_find_no_strong_cue(caption: str) -> None:
    assert strong(caption) == set()


@pytest.mark.parametrize(
    ("raw", "read_as"),
    [
        ("f***ing idiots", "fucking idiots"),
        ("sh*t service", "shit service"),
        ("you m0rons", "you morons"),
        ("r3tarded company", "retarded company"),
        ("sh!tty", "shitty"),
        ("total sc@m", "total scam"),
        ("$cammers", "scammers"),
        ("h4ck3d", "hacked"),
        ("5g and 4k, mp3, covid19, $8, 24/7", "5g and 4k mp3 covid19 8 24 7"),
        ("@acme_help hi", "acme help hi"),
        ("scam!!!", "scam"),
        ("#DataBreach", "data breach"),
        ("#boycottacme", "boycott acme"),
        ("#scammers", "scammers"),
        ("see https://acme.example/x?y=1 now", "see now"),
    ],
)
def test_reading_undoes_obfuscation(raw: str, read_as: str) -> None:
    vocabulary = risk.vocabulary()
    assert " ".join(textnorm.read(raw, vocabulary).words) == read_as


def test_a_mask_is_filled_one_letter_per_star_preferring_profanity() -> None:
    vocabulary = risk.vocabulary(["flying", "fling"])  # both fit "f***ing" loosely
    assert textnorm.read("f***ing idiots", vocabulary).words == ["fucking", "idiots"]
    assert textnorm.read("fl*ing", vocabulary).words == ["flying"]


@pytest.mark.parametrize(
    "caption",
    ["Acme are f***ing m0rons", "acme = sc@mmers", "Acme: c0mplete 1d10ts"],
)
def test_obfuscated_cues_are_found(caption: str) -> None:
    assert strong(caption) & {"abuse", "data_security"}


@pytest.mark.parametrize(
    ("caption", "language"),
    [
        ("Acme retira del mercado un lote de cereales", "es"),
        ("Datenleck bei Acme: Kundendaten im Netz aufgetaucht", "de"),
        ("Acme victime d'une cyberattaque, des données volées", "fr"),
        ("Vazamento de dados da Acme expõe clientes", "pt"),
        ("Furto di dati ad Acme, gli hacker chiedono un riscatto", "it"),
        ("Acme confirms a data breach affecting members", "en"),
    ],
)
def test_language_is_identified(caption: str, language: str) -> None:
    assert textnorm.read(caption).best_of(LANGUAGES) == language


def test_weak_cues_count_as_much_as_the_post_is_negative_or_offensive() -> None:
    matcher = risk.default_matcher()
    matches = matcher.matches(textnorm.read("on hold with support").words, ["en"])
    assert matches
    assert not any(m.strong for m in matches)
    assert matcher.scores(matches, negativity=0.0, toxicity=0.0) == []
    (angry,) = matcher.scores(matches, negativity=0.9, toxicity=0.2)
    assert angry.category == "customer_service"
    expected = risk.WEAK_SHARE * risk.weak_strength(0.9) * angry_weight("customer_service")
    assert angry.score == pytest.approx(expected)
    assert risk.weak_strength(0.5) == 0.0
    assert risk.weak_strength(1.0) == 1.0


def angry_weight(name: str) -> float:
    return next(c.weight for c in TAXONOMY if c.name == name)


def test_strong_cue_scores_the_category_weight_with_evidence() -> None:
    matcher = risk.default_matcher()
    matches = matcher.matches(textnorm.read("Acme hit by a data breach").words, ["en"])
    (score,) = matcher.scores(matches, negativity=0.0, toxicity=0.0)
    assert score.category == "data_security"
    assert score.strong
    assert score.score == angry_weight("data_security")
    assert "data breach" in score.evidence


def test_weights_reweigh_or_disable_a_category() -> None:
    matcher = risk.default_matcher()
    matches = matcher.matches(textnorm.read("Acme hit by a data breach").words, ["en"])
    assert matcher.scores(matches, 0.0, 0.0, {"data_security": 0.0}) == []
    (half,) = matcher.scores(matches, 0.0, 0.0, {"data_security": 0.5})
    assert half.score == 0.5


def test_a_custom_taxonomy_compiles_and_matches() -> None:
    lexicon = CategoryLexicon(
        name="test",
        label="test",
        weight=0.5,
        strong={"en": "widget* ... broke | *gizmo"},
        unless={"en": "widgets never broke"},
    )
    matcher = risk.CategoryMatcher([lexicon])
    assert [m.evidence for m in matcher.matches(["my", "widgets", "all", "broke"], ["en"])] == [
        "widgets all broke"
    ]
    assert matcher.matches(["my", "widgets", "never", "broke"], ["en"]) == []
    assert [m.evidence for m in matcher.matches(["a", "megagizmo"], ["en"])] == ["megagizmo"]


def test_every_category_has_every_language() -> None:
    for category in TAXONOMY:
        assert set(category.strong) == set(LANGUAGES), category.name
        assert 0.0 < category.weight <= 1.0
