"""The built-in brand-risk taxonomy: categories, default weights and cue phrases per language.

Pure data, read by `risk.py`. Written from general knowledge of what posts about each kind
of damage say in English, Spanish, German, French, Portuguese and Italian (not from any
labelled set), so it can be reviewed and extended by anyone who knows the languages.

Each category has:
- `weight`: the most the category alone contributes to a post's text risk (a later change
  exposes it per monitor in the CRD: disable or reweight);
- `strong` cues: phrases that on their own say the post reports this kind of damage
  ("data breach", "class action", "caught fire");
- `weak` cues: the topic without the damage ("on hold", "my bill", "network down"); they
  count as much as the post is negative or offensive, so "support is great" is not an
  alert and "support hung up on me again, useless" is;
- `unless`: phrases that mean a harmless sense of an overlapping cue ("I can't recall",
  "killer battery") and cancel it.

Phrase syntax (see `risk.py`): words are compared by Snowball stem in the phrase's
language, so one form covers its inflections ("recall" also matches "recalled",
"recalls"); `word*` matches any word starting with `word` and `*word` any word ending with
it (German and Dutch compounds: "*leck" matches "Datenleck"); `...` allows up to three
words in between; phrases in one string are separated by `|`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LANGUAGES = ("en", "es", "de", "fr", "pt", "it")
# Part of ANALYZER_VERSION: a changed cue changes scores.
LEXICON_VERSION = "1"


@dataclass(frozen=True)
class CategoryLexicon:
    """One brand-risk category as data."""

    name: str
    label: str
    weight: float
    strong: dict[str, str]
    weak: dict[str, str] = field(default_factory=dict)
    unless: dict[str, str] = field(default_factory=dict)


TAXONOMY: tuple[CategoryLexicon, ...] = (
    CategoryLexicon(
        name="product_safety",
        label="product safety",
        weight=0.85,
        strong={
            "en": "recall | recalled | product recall | safety recall | caught fire | catch fire"
            " | catches fire | on fire ... battery | burst into flames | went up in flames"
            " | battery ... explod* | explod* ... battery | phone ... explod* | exploding"
            " | overheat* | burn ... hand | burns to | treated for burns | severe burns"
            " | injur* | injured | hospitalised | hospitalized | =hospital | =hospitals"
            " | emergency room | the er | er visit | allergic reaction | anaphylaxis"
            " | anaphylactic | allergen | undeclared | peanut free ... reaction"
            " | nut free ... reaction | contaminat* | salmonella | listeria | e coli"
            " | food poisoning | poisoned | mold in | mould in | glass shards | glass in"
            " | metal fragments | piece of metal | choking hazard | choked | electrocuted"
            " | shock hazard | toxic chemicals | lead levels | carcinogen* | safety hazard"
            " | fire hazard | died after | =deaths | killed ... people | killed ... child"
            " | killed ... driver | fatal | unsafe | smoke coming | swollen battery"
            " | predator* | =grooming | let strangers | strangers ... message*"
            " | strangers ... contact* | child safety | fail* to call ... help"
            " | fail* to call 911 | fail* to alert | fail* to detect"
            " | couldn t call ... help | could not call ... help"
            " | emergency call* ... fail* | smoke fill* | filled with smoke"
            " | smoke in the cabin | paramedics | treated by paramedics | taken to hospital"
            " | rushed to hospital | emergency landing | emergency evacuation | evacuated"
            " | skipped inspection* | skip* ... safety check* | cracked engine*"
            " | brake* fail* | airbag* | carbon monoxide | faulty wiring | lead paint"
            " | near miss | hurt my | burned my | burnt my | caused a fire | started a fire"
            " | set ... on fire | =sparking | sparks flew | shocked me | gave me a shock"
            " | made me sick | made us sick | got sick after | sick after eating"
            " | in the er | cockroach* | insects in | worm in my | hair in my food"
            " | mouse in | rat in | maggots | expired ... sold | rotten food | rotten meat"
            " | was rotten | were rotten | undercooked | raw chicken | safety defect"
            " | collapsed on | brakes failed | steering failed | toxic smell"
            " | chemical smell | swallowed | losing power | lost power while | loses power"
            " | shuts off while driving | shut down while driving | stalled on the highway"
            " | stalls on the | sudden acceleration | unintended acceleration"
            " | brakes fail* | brake failure | steering lock* | airbag* ... fail*"
            " | seatbelt* ... fail* | tipped over | tip over | rash after | skin burns"
            " | hives | side effects | adverse reaction* | mislabel* | wrong dosage"
            " | shattered | fell apart | sharp edge* | asbestos | benzene | bacteria"
            " | safety complaints | nhtsa | cpsc | fda warn* | mercury levels | mercury in"
            " | contains mercury | traces of mercury | arsenic | formaldehyde | cadmium"
            " | legal limit | above the limit | times the limit | banned substance*"
            " | banned ingredient* | chemical burn* | blisters | blistering | stop using it"
            " | don t use it | do not use",
            "es": "retira* del mercado | retirada del mercado | retira* ... lotes | explot*"
            " | incendi* | se incendio | quemadura* | herid* | hospitaliz* | intoxica*"
            " | contamina* | salmonela | listeria | reaccion alergica | alergen*"
            " | sobrecalent* | fallec* | asfixia | descarga electrica | urgencias | toxico"
            " | moho | aterrizaje de emergencia | evacuad* | paramedicos | humo en"
            " | heridos | intoxicados | me quem* | se quemo | me intoxique | me enferme"
            " | cucaracha* | pelo en | insectos en | caducad* | podrid* | echaba chispas"
            " | dio calambre | se prendio fuego | se apaga solo | se apaga en marcha"
            " | pierde potencia | frenos fallan | fallan los frenos | falla de frenos"
            " | efectos secundarios | bacterias | mercurio | arsenico | formaldehido"
            " | limite legal | ampollas | dejen de usar",
            "de": "ruckruf* | *ruckruf | zuruckgerufen | explodiert | explosion | in brand"
            " | brand ausgebrochen | feuerwehr | brannte | abgebrannt | in flammen"
            " | verbrennung* | verletzt* | verletzung* | krankenhaus | klinik | vergiftung"
            " | *vergiftung | verunreinig* | kontaminiert | salmonellen | listerien"
            " | allergische reaktion | allergen* | uberhitz* | todlich | schimmel"
            " | glassplitter | stromschlag | giftig* | notlandung | evakuiert | sanitater"
            " | rauch in der kabine | verletzte | triebwerksbrand | *brand ... verletzt*"
            " | verbrannt | krank geworden | kakerlake* | haare im | insekten im"
            " | abgelaufen* | verdorben* | funken | stromschlag bekommen | fing feuer"
            " | schaltet sich ... ab | geht wahrend der fahrt aus | verliert leistung"
            " | bremsen versagen | bremsversagen | nebenwirkungen | bakterien | quecksilber"
            " | arsen | formaldehyd | grenzwert | blasen auf der haut | nicht mehr benutzen",
            "fr": "rappel ... produit* | rappel conso | rappel ... lots | rappelle ... lots"
            " | rappelle ... produits | explos* | prend feu | pris feu | incendie | brule*"
            " | brulure* | bless* | hospitalis* | urgences | intoxication* | contamin*"
            " | salmonelle | listeria | reaction allergique | allergene* | surchauffe"
            " | deces | decede | moisissure | eclats de verre | electrocut* | toxique"
            " | atterrissage d urgence | evacue* | pompiers | fumee dans | blesses"
            " | intoxique* | malade apres | cafard* | cheveu dans | insectes dans | perime*"
            " | pourri* | etincelles | a pris feu | s eteint tout seul"
            " | s arrete en roulant | perte de puissance | freins lachent"
            " | defaillance des freins | effets secondaires | bacteries | mercure | arsenic"
            " | formaldehyde | limite legale | cloques | arretez de l utiliser",
            "pt": "recall | recolh* | retira* do mercado | explod* | explosao | pegou fogo"
            " | incendio | queimadura* | ferid* | hospitaliz* | intoxica* | contamina*"
            " | salmonela | listeria | reacao alergica | alergen* | superaquec* | mofo"
            " | bolor | choque eletrico | toxico | pouso de emergencia | evacuad*"
            " | paramedicos | fumaca na | feridos | me queimei | passei mal | intoxicacao"
            " | barata* | cabelo na | insetos na | vencid* | estragad* | faiscas"
            " | desliga sozinho | desliga em movimento | perde potencia | freios falham"
            " | falha nos freios | efeitos colaterais | bacterias | mercurio | arsenico"
            " | formol | limite legal | bolhas na pele | parem de usar",
            "it": "richiamo di | richiama ... lotti | ritira* dal mercato | ritira* ... lott*"
            " | esplos* | esplod* | prende fuoco | preso fuoco | incendio | ustion*"
            " | ferit* | ricoverat* | pronto soccorso | intossica* | contamina*"
            " | salmonella | listeria | reazione allergica | allergen* | surriscald*"
            " | muffa | frammenti di vetro | folgorat* | tossic* | atterraggio di emergenza"
            " | evacuat* | soccorritori | fumo in cabina | feriti | mi sono bruciat*"
            " | sono stat* male | intossicazione | scarafagg* | capello nel | insetti nel"
            " | scadut* | avariat* | scintille | ha preso fuoco | si spegne da sola"
            " | si spegne in marcia | perde potenza | freni ... cedono | guasto ai freni"
            " | effetti collaterali | batteri | mercurio | arsenico | formaldeide"
            " | limite di legge | vesciche | smettete di usarl*",
        },
        weak={
            "en": "battery | burn | burning | smoke | =sickness | vomiting | rash | fire | died"
            " | killed | death | melted | overheat* | defect* | faulty | dangerous",
            "es": "bateria | humo | enferm* | vomit* | defectuos* | peligr* | muert*",
            "de": "akku | rauch | krank | ubel | defekt* | gefahr* | feuer | tot",
            "fr": "batterie | fumee | malade | vomi* | defectueu* | danger* | mort",
            "pt": "bateria | fumaca | doente | vomit* | defeituos* | perigo* | morte | morreu",
            "it": "batteria | fumo | malat* | vomit* | difettos* | pericol* | morto | morte",
        },
        unless={
            "en": "i recall | can t recall | cant recall | cannot recall | don t recall"
            " | dont recall | do not recall | if i recall | as i recall | recall that"
            " | recall when | recall how | recall the last | recall the time | recall what"
            " | recall seeing | recall this | recall those | recall ... days | total recall"
            " | killed it | killing it | killed the | killer | dying to | died laughing"
            " | i m dead | im dead | i died | dead ass | to death | death metal"
            " | on fire deal | hospital bill | injury time | explod* ... popularity"
            " | explod* ... sales | sales ... explod* | notifications ... explod*"
            " | fire deal | sick deal | sick of | unsafe at any speed | no injuries"
            " | no one was hurt | nobody was hurt | no one injured | nobody injured"
            " | no one hurt | landed safely | lands safely | no one was injured"
            " | nobody was injured",
            "es": "me muero de ganas | muerto de risa | muerta de risa | de muerte | sin heridos"
            " | ningun herido | nadie resulto herido | aterrizo sin problemas",
            "de": "totlach* | zum totlachen | brandneu* | brandaktuell | keine verletzten"
            " | niemand wurde verletzt | niemand verletzt | sicher gelandet",
            "fr": "mort de rire | morte de rire | mdr | aucun blesse | pas de blesses"
            " | sans faire de blesses | sans blesses",
            "pt": "morrendo de rir | morri de rir | morte de rir | sem feridos | nenhum ferido"
            " | ninguem ficou ferido | pousou em seguranca",
            "it": "morto dal ridere | morta dal ridere | da morire | nessun ferito"
            " | nessun ferit* | senza feriti | in sicurezza",
        },
    ),
    CategoryLexicon(
        name="legal_regulatory",
        label="legal or regulatory action",
        weight=0.8,
        strong={
            "en": "lawsuit | =sued | =suing | =sues | class action | legal action | lawyers"
            " | attorney general | regulator* | investigation | investigating | probe"
            " | probing | =fined | penalties | settlement | settles | indicted | indictment"
            " | charged with | criminal charges | subpoena* | court ruling | court orders"
            " | judge rules | violat* | illegal* | unlawful | fcc | ftc | sec charges | doj"
            " | department of justice | ofcom | cnil | consumer protection"
            " | complaint filed | filed a complaint | antitrust | sanction*"
            " | ordered to pay | orders ... to pay | department of transportation"
            " | must pay ... fine | to pay ... penalty | consent order | cease and desist"
            " | settlement with regulators | regulator* ... order* | whistleblower lawsuit"
            " | recall investigation | safety probe | ftc complaint",
            "es": "demanda* | denuncia* | querella | accion colectiva | multa* | sancion*"
            " | investigacion | investiga | tribunal | juez | fiscalia | imputad* | ilegal*"
            " | regulador | profeco | consumo abre | expediente | condenad* a pagar"
            " | obligad* a pagar",
            "de": "klage | klagt | verklagt | sammelklage | anzeige | strafanzeige | bussgeld*"
            " | *strafe | ermittlung* | ermittelt | untersuchung* | gericht* | verurteilt"
            " | staatsanwalt* | rechtswidrig | illegal* | verbraucherzentrale | abmahnung"
            " | bundesnetzagentur | kartellamt | zur zahlung verurteilt"
            " | muss ... strafe zahlen",
            "fr": "plainte | poursuit* | poursuivi* | action collective | action de groupe"
            " | amende* | sanction* | enquete | tribunal | condamne* | juge | parquet"
            " | illegal* | illicite | mis en examen | dgccrf | cnil | arcep"
            " | autorite de la concurrence | condamne* a payer | contraint* de payer",
            "pt": "processo contra | processo judicial | abriu processo | processad* | processou"
            " | acao coletiva | multa* | multad* | sanc* | investiga* | tribunal | justica"
            " | condenad* | ilegal* | procon | anatel | ministerio publico | denuncia*"
            " | condenad* a pagar | obrigad* a pagar",
            "it": "fare causa | fatto causa | causa legale | causa collettiva | denuncia*"
            " | class action | azione collettiva | multa* | multat* | sanzion* | indagine"
            " | inchiesta | indagat* | tribunale | condannat* | illegal* | antitrust"
            " | agcom | garante | procura | condannat* a pagare | obbligat* a pagare",
        },
        weak={
            "en": "lawyer | court | legal | complaint | banned | penalty | accused of"
            " | allegations",
            "es": "abogado | reclamacion",
            "de": "anwalt | beschwerde",
            "fr": "avocat | reclamation",
            "pt": "advogado | reclamacao",
            "it": "avvocato | reclamo",
        },
        unless={
            "en": "fine print | fine by me | just fine | works fine | probe deeper"
            " | probe further | court side",
            "es": "demanda de ... clientes | alta demanda | gran demanda | oferta y demanda",
            "de": "auf keinen fall",
            "fr": "plainte de ... voisin",
            "pt": "processo de selecao | processo seletivo",
            "it": "a causa | per causa",
        },
    ),
    CategoryLexicon(
        name="data_security",
        label="data security or privacy",
        weight=0.85,
        strong={
            "en": "data breach | breach | breached | hacked | hack | hackers | hacker | attackers"
            " | cyberattack | cyber attack | ransomware | malware | leaked | leaking"
            " | leak ... data | data leak | exposed ... data | exposed ... customers"
            " | exposed ... passwords | exposed ... emails | exposed ... addresses"
            " | accessed ... names | accessed ... customer* | stolen ... data"
            " | personal data ... stolen | compromised | unauthori* access"
            " | unauthenticated | sim swap* | =phishing | scam | scammers | scammed"
            " | fake account ... card | fake ... giveaway | identity theft"
            " | passwords exposed | security flaw | vulnerability | data exposed | dark web"
            " | sell* your ... data | sell* ... location | sell* ... data to"
            " | sold ... data | data ... sold | data with advertisers"
            " | share* ... data with | browsing data | location data | location history"
            " | other people s ... details | other people s ... data"
            " | other people s ... account* | other customers ... details"
            " | other customers ... data | someone else s ... details"
            " | someone else s ... data | someone else s ... account | spying on"
            " | tracking ... without | passport number* | social security number*"
            " | credit card number* | card numbers | anyone s ... number"
            " | anyone s ... data | anyone s ... account | anyone s ... details"
            " | brute forc* | unencrypted | plain text password* | plaintext password*"
            " | scraped ... data | account was hacked | account hacked | hijacked"
            " | took over my account | take over any account | emptied my account"
            " | drained my account | money disappeared | unauthori* transactions"
            " | unauthori* charges | charges i didn t make | fraudulent charges"
            " | fraudulent text* | fake ... texts | fake ... emails | smishing | spoofed"
            " | impersonat* | pretending to be | posing as | privacy violation"
            " | privacy nightmare | recording ... without | no auth"
            " | without authentication | no authentication | remotely ... unlock*"
            " | remote unlock | unlock* ... remotely | start* ... remotely"
            " | api ... exposed | open database | misconfigured | exposed database"
            " | customer records | records exposed | stolen credentials"
            " | credential stuffing | zero day | data ... for sale | for sale on"
            " | being sold on | sold on a forum | hackers selling"
            " | posted online ... customer* | dumped online | leaked online",
            "es": "brecha de ... datos | filtracion | filtrad* | hackead* | hackeo | hackers"
            " | ciberataque | datos ... expuestos | datos ... robados | robo de datos"
            " | estafa* | phishing | suplantacion | fraude ... cuenta | vulnerabilidad"
            " | numero de pasaporte | datos de cualquier | contrasenas en texto plano"
            " | me vaciaron la cuenta | cargos no autorizados | cargos que no hice"
            " | se hacen pasar por | sms fraudulentos | correos falsos | robaron mis datos"
            " | espian | sin autenticacion | base de datos expuesta | registros expuestos"
            " | a la venta en | venden los datos | publicados en internet",
            "de": "datenleck | *datenleck | datenpanne | datenschutzverletzung | gehackt | hacker"
            " | hackerangriff | cyberangriff | *angriff ... daten | daten ... gestohlen"
            " | daten ... offengelegt | phishing | betrug* | sicherheitslucke | abzocke"
            " | abgezockt | passnummer* | daten ... beliebige* | passworter im klartext"
            " | konto leergeraumt | konto geplundert | nicht autorisierte abbuchungen"
            " | geben sich als | gefalschte sms | betrugerische sms | gefalschte e mails"
            " | daten geklaut | ausspioniert | ohne authentifizierung | datenbank ... offen"
            " | ungeschutzt* ... daten | zum verkauf angeboten | im netz veroffentlicht"
            " | daten ... verkauft",
            "fr": "fuite de donnees | fuite | pirat* | hacke* | cyberattaque"
            " | donnees ... exposees | donnees ... volees | vol de donnees | hameconnage"
            " | phishing | arnaque* | escroquerie | faille de securite | usurpation"
            " | numero de passeport | donnees de n importe qui | mots de passe en clair"
            " | vider leur compte | vide mon compte | prelevements frauduleux"
            " | debits frauduleux | sms frauduleux | faux sms | faux mails"
            " | se font passer pour | usurpation | espionn* | sans authentification"
            " | base de donnees exposee | mises en vente | vendues sur un forum"
            " | publiees en ligne",
            "pt": "vazamento | vazad* | hackead* | hacker* | ataque hacker | ciberataque"
            " | dados ... expostos | dados ... roubados | golpe* | phishing | fraude"
            " | falha de seguranca | numero do passaporte | dados de qualquer"
            " | senhas em texto | esvaziaram minha conta | limparam minha conta"
            " | cobrancas nao autorizadas | compras que nao fiz | sms falsos"
            " | se passando por | golpistas | clonaram | cartao clonado | sem autenticacao"
            " | banco de dados exposto | a venda em | vendidos em forum"
            " | vazados na internet",
            "it": "violazione ... dati | fuga di dati | furto di dati | hackerat* | hacker"
            " | attacco informatico | cyberattacco | dati ... esposti | dati ... rubati"
            " | truffa* | phishing | falla di sicurezza | numero di passaporto"
            " | dati di chiunque | password in chiaro | svuotato il conto"
            " | prosciugato il conto | addebiti non autorizzati | sms truffa | finti sms"
            " | si spacciano per | clonat* | spiano | senza autenticazione"
            " | database esposto | in vendita su | venduti su un forum | pubblicati online",
        },
        weak={
            "en": "security | privacy | passwords | credentials | account ... taken | suspicious",
            "es": "seguridad | privacidad | datos",
            "de": "sicherheit | datenschutz | daten | kundendaten | passworter",
            "fr": "securite | confidentialite | donnees",
            "pt": "seguranca | privacidade | dados",
            "it": "sicurezza | privacy | dati",
        },
        unless={
            "en": "hack for | life hack | lifehack | hacks for | growth hack | hackathon"
            " | breach of contract | leaked ... trailer | leaked ... specs"
            " | leaked ... renders | leaked ... photos of the new | scam likely",
            "es": "",
            "de": "",
            "fr": "fuite d eau",
            "pt": "",
            "it": "",
        },
    ),
    CategoryLexicon(
        name="labor_ethics",
        label="labor and ethics",
        weight=0.8,
        strong={
            "en": "union busting | unionbusting | anti union | fired ... union*"
            " | fired ... organiz* | retaliat* | child labor | child labour | forced labor"
            " | forced labour | sweatshop* | slave labor | unpaid wages | wage theft"
            " | unpaid overtime | harass* | abuse of workers | exploit* ... workers"
            " | workers ... exploit* | unsafe working conditions | layoff* & bonus*"
            " | laid off & bonus* | lay off & bonus* | layoff* & record profit*"
            " | lay off & record profit* | laid off & record profit* | job cuts & bonus*"
            " | fired & union* | fire* & unioniz* | on strike | strike action"
            " | workers strike | go on strike | went on strike | going on strike"
            " | strike at | strikes at | walkout | on strike | spit* in | whistleblower"
            " | toxic workplace | mistreat* | underpaid | pressur* ... pilots"
            " | pressur* ... staff | pressur* ... workers | pressur* ... employees"
            " | pressur* ... drivers | pressur* ... nurses | forced to work"
            " | made to work ... unpaid | dock* ... pay | pay for their own uniforms"
            " | no bathroom breaks | no breaks | overwork* | duty hour* | exhausted crew*"
            " | pay cuts & bonus* | close ... branches | closing ... branches"
            " | closing ... stores | close ... stores | store closures | branch closures"
            " | plant closure* | job cuts | cutting ... jobs | axing ... jobs"
            " | slashing ... jobs | outsourc* ... jobs | replac* workers with"
            " | replac* staff with | fired ... by email | fired ... via email"
            " | fired ... over zoom | mass layoff* | redundancies | wage cuts"
            " | poverty wages | no sick pay | zero hour* | record profits & layoff*"
            " | record profits & job cuts | move production to | moving production to"
            " | moves production to | offshoring | shut* ... plant | shutting ... factory"
            " | closing ... plant | close ... plant | out of a job | out of work"
            " | lose their jobs | losing their jobs | grueling shifts | brutal shifts"
            " | forced overtime | mandatory overtime | injured workers | worker died"
            " | worker killed | workplace death | osha | unsafe conditions"
            " | heat exhaustion | toilet break* | bathroom break* | lose a day s pay"
            " | docked ... pay | docking ... pay | pay docked",
            "es": "despid* & sindica* | despedir* & sindica* | represalia* | trabajo infantil"
            " | trabajo forzoso | explotacion laboral | explota* ... trabajador* | acoso"
            " | horas extra* ... pag* | salarios impagos | huelga | despidos ... bonos"
            " | escupi* | jornadas de ... horas | sin descanso | amenazas de despido"
            " | obligados a trabajar | descuentan ... sueldo | cierre de ... sucursales"
            " | cierra ... sucursales | despidos masivos | recortes de plantilla"
            " | recorte de empleos | despidos & beneficios record | trasladar la produccion"
            " | traslada la produccion | cierre de la planta | cierra la planta"
            " | perderan su empleo | turnos agotadores | horas extra obligatorias"
            " | accidente laboral | pausas para ir al bano | les descuentan el dia",
            "de": "gekundigt & gewerkschaft* | entlass* & gewerkschaft*"
            " | entlassungen & rekordgewinn* | gewerkschaft* ... gekundigt"
            " | betriebsrat ... drohung* | drohungen ... betriebsrat"
            " | behinderung ... betriebsrat | kinderarbeit | zwangsarbeit | ausbeutung"
            " | ausgebeutet | belastigung | unbezahlte uberstunden | lohnraub | streik*"
            " | entlassungen ... boni | gespuckt | mobbing | ohne pause"
            " | kundigungsdrohung* | zur arbeit gezwungen | lohnabzug* | stellenabbau"
            " | filialschliessung* | kundigungswelle | massenentlassung*"
            " | schliesst ... filialen | streicht ... stellen | verlagert die produktion"
            " | werksschliessung | schliesst das werk | verlieren ihren job | arbeitsunfall"
            " | zwangsuberstunden | toilettenpause* | lohn ... abgezogen",
            "fr": "licenci* & syndica* | licenciements & profits records | represailles"
            " | travail des enfants | travail force | exploitation | exploite*"
            " | harcelement | heures sup* ... non payees | salaires impayes | greve"
            " | licenciements abusifs | licenciements ... primes | crache | sans pause"
            " | menaces de licenciement | forces a travailler | retenues sur salaire"
            " | suppressions de postes | suppression de postes | plan social"
            " | fermeture de ... agences | ferme ... agences | licenciements massifs"
            " | delocalis* | fermeture de l usine | ferme l usine | perdent leur emploi"
            " | accident du travail | cadences infernales | pauses toilettes"
            " | retenue sur salaire",
            "pt": "demit* & sindica* | demissoes & lucro recorde | retaliac* | trabalho infantil"
            " | trabalho escravo | trabalho forcado | explorac* | assedio"
            " | horas extras ... pag* | greve | demissoes ... bonus | cuspi*"
            " | jornadas de ... horas | sem descanso | ameacas de demissao"
            " | obrigados a trabalhar | demissoes em massa | cortes de ... empregos"
            " | fechamento de agencias | fecha ... agencias | demissao em massa"
            " | transferir a producao | fechamento da fabrica | fecha a fabrica"
            " | perdem o emprego | acidente de trabalho | jornada exaustiva"
            " | pausa para o banheiro | desconto no salario",
            "it": "licenzia* & sindaca* | licenziamenti & utili record | ritorsion*"
            " | lavoro minorile | lavoro forzato | sfruttament* | sfruttat* | molestie"
            " | straordinari non pagati | sciopero | licenziamenti ... bonus | sputat*"
            " | turni di ... ore | senza riposo | minacce di licenziamento"
            " | costretti a lavorare | esuberi | tagli al personale"
            " | tagli ... posti di lavoro | chiusura di ... filiali | chiude ... filiali"
            " | licenziamenti di massa | delocalizz* | chiusura dello stabilimento"
            " | chiude lo stabilimento | perdono il lavoro | incidente sul lavoro"
            " | turni massacranti | pause bagno | trattenuta in busta paga",
        },
        weak={
            "en": "layoffs | laid off | fired | union | workers | staff | employees | wages"
            " | layoffs | laid off | strike",
            "es": "despidos | trabajadores | sindicato | salarios",
            "de": "entlassungen | mitarbeiter | gewerkschaft | lohne",
            "fr": "licenciements | salaries | syndicat | salaires",
            "pt": "demissoes | funcionarios | sindicato | salarios",
            "it": "licenziamenti | dipendenti | sindacato | stipendi",
        },
        unless={
            "en": "strike a deal | strikes a deal | strike gold | lucky strike | strike price"
            " | falsif* ... hypothesis | harass* ... spam calls | bird strike"
            " | lightning strike | strike a pose | strike out | strikeout | strike back"
            " | first strike | air strike*",
            "es": "",
            "de": "",
            "fr": "",
            "pt": "",
            "it": "",
        },
    ),
    CategoryLexicon(
        name="discrimination",
        label="discrimination or accessibility",
        weight=0.8,
        strong={
            "en": "racist | racism | racial profiling | discriminat* | sexist | sexism"
            " | homophobic | transphobic | misogyn* | bigot* | slur | ableist | ableism"
            " | refused ... because ... black | refused ... because ... wheelchair"
            " | refused to serve | refused service | not wheelchair accessible"
            " | wheelchair users can t | wheelchair ... couldn t | wheelchair ... can t"
            " | =inaccessible | no ramp | not =accessible | screen reader ... doesn t"
            " | screen reader & impossible | screen reader & can t"
            " | screen reader & doesn t | screen reader & not work* | deaf ... refused"
            " | blind ... refused | guide dog ... refused | service dog ... refused"
            " | kicked out ... because | stupid immigrant* | dirty immigrant*"
            " | illegal alien* | dirty foreigner* | go back to your country"
            " | go back where you came from | speak english | because of her accent"
            " | because of his accent | because of my accent | because of my skin"
            " | because of her hijab | because of his turban | because i m black"
            " | because she s black | because he s black | because i m gay"
            " | because they re gay | deaf & refused | blind & refused | no captions"
            " | without captions | no interpreter | without an interpreter"
            " | no sign language | elderly ... shov*"
            " | refused to let ... board ... wheelchair | denied ... because"
            " | denies ... black | black applicants | black customers & denied"
            " | black customers & refused | followed me around the store"
            " | racially profiled | profiled me | treated differently because"
            " | refused ... because of my | turned away because | not allowed in because"
            " | twice the rate | redlining | pay gap | women paid less"
            " | blind customers ... cannot | blind customers ... can t"
            " | deaf customers ... cannot | wheelchair users ... cannot"
            " | no wheelchair access | not accessible to | no audio | no braille"
            " | paid less than | passed over for promotion | glass ceiling"
            " | gender discrimination | age discrimination | ageist | fired ... pregnant"
            " | pregnant ... fired | sexual harassment | hostile work environment"
            " | unequal pay | not one ... dark skin | nothing for dark skin | no shades for"
            " | ignores dark skin | excludes ... dark skin | only ... light skin"
            " | whitewash*",
            "es": "racista | racismo | discrimina* | sexista | homofob* | transfob* | machista"
            " | se negaron a atender | no ... accesible | silla de ruedas ... no"
            " | inmigrante de mierda | sudaca* | vete a tu pais | por ser negr*"
            " | por mi acento | por su acento | por llevar velo | lector de pantalla ... no"
            " | me negaron ... por | por ser mujer | por ser gay | trato diferente"
            " | clientes ciegos ... no | sin acceso para sillas | brecha salarial"
            " | cobran menos que | ganan menos que | acoso sexual"
            " | despedida por estar embarazada | discriminacion por edad"
            " | nada para piel oscura | ningun tono para",
            "de": "rassist* | diskriminier* | sexistisch | homophob* | transphob*"
            " | frauenfeindlich | nicht barrierefrei | rollstuhl ... nicht"
            " | bedienung verweigert | scheiss auslander | geh zuruck in dein land"
            " | wegen meiner hautfarbe | wegen seiner hautfarbe | wegen ihrer hautfarbe"
            " | wegen ihres kopftuchs | wegen meines akzents | screenreader ... nicht"
            " | wegen meiner herkunft | wegen meines namens | benachteiligt"
            " | blinde kunden ... nicht | nicht rollstuhlgerecht | ungleich behandelt"
            " | lohnlucke | weniger bezahlt als | verdienen weniger als"
            " | sexuelle belastigung | wegen schwangerschaft gekundigt"
            " | altersdiskriminierung | nichts fur dunkle haut | keine nuance fur",
            "fr": "racis* | discrimin* | sexiste | homophob* | transphob* | refuse* de servir"
            " | pas accessible | inaccessible | fauteuil roulant ... pas"
            " | voile ... refuse* | refuse* ... voile | sale arabe | sale noir"
            " | retourne dans ton pays | a cause de mon accent | a cause de son accent"
            " | a cause de sa couleur | a cause de ma couleur | lecteur d ecran ... pas"
            " | refuse ... a cause de | traite* differemment | clients aveugles ... pas"
            " | pas accessible aux fauteuils | inegalite salariale | payees moins que"
            " | payes moins que | harcelement sexuel | licenciee ... enceinte"
            " | discrimination a l age | rien pour les peaux foncees | aucune teinte pour",
            "pt": "racis* | discrimina* | machista | sexista | homofob* | transfob*"
            " | recus* a atender | nao ... acessivel | cadeira de rodas ... nao"
            " | volta pro seu pais | volta para o seu pais | por causa da minha cor"
            " | por ser negr* | por causa do meu sotaque | leitor de tela ... nao"
            " | negaram ... por ser | tratamento diferente | clientes cegos ... nao"
            " | sem acessibilidade | desigualdade salarial | ganham menos que"
            " | recebem menos que | assedio sexual | demitida ... gravida"
            " | nada para pele negra | nenhum tom para",
            "it": "razzis* | discrimina* | sessista | omofob* | transfob* | rifiutat* di servire"
            " | non ... accessibile | sedia a rotelle ... non | torna al tuo paese"
            " | per il colore della pelle | per il mio accento | per il suo accento"
            " | sporco negro | sporchi negri | screen reader ... non | rifiutat* ... perche"
            " | trattat* diversamente | clienti ciechi ... non | senza accessibilita"
            " | barriere architettoniche | divario salariale | pagate meno | pagati meno"
            " | molestie sessuali | licenziata ... incinta | niente per pelli scure"
            " | nessuna tonalita per",
        },
        weak={
            "en": "wheelchair | disabled people | disabled customer* | disabled user*"
            " | =disability | =accessibility | blind | deaf",
            "es": "silla de ruedas | discapacidad | discapacitad*",
            "de": "rollstuhl | behinderung | behindert*",
            "fr": "fauteuil roulant | handicap*",
            "pt": "cadeira de rodas | deficiencia | deficiente*",
            "it": "sedia a rotelle | disabil*",
        },
    ),
    CategoryLexicon(
        name="financial_governance",
        label="financial or governance",
        weight=0.8,
        strong={
            "en": "fraud | fraudulent | embezzl* | accounting irregularit* | irregularit*"
            " | restat* earnings | cooked the books | cooking the books | falsified"
            " | insider trading | misconduct | ceo ... resign* | cfo ... resign*"
            " | resign* ... ceo | abruptly resign* | ousted | placed on leave | bankrupt*"
            " | insolven* | default* on | auditor* ... examin* | auditor* quit"
            " | shares ... plung* | shares ... tumbl* | stock ... plung* | stock crash*"
            " | ponzi | bribery | bribe* | kickback* | money laundering | sec investigation"
            " | accounting probe | misse* ... payment | missed ... payment | debt payment"
            " | restructuring | creditors | lenders ... advis* | going under"
            " | profit warning | bailout | delisted | delisting | credit downgrade"
            " | downgraded to junk | fake accounts | accounts ... never asked for"
            " | accounts customers never | unauthori* accounts | sales quotas | misselling"
            " | mis selling | sold ... unwanted | loans to his own | loans to her own"
            " | self dealing | conflict of interest | nepotism | accounting scandal"
            " | auditor resigned | going concern | bank run | liquidity crisis"
            " | sold ... shares ... before | dumped ... shares | insider selling"
            " | misled investors | overstated revenue | inflated ... revenue"
            " | inflated ... numbers | inflated ... sales",
            "es": "fraude | malversacion | irregularidades contables | irregularidades | dimite"
            " | dimision | renuncia* ... director | quiebra | insolvencia | soborno*"
            " | blanqueo | lavado de dinero | acciones se desploman | desplome | impago"
            " | reestructuracion de deuda | acreedores | rescate financiero"
            " | cuentas falsas | cuotas de venta | conflicto de interes"
            " | escandalo contable | crisis de liquidez | vendio acciones antes"
            " | engano a los inversores",
            "de": "betrug | bilanzbetrug | bilanzfalschung | unregelmassigkeiten | veruntreuung"
            " | rucktritt | tritt zuruck | insolvenz | pleite | bestechung | geldwasche"
            " | aktie ... bricht ein | kurssturz | fehlverhalten | zahlungsausfall"
            " | umschuldung | glaubiger | rettungspaket | fake konten | scheinkonten"
            " | verkaufsdruck | interessenkonflikt | bilanzskandal | liquiditatskrise"
            " | aktien ... vor ... verkauft | anleger getauscht",
            "fr": "fraude | detournement | irregularites comptables | irregularites | demission"
            " | demissionne | faillite | insolvabilite | corruption | pots de vin"
            " | blanchiment | action ... chute | effondrement | defaut de paiement"
            " | restructuration de la dette | creanciers | plan de sauvetage | faux comptes"
            " | objectifs de vente | conflit d interets | scandale comptable"
            " | crise de liquidite | vendu ... actions avant | trompe les investisseurs",
            "pt": "fraude | desvio | irregularidades contabeis | irregularidades | renuncia*"
            " | falencia | recuperacao judicial | propina | corrupcao | lavagem de dinheiro"
            " | acoes despencam | calote | reestruturacao da divida | credores"
            " | resgate financeiro | contas falsas | metas abusivas"
            " | conflito de interesses | escandalo contabil | crise de liquidez"
            " | vendeu acoes antes | enganou investidores",
            "it": "frode | appropriazione indebita | irregolarita contabili | irregolarita"
            " | dimission* | si dimette | bancarotta | fallimento | insolvenza | corruzione"
            " | tangent* | riciclaggio | titolo crolla | insolvenza"
            " | ristrutturazione del debito | creditori | salvataggio | conti falsi"
            " | obiettivi di vendita | conflitto di interessi | scandalo contabile"
            " | crisi di liquidita | vendut* azioni prima | ingannato gli investitori",
        },
        weak={
            "en": "ceo | cfo | board | shares | stock | investors | auditors | shares fall",
            "es": "director ejecutivo | acciones | inversores",
            "de": "vorstand | aktie | anleger",
            "fr": "pdg | actionnaires | bourse",
            "pt": "presidente executivo | acoes | investidores",
            "it": "amministratore delegato | azioni | investitori | crollo",
        },
        unless={
            "en": "fraud alert service | fraud protection",
        },
    ),
    CategoryLexicon(
        name="outage",
        label="outage",
        weight=0.75,
        strong={
            "en": "outage | outages | service disruption | network down | service down"
            " | is down ... hours | down for hours | down all day | down all morning"
            " | down again | no service ... hours | no signal ... hours | can t call 911"
            " | down nationwide | nationwide outage | 911 ... fail* | calls fail*"
            " | dead for ... day* | dead for ... hour* | down for ... day*"
            " | down for ... hour* | offline for ... day* | offline for ... hour*"
            " | no service for ... day* | lost thousands | lost ... business"
            " | couldn t call 911 | cannot call 911 | emergency calls ... fail*"
            " | no internet ... days | nationwide ... down | systems down | system down"
            " | systems are down | down at every | down everywhere | down across | app down"
            " | site down | website down | servers down | server down | network outage"
            " | check in ... down | can t log in ... hours | crashes every time"
            " | keeps crashing | crashing ... update | won t open | can t log in"
            " | cannot log in | can t access my account | can t access ... account"
            " | payments ... failing | declined everywhere | service unavailable"
            " | not working again | broken since the update | since the update ... can t"
            " | bricked | bricking | won t start | wouldn t start | update broke"
            " | update ... broke | can t unlock my car | locked out of my car"
            " | errors at checkout | checkout ... errors | orders aren t going through"
            " | payments aren t going through | can t place ... order* | can t check out"
            " | error ... checkout",
            "es": "caida ... red | caida del servicio | sin servicio | sin senal ... horas"
            " | sin internet ... dias | apagon | interrupcion del servicio"
            " | no funciona ... horas | sistemas caidos | sistema caido | caida total"
            " | app caida | no puedo entrar | no puedo acceder | la app se cierra"
            " | se cae la app | no funciona desde | dejo inservibles | no arranca"
            " | la actualizacion rompio | error al pagar | no se pueden hacer pedidos",
            "de": "storung | ausfall | netzausfall | *ausfall | kein netz ... stunden"
            " | seit stunden ... kein | kein internet ... tage | funkloch"
            " | systeme ausgefallen | systemausfall | app ... ausgefallen | server ... down"
            " | komme nicht rein | kann mich nicht einloggen | app sturzt ab"
            " | sturzt standig ab | geht seit ... nicht | lahmgelegt | springt nicht an"
            " | update ... kaputt | fehler beim bezahlen | bestellungen ... nicht durch",
            "fr": "panne | coupure | pas de reseau ... heures | reseau ... en panne"
            " | sans internet ... jours | interruption de service | systemes en panne"
            " | panne informatique | panne generale | application en panne"
            " | impossible de me connecter | l appli plante | plante a chaque"
            " | ne marche plus depuis | bug depuis la mise a jour | ne demarre plus"
            " | la mise a jour a bloque | bloquees par la mise a jour | erreur au paiement"
            " | commandes ne passent pas",
            "pt": "pane | queda ... rede | fora do ar | sem sinal ... horas | sem servico"
            " | sem internet ... dias | sistemas fora do ar | sistema fora do ar"
            " | pane geral | aplicativo fora do ar | nao consigo entrar"
            " | nao consigo acessar | o app trava | fecha sozinho | nao liga mais"
            " | atualizacao travou | nao da partida | erro no pagamento"
            " | pedidos nao passam",
            "it": "disservizio | interruzione del servizio | rete ... down | senza rete"
            " | senza segnale ... ore | senza internet ... giorni | blackout"
            " | sistemi in tilt | sistema in tilt | guasto informatico | app in tilt"
            " | non riesco ad accedere | l app si blocca | si chiude da sola"
            " | non funziona da | non si avvia | l aggiornamento ha bloccato"
            " | bloccate dall aggiornamento | errore al pagamento | ordini non passano",
        },
        weak={
            "en": "down | no signal | no service | not working | can t connect | dropped calls"
            " | no internet | offline | won t load | crashed | crashes | blackout",
            "es": "no funciona | sin senal | sin conexion | caido",
            "de": "funktioniert nicht | kein netz | keine verbindung | offline",
            "fr": "ne marche pas | ne fonctionne pas | pas de reseau | plus de connexion",
            "pt": "nao funciona | sem sinal | sem conexao | caiu | instabilidade",
            "it": "non funziona | senza linea | nessun segnale | non va | guasto",
        },
        unless={
            "en": "down to | down payment | calm down | down the street | slow down | breaks down"
            " | count down | countdown | hands down | top down | down under | upside down"
            " | ups and downs | down for it | outage ... resolved | outage ... restored"
            " | outage ... fixed | outage ... is over | resolved ... outage"
            " | restored ... outage | outage ... back up | back ... after ... outage",
            "es": "",
            "de": "",
            "fr": "",
            "pt": "",
            "it": "",
        },
    ),
    CategoryLexicon(
        name="customer_service",
        label="customer-service failure",
        weight=0.75,
        strong={
            "en": "on hold for | hung up on | hangs up | kept me on hold | charged ... twice"
            " | charged ... three times | charged ... four times | billed twice"
            " | billed ... three times | double charged | overcharg* | no refund"
            " | still no refund | refused ... refund | won t refund | never refunded"
            " | closing my ticket | closed my ticket | ignored my complaint"
            " | worst customer service | worst service | terrible customer service"
            " | horrible customer service | useless support | support is useless"
            " | nobody helps | no one helps | impossible to cancel | can t cancel"
            " | won t let me cancel | lost my luggage | lost my bag* | lost my suitcase"
            " | lost my wheelchair | damaged my wheelchair | broke my wheelchair"
            " | stuck on the tarmac | stranded | screaming at | shouting at | yelled at"
            " | shoving | shoved | denied boarding | bumped from | only a voucher"
            " | voucher instead | won t give ... money back | inhumane"
            " | treated like animals | froze my account | frozen my account | froze my card"
            " | blocked my card | locked out of my account | locked me out"
            " | closed my account without | nobody answers | no one answers"
            " | nobody picks up | no one picks up | can t reach anyone"
            " | impossible to reach | runaround | ignored for weeks"
            " | still waiting ... weeks | still waiting ... months | refuses to refund"
            " | refused to refund | won t reimburse | refuse* to reimburse"
            " | says it s his problem | says it s my problem | says it s her problem"
            " | blamed me | no compensation | won t take it back | refuse* to take it back"
            " | sold me a ... flood* | sold ... as new | sold me a lemon | warranty denied"
            " | denied my warranty | refused ... warranty | voided my warranty"
            " | waiting for a part | months waiting | no replacement | lied to me"
            " | ignored my emails | ignoring my calls | money taken ... no package"
            " | no package | never arrived | never received | emails bounce | no tracking"
            " | is this company even real | disappeared with",
            "es": "me cobr* ... dos veces | cobr* dos veces | cobro doble | cobro indebido"
            " | sin reembolso | no ... devuelven | nadie ... responde | nadie me ayuda"
            " | pesimo servicio | pesima atencion | servicio ... pesimo"
            " | atencion al cliente ... nadie | me colgaron | horas en espera"
            " | perdio mi maleta | perdieron mi maleta | nadie me da respuesta"
            " | me dejaron en tierra | solo un vale | quiero mi dinero"
            " | me bloquearon la tarjeta | bloqueo la tarjeta | bloquearon mi cuenta"
            " | nadie contesta | nadie atiende | me dejaron sin dinero | semanas esperando"
            " | se niegan a devolver | se niega a devolver | no me lo quieren cambiar"
            " | como nuevo ... vendieron | vendieron ... como nuevo | garantia denegada"
            " | me mintieron | meses esperando | nunca llego | nunca llegaron"
            " | pedido ... nunca | sin paquete",
            "de": "doppelt abgebucht | zweimal abgebucht | doppelt berechnet | keine erstattung"
            " | kein geld zuruck | niemand antwortet | niemand hilft"
            " | kundenservice ... katastrophe | miserabler service | aufgelegt"
            " | stunden in der warteschleife | koffer verloren | gepack verloren"
            " | gestrandet | nur einen gutschein | will mein geld zuruck | karte gesperrt"
            " | konto gesperrt | niemand geht ran | niemand erreichbar"
            " | weigert sich ... erstatten | ohne vorwarnung gesperrt"
            " | als neuwagen verkauft | als neu verkauft | unfallwagen"
            " | garantie verweigert | haben mich angelogen | monatelang | nie angekommen"
            " | nie geliefert | paket ... nie",
            "fr": "facture* deux fois | debite* deux fois | preleve* deux fois"
            " | pas de remboursement | jamais rembours* | personne ne repond"
            " | service client ... nul | service client ... catastrophique | m a raccroche"
            " | raccroche au nez | heures d attente | annule sans explication"
            " | bagage perdu | valise perdue | dort par terre | bloques a l aeroport"
            " | seulement un bon | rembourser mon argent | bloque ma carte"
            " | bloque mon compte | personne ne decroche | injoignable"
            " | refuse de rembourser | refusent de rembourser | vendu comme neuf"
            " | vendue comme neuve | garantie refusee | m ont menti | des mois d attente"
            " | jamais arrive* | jamais recu | colis ... jamais",
            "pt": "cobrad* duas vezes | cobranc* indevid* | cobraram duas vezes | sem reembolso"
            " | ninguem responde | ninguem resolve | atendimento pessimo"
            " | pessimo atendimento | desligaram na minha cara | horas esperando"
            " | so um voucher | quero meu dinheiro de volta | extraviaram minha mala"
            " | mala extraviada | bloqueou meu | bloquearam minha | bloquearam meu"
            " | ninguem atende | ninguem explica | se recusa a devolver | vendido como novo"
            " | garantia negada | mentiram para mim | meses esperando | nunca chegou"
            " | nunca chegaram | pedido ... nunca",
            "it": "addebitat* due volte | doppio addebito | nessun rimborso | nessuno risponde"
            " | servizio clienti ... pessimo | pessimo servizio | mi hanno attaccato"
            " | ore di attesa | in attesa da ore | lasciato a terra | bagaglio smarrito"
            " | valigia persa | solo un voucher | rivoglio i miei soldi | bloccato la carta"
            " | bloccato il conto | nessuno risponde al telefono | irraggiungibil*"
            " | si rifiuta di rimborsare | venduto come nuovo | venduta come nuova"
            " | garanzia negata | mi hanno mentito | mesi di attesa | mai arrivat*"
            " | mai ricevut* | assistenza clienti sparita | sparit* ... assistenza",
        },
        weak={
            "en": "support | customer service | customer care | on hold | refund | charged"
            " | billed | ticket | complaint | agent | chat | waited | waiting | ignored"
            " | useless | rude | no water | no food | without explanation | no warning"
            " | without warning | hotline | weeks | months",
            "es": "atencion al cliente | soporte | reembolso | cobro | reclamacion | esperando"
            " | sin explicacion",
            "de": "kundenservice | kundendienst | hotline | erstattung | rechnung | beschwerde"
            " | warteschleife | unverschamt | ohne erklarung",
            "fr": "service client | sav | remboursement | facture | reclamation | attente"
            " | sans explication",
            "pt": "atendimento | suporte | reembolso | cobranca | reclamacao | esperando"
            " | sem explicacao",
            "it": "servizio clienti | assistenza | rimborso | addebito | reclamo | attesa"
            " | senza spiegazione",
        },
        unless={
            "en": "support team was great | thanks for the support | support was great"
            " | support was amazing | support is great | great support | amazing support"
            " | quick refund | got my refund | refund came through",
        },
    ),
    CategoryLexicon(
        name="pricing_practices",
        label="pricing practices",
        weight=0.75,
        strong={
            "en": "hidden fee* | junk fee* | surprise fee* | bait and switch | price gouging"
            " | gouging | shrinkflation | without notice | without warning | no notice"
            " | sneaky ... fee* | misleading ... price* | false advertising | ripoff"
            " | doubl* my bill | bill ... doubl* | tripl* my bill | bill ... tripl*"
            " | doubl* the price | price ... doubl* | rip off | ripped off"
            " | added a ... fee | new ... fee ... buried | fee* ... buried"
            " | buried ... checkout | drip pricing | resort fee* | junk charge*"
            " | surprise charge* | sneak* in ... fee* | overdraft fee* | predatory"
            " | fee hike | raised ... fees | charged me a ... fee | three times in one day"
            " | fee ... on a | a month to use | pay to unlock | locked behind a paywall"
            " | locked behind a subscription | subscription ... already in | dealer markup"
            " | surcharge | auto renew* ... without | charged after cancel*"
            " | smaller and costs the same | smaller ... same price"
            " | smaller ... costs the same | less product ... same price | less in the box"
            " | fewer ... same price",
            "es": "cargos ocultos | comisiones ocultas | subida ... sin aviso | sin previo aviso"
            " | publicidad enganosa | nos roban | reduflacion | timo | nueva tarifa oculta"
            " | cargo sorpresa | comisiones abusivas | cobro abusivo | nueva comision"
            " | comision por mantenimiento | suscripcion para usar | pagar para desbloquear"
            " | recargo | mas pequeno ... mismo precio | menos cantidad ... mismo precio",
            "de": "versteckte kosten | versteckte gebuhren | ohne vorwarnung | ohne ankundigung"
            " | preiserhohung ... ohne | irrefuhrende werbung | abzocke | shrinkflation"
            " | neue gebuhr ... versteckt | gebuhr ... versteckt | kontofuhrungsgebuhr"
            " | gebuhrenerhohung | uberziehungsgebuhr | ohne ... zu informieren"
            " | plotzlich ... gebuhr | abo fur ... bereits | bezahlen um ... freizuschalten"
            " | aufschlag | kleiner ... gleicher preis | weniger inhalt ... gleicher preis",
            "fr": "frais caches | sans prevenir | sans preavis | hausse ... sans"
            " | publicite mensongere | arnaque | reduflation | nouveaux frais ... caches"
            " | frais ... surprise | frais de tenue de compte | frais abusifs"
            " | nouveaux frais | hausse des frais | abonnement pour utiliser"
            " | payer pour debloquer | supplement cache | plus petit ... meme prix"
            " | moins de produit ... meme prix",
            "pt": "taxas escondidas | taxas ocultas | sem aviso | propaganda enganosa"
            " | reduflacao | cobranca abusiva | nova taxa ... escondida | cobranca surpresa"
            " | tarifa abusiva | taxa abusiva | nova tarifa | cobranca indevida"
            " | assinatura para usar | pagar para desbloquear | sobretaxa"
            " | menor ... mesmo preco | menos produto ... mesmo preco",
            "it": "costi nascosti | commissioni nascoste | senza preavviso"
            " | pubblicita ingannevole | truffa | sgrammatura | rincari ... senza"
            " | nuova commissione ... nascosta | addebito a sorpresa | commissioni abusive"
            " | nuove commissioni | aumento ... canone | abbonamento per usare"
            " | pagare per sbloccare | sovrapprezzo | piu piccol* ... stesso prezzo"
            " | meno prodotto ... stesso prezzo",
        },
        weak={
            "en": "price | prices | bill | fee | fees | rate hike | price hike | went up | shrank"
            " | smaller | same price",
            "es": "precio | factura | tarifa | subida | un robo",
            "de": "preis | rechnung | gebuhr* | erhohung",
            "fr": "prix | facture | frais | hausse",
            "pt": "preco | conta | tarifa | aumento | roubo",
            "it": "prezzo | bolletta | tariffa | aumento | rincaro",
        },
        unless={
            "en": "no surprise charge* | no hidden fee* | no hidden cost* | no hidden charge*"
            " | without hidden fee* | no junk fee* | zero hidden fee* | no surprise fee*"
            " | never a surprise",
            "es": "sin cargos ocultos | sin comisiones ocultas | sin sorpresas",
            "de": "keine versteckten kosten | keine versteckten gebuhren | ohne versteckte kosten",
            "fr": "sans frais caches | aucun frais cache | pas de frais caches",
            "pt": "sem taxas escondidas | sem taxas ocultas | sem surpresas",
            "it": "senza costi nascosti | nessun costo nascosto | senza sorprese",
        },
    ),
    CategoryLexicon(
        name="environment",
        label="environmental harm",
        weight=0.8,
        strong={
            "en": "pollut* | =dumping | dumped ... river | toxic waste | chemical spill"
            " | oil spill | spill* ... river | wastewater | sewage | contaminat* ... water"
            " | dead fish | emissions scandal | greenwash* | deforestation"
            " | illegal logging | toxic fumes | toxic smoke | e waste ... dump*"
            " | fake offsets | bogus offsets | phantom offsets | offsets ... never existed"
            " | offsets ... worthless | offsets ... don t exist"
            " | carbon neutral ... misleading | misleading ... green"
            " | misleading ... eco friendly | climate claims ... false"
            " | emissions ... underreported | emissions ... understated"
            " | offsets & never existed | offsets & don t exist | offsets & worthless"
            " | offsets & fake | financ* ... coal | lend* ... coal | fund* ... coal"
            " | financ* ... fossil | lend* ... fossil | fund* ... fossil"
            " | financ* ... pipeline* | lend* ... pipeline* | fracking | tar sands"
            " | palm oil ... deforest* | plastic pollution | microplastic*"
            " | pesticide* ... river | markets itself as green | pretends to be green"
            " | climate hypocri* | cheated on emissions | emissions cheat* | defeat device"
            " | dieselgate | emissions tests ... cheat* | cheat* ... emissions"
            " | falsified emissions | bleach* ... coral | coral ... bleach*"
            " | reef ... damag* | harms ... reefs | harmful to ... reefs | microplastic*",
            "es": "contaminacion | contamina* ... rio | vertido* | residuos toxicos | derrame"
            " | emisiones toxicas | deforestacion | lavado verde | peces muertos"
            " | compensaciones ... falsas | neutro en carbono ... enganoso"
            " | financia* ... carbon | combustibles fosiles | se vende como verde"
            " | truco las emisiones | manipulacion de emisiones | microplasticos"
            " | danan ... corales",
            "de": "umweltverschmutzung | verschmutz* | umweltverstoss* | giftmull | abwasser"
            " | giftige abgase | greenwashing | abholzung | tote fische | olpest"
            " | ausgelaufen | klimaneutral ... irrefuhrend | kompensation* ... wertlos"
            " | scheinkompensation | finanziert ... kohle | fossile brennstoffe"
            " | gibt sich grun | abgasskandal | abgasmanipulation | abschalteinrichtung"
            " | mikroplastik | korallen ... schad*",
            "fr": "pollution | pollue* | deversement | dechets toxiques | eaux usees"
            " | fumees toxiques | greenwashing | deforestation | poissons morts"
            " | maree noire | neutre en carbone ... trompeur | compensation* ... bidon"
            " | finance* ... charbon | energies fossiles | se dit verte"
            " | triche aux emissions | logiciel truqueur | microplastiques"
            " | abime* ... coraux",
            "pt": "poluic* | polui* | despejo | residuos toxicos | esgoto | vazamento de oleo"
            " | greenwashing | desmatamento | peixes mortos"
            " | neutro em carbono ... enganoso | compensacoes ... falsas"
            " | financia* ... carvao | combustiveis fosseis | se vende como verde"
            " | fraude nas emissoes | manipulacao de emissoes | microplasticos"
            " | danificam ... corais",
            "it": "inquinament* | inquina* | scarich* | rifiuti tossici | sversamento"
            " | fumi tossici | greenwashing | deforestazione | pesci morti"
            " | a impatto zero ... ingannevole | compensazioni ... false"
            " | finanzia* ... carbone | combustibili fossili | si presenta come green"
            " | truccato le emissioni | manipolazione delle emissioni | microplastiche"
            " | danneggia* ... coralli",
        },
        weak={
            "en": "river | environment | climate | plastic waste | emissions | coal"
            " | fossil fuel* | oil and gas | hypocrites",
            "es": "medio ambiente | emisiones",
            "de": "umwelt | emissionen",
            "fr": "environnement | emissions",
            "pt": "meio ambiente | emissoes",
            "it": "ambiente | emissioni",
        },
    ),
    CategoryLexicon(
        name="misinformation",
        label="misinformation or rumour",
        weight=0.75,
        strong={
            "en": "cover* up | covering it up | share before ... delet* | before they delete"
            " | they don t want you to know | wake up people | sheeple | mainstream media"
            " | causes cancer | cause cancer | giving people cancer | microchip*"
            " | mind control | tracking you | selling your data to | secretly ... selling"
            " | heard that ... going bankrupt | insider says | leaked memo | 5g ... cancer"
            " | 5g ... covid | radiation ... kill* | radiation ... cancer"
            " | tower* ... cancer | anti 5g | hoax | not what they tell you | baseless"
            " | debunk* | false claim* | viral claim* | unfounded | withdraw your money"
            " | get your money out | pull your money out | about to collapse"
            " | going to collapse | before it s deleted | what they don t tell you"
            " | do your own research | like svb | send* your ... to the government"
            " | spying on you | listening to your conversations"
            " | record* your conversations | tracking chip | mark my words"
            " | nobody is talking about | the media won t | bunny logo ... animal testing"
            " | animal testing ... while | secretly tests on animals"
            " | lying about ... cruelty free | fake cruelty free",
            "es": "encubr* | comparte antes ... borren | no quieren que sepas | despierten"
            " | causa cancer | bulo | 5g ... cancer | 5g ... covid | saquen su dinero"
            " | retiren su dinero | va a quebrar | a punto de quebrar"
            " | antes de que lo borren | lo que no te cuentan | te espian"
            " | escuchan tus conversaciones | nadie habla de esto",
            "de": "vertusch* | teilen bevor ... loschen | das wollen sie nicht | wacht auf"
            " | verursacht krebs | 5g ... krebs | hebt euer geld ab | holt euer geld"
            " | kurz vor der pleite | bevor es geloscht wird | was sie euch nicht sagen"
            " | horen euch ab | spionieren euch aus | niemand spricht daruber",
            "fr": "dissimul* | camoufl* | partagez avant ... supprim* | ils ne veulent pas"
            " | reveillez vous | cause le cancer | 5g ... cancer | retirez votre argent"
            " | sur le point de faire faillite | avant que ce soit supprime"
            " | ce qu on ne vous dit pas | vous espionne | ecoute vos conversations"
            " | personne n en parle",
            "pt": "encobr* | compartilhe antes ... apag* | nao querem que voce saiba | acordem"
            " | causa cancer | 5g ... cancer | saquem seu dinheiro | tirem seu dinheiro"
            " | vai quebrar | antes que apaguem | o que nao te contam | te espionam"
            " | ouvem suas conversas | ninguem fala disso",
            "it": "insabbia* | copr* tutto | condividete prima ... cancell* | non vogliono che"
            " | svegliatevi | causa il cancro | bufala | 5g ... cancro | ritirate i soldi"
            " | sta per fallire | prima che lo cancellino | quello che non vi dicono"
            " | vi spiano | ascoltano le vostre conversazioni | nessuno ne parla",
        },
        weak={
            "en": "apparently | allegedly | supposedly | they say | rumor | rumour | rumors"
            " | rumours | is it true | conspiracy | spread the word | my cousin works at"
            " | my friend works at | a friend who works at | an insider told me"
            " | someone who works at | quietly | secretly | trust me | word is | heard they"
            " | look it up | wake up",
            "es": "dicen que | supuestamente | rumor* | conspiracion | corre la voz"
            " | mi primo trabaja en | un amigo que trabaja en",
            "de": "angeblich | geruchte | verschworung | sagt es weiter"
            " | mein cousin arbeitet bei | ein freund arbeitet bei",
            "fr": "apparemment | soi disant | rumeur* | complot | faites tourner"
            " | mon cousin travaille chez | un ami qui travaille chez",
            "pt": "dizem que | supostamente | boato* | conspiracao | espalhem"
            " | meu primo trabalha na | um amigo que trabalha na",
            "it": "pare che | presumibilmente | girano voci | complotto | fate girare"
            " | mio cugino lavora da | un amico che lavora da",
        },
    ),
    CategoryLexicon(
        name="boycott",
        label="boycott",
        weight=0.8,
        strong={
            "en": "boycott | boycotting | boycotted | dont buy | don t buy | stop buying"
            " | stop using | never buying ... again | never using ... again | never again"
            " | take our money elsewhere | taking my business elsewhere | stop flying"
            " | stop shopping at | stop ordering from | stop buying from | stop flying with"
            " | everyone to stop | move your money | close your account*"
            " | cancel your account* | delete your account* | closing my account & join us"
            " | closing my account & credit union | cancel* ... & join us"
            " | take your business elsewhere | don t buy a | do not buy"
            " | avoid ... at all costs | steer clear of | done with ... returning"
            " | returning everything | telling every friend | telling everyone i know"
            " | never shopping ... again | never ordering ... again",
            "es": "boicot | boicotear | boicoteo | no compren | dejen de comprar | nunca mas"
            " | cierren sus cuentas | cancelen sus cuentas | saquen su dinero de"
            " | devolviendo todo | dejo de seguir",
            "de": "boykott* | nicht mehr kaufen | kauft nicht | nie wieder | kundigt eure konten"
            " | wechselt die bank | geht weg von | schicke alles zuruck | entfolge",
            "fr": "boycott* | n achetez plus | arretez d acheter | plus jamais"
            " | fermez vos comptes | changez de banque | je renvoie tout | je me desabonne",
            "pt": "boicot* | nao comprem | parem de comprar | nunca mais | fechem suas contas"
            " | troquem de banco | devolvendo tudo | deixei de seguir",
            "it": "boicott* | non comprate | smettete di comprare | mai piu | chiudete i conti"
            " | cambiate banca | restituisco tutto | smetto di seguire",
        },
        weak={
            "en": "cancel your | cancelling my | canceling my | cancelled my | canceled my"
            " | switching to | switched ... because | done with | delete ... app"
            " | uninstall* | closing my account | closed my account"
            " | moving ... to a credit union | join us | spread this | tell everyone"
            " | stay away from | unfollowing | unfollow*",
            "es": "cancelar ... contrato | me cambio a | me doy de baja | dar de baja",
            "de": "kundige* | gekundigt | wechsle zu | wechseln zu",
            "fr": "resilie* | je resilie | je change pour",
            "pt": "cancelei | vou cancelar | vou trocar",
            "it": "disdett* | disdire | passo a",
        },
        unless={
            "en": "done with work | done with my | switching to dark mode | never again ... lol",
        },
    ),
    CategoryLexicon(
        name="abuse",
        label="abuse aimed at the brand or its staff",
        weight=0.8,
        strong={
            "en": "idiot* | moron* | imbecil* | cretin* | retard* | clowns | run by clowns | scum"
            " | scumbag* | garbage company | trash company | shit company | shitty company"
            " | worthless | fuck them | fuck you | fuck off | fuck this | fuck lumen"
            " | go to hell | burn in hell | rot in hell | burn ... down | should be shot"
            " | kill yourself | kys | die in a fire | bastards | assholes | arseholes"
            " | dickheads | jerks | losers | braindead | brain dead | thieves | crooks"
            " | liars | disgusting company | wankers | twats | cunts | parasites | leeches"
            " | vultures | bloodsuckers | crooked | criminals | hope they ... bankrupt"
            " | hope they ... rot | hope they ... burn | hope you ... rot | piece of shit"
            " | pieces of shit | subhuman",
            "es": "idiotas | idiota | imbeciles | imbecil | estupidos | subnormales | gilipollas"
            " | cabrones | hijos de puta | hdp | ladrones | mierda | payasos | malditos"
            " | que se vayan a la | vete a la | sinverguenzas | mentirosos | putos"
            " | parasitos | chupasangres | buitres | ojala quiebren | ojala se hundan"
            " | sanguijuelas | delincuentes",
            "de": "idioten | idiot | vollidioten | arschlocher | arschloch | wichser"
            " | drecksladen | drecksfirma | scheissladen | scheissfirma | scheiss"
            " | verbrecher | betruger | versager | penner | spasten | lugner | mistladen"
            " | verbrecherbande | diebesbande | betrugerbande | abzockerbande | abzocker"
            " | verbrecher* | parasiten | blutsauger | aasgeier | hoffentlich ... pleite"
            " | kriminelle",
            "fr": "connards | connard | encules | abrutis | imbeciles | cons | merde | voleurs"
            " | escrocs | pourris | menteurs | salauds | ordures | allez vous faire"
            " | parasites | sangsues | vautours | crapules | bandits",
            "pt": "idiotas | imbecis | babacas | otarios | merda | ladroes | vagabundos"
            " | canalhas | filhos da puta | fdp | porcaria | mentirosos | vao se foder"
            " | cambada | parasitas | sanguessugas | abutres | bandidos | corja",
            "it": "idioti | imbecilli | cretini | coglioni | stronzi | merda | ladri | buffoni"
            " | bastardi | vaffanculo | fanculo | truffatori | bugiardi | pezzi di"
            " | parassiti | sanguisughe | avvoltoi | spero che falliscano | delinquenti"
            " | criminali",
        },
        weak={
            "en": "fuck* | shit* | crap* | damn | trash | garbage | sucks | stupid | dumb | clown"
            " | incompetent | pathetic | worthless",
            "es": "puta | joder | porqueria | basura | inutiles",
            "de": "mist | kacke | unfahig | inkompetent",
            "fr": "chier | naze | putain | nuls | incompetents",
            "pt": "droga | lixo | incompetentes",
            "it": "cazzo | fa schifo | schifo | incompetenti",
        },
        unless={
            "en": "killer battery | killer deal | killer price | killer app | sick deal"
            " | the bomb | da bomb | bomb deal | shit ton | holy shit ... love | no shit"
            " | fucking love | fucking great | fucking amazing | damn good | hate to love"
            " | i hate that i love",
            "es": "de puta madre | que bomba",
            "de": "scheissegal",
            "fr": "putain ... genial | putain ... trop bien",
            "pt": "",
            "it": "una bomba | da paura",
        },
    ),
)
