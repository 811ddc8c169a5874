"""The words with which a model declines a task ("I'm sorry, but I can't help with
that"), shared by the client (OpenAI's ``message.refusal``) and the labeler (a refusal
in prose, or in a JSON object listing no label). Only those words are ever quoted: the
rest of a refusal may echo the document (a phone number from a user's report). Kept
free of other imports, so either module can use it without a cycle."""

from __future__ import annotations

import re

#: what an answer declining the task says (hosted and local models alike: "I'm sorry,
#: but I can't help with that", "I cannot assist with this request", "I'm not able to
#: help with that"); not "I cannot classify it as any of them", which explains an
#: answer that none applies, nor "I cannot help but note none applies" nor "I can't
#: support any of these labels" (support only of a request, a task, content, or "this"
#: / "that" ending the sentence): in ``{"labels": [], "note": ...}`` these made an
#: honest "none applies" a refusal; nor the same idiom with a gerund, "I can't help
#: noticing it is about billing" (a refusal only of the task's own verbs: "I can't help
#: labelling this"), nor of a word ending in -ing that is no gerund ("I cannot assist
#: regarding this request", "I can't help concerning that": refusals)
_HELP = (r"(?:help|assist)\b(?!\s+but\b)(?!\s+(?!(?:label+ing|classifying|categori[sz]ing"
         r"|tagging|processing|analy[sz]ing|regarding|concerning|involving|including"
         r"|during|anything|something|everything)\b)[a-z]+ing\b)")
_SUPPORT = (r"support\s+(?:(?:this|that|such|your|these|those)\s+(?:kinds?\s+of\s+)?"
            r"(?:requests?|tasks?|content|material)\b|(?:this|that)\s*(?:[.!;]|$)"
            r"|(?:requests?|content)\b)")
#: the task declined in the words hosted models also use ("I cannot fulfill this
#: request", "I can't provide that.", "I cannot complete this task"), each left an
#: unanswered document counted a malformed answer: not "I can't provide a label",
#: which explains that none applies
_DECLINED = (r"|fulfill?\s+(?:this|that|your)\s+request|complete\s+(?:this|that)\s+"
             r"(?:task|request)|provide\s+(?:assistance|help)\b"
             r"|provide\s+(?:this|that)\s*(?:[.!;]|$)")
#: the same openings in the other languages tagsmith's users label in (German, French,
#: Spanish, Finnish, Swedish), each a refusal to help or of the request, not one to
#: give a label ("Ich kann kein Label zuordnen", "Je ne peux pas attribuer d'étiquette",
#: "No puedo asignar ninguna etiqueta", "En voi antaa tunnistetta", "Jag kan inte
#: tilldela någon etikett": none applies) nor the idiom "can't help but" ("Je ne peux
#: pas m'empêcher de", "No puedo evitar", "En voi olla huomaamatta", "Jag kan inte låta
#: bli att"): each was a malformed answer, or a "none applies" of an empty labels list
_OTHER_LANGUAGE_REFUSALS = {
    "de": (
        # German: "Ich kann dabei leider nicht helfen", "Dabei kann ich Ihnen nicht helfen",
        # "Ich kann diese Anfrage nicht bearbeiten", "Ich muss das ablehnen"
        r"\b(?:ich\s+kann|kann\s+ich)\s+(?:\w+\s+){0,3}?nicht\s+(?:helfen|behilflich"
        r"|weiterhelfen)\b",
        r"\bich\s+kann\s+(?:diese[nm]?\s+(?:Anfrage|Auftrag|Aufgabe|Inhalt)|das|dies)\s+"
        r"(?:leider\s+)?nicht\s+(?:bearbeiten|erfüllen|ausführen|nachkommen)",
        r"\bich\s+muss\s+(?:das\s+|dies\s+|diese\s+Anfrage\s+)?ablehnen",
    ),
    "fr": (
        # French: "Je ne peux pas vous aider", "Je ne peux pas répondre à cette demande",
        # "Je ne suis pas en mesure d'aider", "Je dois refuser"
        r"\bje\s+ne\s+(?:peux|pourrai)\s+pas\s+(?:vous\s+|t['\u2019]\s*)?(?:aider|assister)\b",
        r"\bje\s+ne\s+suis\s+pas\s+en\s+mesure\s+(?:d['\u2019]\s*|de\s+(?:vous\s+|t['\u2019]\s*))"
        r"(?:aider|assister)\b",
        r"\bje\s+ne\s+(?:peux|pourrai)\s+pas\s+(?:répondre\s+à|traiter|donner\s+suite\s+à"
        r"|satisfaire)\s+(?:cette|votre|ta)\s+(?:demande|requête)",
        r"\bje\s+dois\s+(?:refuser|décliner)",
    ),
    "es": (
        # Spanish: "No puedo ayudar con eso", "No puedo ayudarte", "No puedo cumplir con
        # esta solicitud", "Debo negarme"
        r"\bno\s+(?:puedo|podré|me\s+es\s+posible|estoy\s+en\s+condiciones\s+de)\s+"
        r"(?:ayudar|asistir)(?:te|le|les|lo|la)?\b",
        r"\bno\s+puedo\s+(?:cumplir\s+con|procesar|completar|atender)\s+(?:esta|esa|tu|su)"
        r"\s+(?:solicitud|petición|tarea)",
        r"\bdebo\s+(?:negarme|rechazar)",
    ),
    "fi": (
        # Finnish: "En voi auttaa tässä", "Valitettavasti en pysty auttamaan", "En voi
        # käsitellä tätä pyyntöä", "Minun täytyy kieltäytyä"
        r"\ben\s+(?:voi|pysty|kykene)\s+(?:\w+\s+)?(?:auttaa|auttamaan|avustaa|avustamaan)\b",
        r"\ben\s+(?:voi|pysty)\s+(?:käsittelemään|käsitellä|täyttämään|täyttää|toteuttamaan"
        r"|toteuttaa)\s+(?:tätä|tuota)\s+(?:pyyntöä|tehtävää)",
        r"\btäytyy\s+kieltäytyä",
    ),
    "sv": (
        # Swedish: "Jag kan inte hjälpa till med det", "Det kan jag tyvärr inte hjälpa till
        # med", "Jag kan inte tillmötesgå denna begäran", "Jag måste avböja"
        r"\b(?:jag\s+kan|kan\s+jag)\s+(?:tyvärr\s+)?(?:inte|ej)\s+(?:\w+\s+)?(?:hjälpa|bistå)\b",
        r"\bjag\s+kan\s+(?:tyvärr\s+)?(?:inte|ej)\s+(?:tillmötesgå|uppfylla|behandla|utföra)"
        r"\s+(?:denna|den\s+här|din|detta)\s+(?:begäran|förfrågan|uppgift)",
        r"\bjag\s+måste\s+(?:avböja|vägra|tacka\s+nej)",
    ),
}
_OTHER_LANGUAGES = tuple(pattern for patterns in _OTHER_LANGUAGE_REFUSALS.values()
                         for pattern in patterns)
REFUSAL = re.compile(
    r"\b(?:I\s*(?:can\s*not|can['\u2019]?t|cannot|won['\u2019]?t(?:\s+be\s+able\s+to)?"
    r"|will\s+not|(?:am|['\u2019]m)\s+(?:not\s+able|unable|not\s+going)\s+to)\s+(?:"
    + _HELP + r"|comply|engage|do\s+that|process\s+(?:this|that)|continue|" + _SUPPORT
    + _DECLINED + r")"
    r"|I\s+(?:must|have\s+to)\s+(?:decline|refuse)|unable\s+to\s+(?:" + _HELP
    + r"|comply))" + r"|(?:" + "|".join(_OTHER_LANGUAGES) + r")", re.IGNORECASE)

#: how much of a text is searched for them (a refusal says so at its start)
SEARCHED = 2000

#: after a plural's possessive apostrophe ("users' data"), the noun it qualifies: a
#: lowercase word, but not one that follows a closing quote ("'... my sons' she said"),
#: nor an adverb, pronoun or auxiliary, which no possessive qualifies ("'I can't assist
#: my parents' friends' anymore": the quote, closed after "friends", was left open to
#: the end, and its refusing words counted a refusal)
_NOUN = (r"\s+(?!(?:said|says|she|he|they|it|we|and|or|but|is|was|are|were|in|on|at"
         r"|to|as|for|from|of|with|which|that|the|an?|anymore|any\s+more|again|now|too"
         r"|either|yet|here|there|then|today|anyway|also|so|not|ever|never|always|already"
         r"|really|very|though|instead|if|when|while|because|until|since|after|before|by"
         r"|into|about|i|me|you|him|her|us|them|do|does|did|has|have|had|will|would|can"
         r"|could|should|may|might|must|wrote|writes|adds|added)\b)[a-z]")
#: a quotation: in double quotes (straight, curly, low-9 as German opens them, guillemets
#: either way) or single ones (straight or curly), an apostrophe within a word ("can't",
#: "I’m") or a plural's possessive ("users' data") not ending it. A note quoting the
#: document's own words ("The text quotes a customer: 'I can't assist my mother
#: anymore'") was a refusal; and a straight quote left open before a refusal was closed
#: by a possessive ("threats. 'I can't help with leaking users' data"), hiding it
_QUOTED = re.compile(
    r'"[^"]*"|“[^”]*”|„[^“”]*[“”]'
    r"|«[^»]*»|»[^«]*«"
    + "".join(rf"|{opening}(?:[^{close}]|(?<=\w){close}(?=\w)|(?<=s){close}(?={_NOUN}))*"
              rf"(?:(?<!s){close}|{close}(?!{_NOUN}))(?!\w)"
              for opening, close in ((r"(?<!\w)'", "'"), ("‘", "’"))))
#: reported speech: a verb of saying, then the words said, at most a pronoun and a form
#: of "be" before them ("the user says they are unable to help it", "the customer
#: writes: I can't assist my mother anymore", "she said that I cannot help her"), the
#: speaker's words reported, no refusal of the model's; in each language whose refusals
#: :data:`REFUSAL` tells ("Der Kunde sagt, ich kann ihm nicht helfen", "Le client écrit
#: que je ne peux pas vous aider", "El cliente dice que no puedo ayudarle", "Asiakas
#: sanoo, että en voi auttaa häntä", "Kunden säger att jag kan inte hjälpa honom"),
#: each of which was a refusal where the English was not. The verbs are a speaker's
#: (third person), not the model's own ("Dije que no puedo ayudar"); a verb opening an
#: aside of the model's is none ("That said, I can't help with that", "Cela dit, je
#: ne peux pas vous aider", "Med det sagt kan jag inte hjälpa till": refusals missed),
#: nor is "said that" followed by a comma, an aside closing ("Having said that, I can't
#: help with that"), nor "Cela étant dit, je ne peux pas ..."
#: Each language's verbs count only before a refusal in that language (English ones
#: before any: a note in English quotes a French customer): "dice", "cite", "dit" and
#: "plaint" are English words too ("Roll the dice, I can't help with gambling",
#: "Whatever sources you cite, I can't help with that": refusals missed)
_SAYING_VERBS = {
    "en": ("says|said|writes|wrote|reads|stated|quoted|reported|claimed|complains"
           "|complained|explains|explained|mentioned|adds|added|insists|insisted|admits"
           "|admitted"),
    "de": ("sagt|sagte|gesagt|schreibt|schrieb|geschrieben|meint|meinte|behauptet"
           "|behauptete|berichtet|berichtete|erklärt|erklärte|zitiert|zitierte|erwähnt"
           "|erwähnte|klagt|klagte|beklagt|beklagte|betont|betonte|besagt|schildert"
           "|schilderte"),
    "fr": ("dit|disait|écrit|écrivait|déclare|déclaré|affirme|affirmé|explique|expliqué"
           "|raconte|raconté|mentionne|mentionné|ajoute|ajouté|plaint|prétend|prétendu"
           "|cite|cité|rapporte|rapporté|indique|indiqué|admet|admis|reconnaît|reconnu"
           "|insiste|insisté|précise|précisé|souligne|souligné"),
    "es": ("dice|dijo|dicho|escribe|escribió|escrito|afirma|afirmó|afirmado|declara"
           "|declaró|declarado|explica|explicó|explicado|menciona|mencionó|mencionado"
           "|añade|añadió|añadido|queja|quejó|asegura|aseguró|asegurado|informa|informó"
           "|cita|citó|citado|admite|admitió|insiste|insistió|sostiene|comenta|comentó"
           "|comentado|indica|indicó|indicado"),
    "fi": ("sanoo|sanoi|sanovat|sanonut|kirjoittaa|kirjoitti|kirjoittanut|toteaa|totesi"
           "|toteavat|kertoo|kertoi|kertovat|kertonut|väittää|väitti|valittaa|valitti"
           "|selittää|selitti|mainitsee|mainitsi|lainaa|lainasi|korostaa|korosti"),
    "sv": ("säger|sa|sade|sagt|skriver|skrev|skrivit|påstår|påstod|uppger|uppgav"
           "|berättar|berättade|förklarar|förklarade|nämner|nämnde|citerar|citerade"
           "|klagar|klagade|hävdar|hävdade|menar|menade|tillägger|tillade|medger|medgav"
           "|rapporterar|rapporterade"),
}
#: English verbs of saying that are also plural nouns ("About insurance claims, I can't
#: help with that", "Under the laws of several states, ...", "Despite the news reports,
#: ...": refusals missed): verbs only where no comma alone follows them ("The customer
#: states: ...", "... reports that ...", "... claims I can't help")
_SAYING_NOUNS = "states|quotes|reports|claims|mentions"
_SAYING_OPENING = (r"\b(?<!that\s)(?<!this\s)(?<!being\s)(?<!cela\s)(?<!ceci\s)(?<!ça\s)"
                   r"(?<!autrement\s)(?<!soit\s)(?<!étant\s)(?<!det\s)")
_SAYING = (_SAYING_OPENING + r"(?:" + "|".join(_SAYING_VERBS.values()) + "|" + _SAYING_NOUNS
           + r")\b")
_REPORTED_WORDS = (r"\s*(?:that\s+|(?:dass|daß|que|att|että)\s*,?\s*)?"
                   r"(?:(?:he|she|they|we|you|it|I|yo|minä)\s+(?:(?:is|are|was|were)\s+)?)?"
                   r"(?:ya\s+)?$")
#: reported speech before a refusal in each language (:func:`_refusal_language`)
_REPORTED = {
    language: re.compile(
        _SAYING_OPENING + r"(?:(?:" + _SAYING_VERBS["en"]
        + ("" if language == "en" else "|" + _SAYING_VERBS[language])
        + r")\b\s*[:,]?|(?:" + _SAYING_NOUNS + r")\b\s*:?)" + _REPORTED_WORDS, re.IGNORECASE)
    for language in _SAYING_VERBS}
#: before a verb of saying, the model itself as its speaker, opening the sentence or
#: a clause of it ("I said I can't help with that.", "No, I've already said I cannot
#: assist", "Ich habe bereits gesagt, ich kann nicht helfen", "Je l'ai déjà dit : je
#: ne peux pas vous aider", "Jag har redan sagt att jag kan inte hjälpa till", "Olen
#: jo sanonut, että en voi auttaa"), where no colon nor earlier verb of saying makes it
#: the document's words ("The customer writes: I said I can't help"): it was reported
#: speech, no refusal. "We" is no such speaker: a model refuses as "I" (:data:`REFUSAL`
#: reads "we can't help" as no refusal), so "We said we are unable to help" is the
#: document's words reported, as "She said ..." is
_FIRST_PERSON = re.compile(
    r"\s*(?:(?:and|but|so|again|well|also|und|aber|et|mais|y|pero|ja|mutta|och|men)\s+)?"
    r"(?:I(?:['\u2019]ve|\s+have|\s+had)?(?:\s+(?:already|just|previously|also|clearly"
    r"|repeatedly))?"
    r"|ich(?:\s+(?:habe|hatte))?(?:\s+(?:es\s+)?(?:bereits|schon|doch|ja))?"
    r"|(?:j['\u2019]\s*|je\s+(?:(?:vous|te|lui|leur)\s+)?(?:l['\u2019]\s*)?)(?:ai|avais)"
    r"(?:\s+déjà)?|yo(?:\s+ya)?"
    r"|(?:minä\s+)?(?:olen|olin)(?:\s+jo)?"
    r"|jag(?:\s+(?:har|hade))?(?:\s+(?:redan|ju))?)\s*", re.IGNORECASE)
#: the Spanish first person before a participle, its pronoun left out ("Ya he dicho
#: que no puedo ayudarte"): the model's words, "he" only before a Spanish verb (the
#: English "He said I can't help" is reported)
_SPANISH_FIRST_PERSON = re.compile(
    r"\s*(?:(?:y|pero)\s+)?(?:yo\s+)?(?:ya\s+)?(?:(?:te|le|les|lo|se\s+lo)\s+)?"
    r"(?:he|había)(?:\s+ya)?\s*", re.IGNORECASE)
_SPANISH_SAYING = re.compile(r"(?:" + _SAYING_VERBS["es"] + r")", re.IGNORECASE)

#: before a verb of saying, what makes the words said the model's own: an apology, or
#: its rules speaking ("I'm sorry, but the content policy says I can't help with
#: that", "OpenAI's usage policy states I can't help with that"), which were taken for
#: a document's words reported: a malformed answer in prose, and beside an empty labels
#: list an answer that no label applies; the same in the other languages ("Es tut mir
#: leid, aber die Richtlinie besagt, ich kann nicht helfen")
_OWN_RULES = re.compile(
    r"\b(?:sorry|apologi[sz]e|unfortunately|polic(?:y|ies)|guidelines?|rules"
    r"|instructions|content\s+filter|safety\s+(?:system|filter)s?"
    r"|leider|entschuldigung|tut\s+mir\s+leid|richtlinie\w*|regeln|vorgaben"
    r"|désolée?s?|malheureusement|politique|règles|directives|consignes"
    r"|lo\s+siento|lamentablemente|desafortunadamente|disculp\w*|políticas?|normas"
    r"|reglas|directrices|valitettavasti|pahoittel\w*|käytän\w*|ohje\w*|sään\w*"
    r"|tyvärr|beklagar|ledsen|riktlinje\w*|regler\w*|policy\w*)\b", re.IGNORECASE)
#: an aside of the model's before a verb of saying ("as the policy states, I can't
#: help", "wie die Richtlinie besagt", "comme le dit", "como dice", "kuten ohje
#: toteaa"; Swedish "som" opening the clause alone, "som" a relative pronoun besides)
_ASIDE = re.compile(r"\b(?:as|wie|comme|como|kuten)\b|^\s*som\b", re.IGNORECASE)
#: before a bare "unable to help" (or "assist", "comply"), someone else its subject, a
#: third person and a form of "be" ("The customer is unable to help with the move; no
#: label fits", "they're still unable to assist her"), which says what the document
#: tells, no refusal of the model's: it was one, the document left for a person. The
#: model refuses as "I" or "we", without a subject ("Sorry, unable to help with
#: that"), or naming itself ("This assistant is unable to help", "Unfortunately,
#: ChatGPT is unable to help", "GPT-4o is unable to assist"): refusals still. "You"
#: is the document's words to its reader ("You are unable to help with the move, the
#: letter says"), as is someone named before a comma ("The customer, unable to help
#: her mother, asks about billing")
_MODEL_NAMES = (r"I|we|assistant|model|AI|system|bot|chatbot|ChatGPT|GPT|Claude|Gemini"
                r"|Bard|Copilot|Llama|Mistral|Mixtral|Qwen|Grok|DeepSeek|Gemma")
_SOMEONE_ELSE_UNABLE = re.compile(
    r"(?<![\w-])(?!(?:" + _MODEL_NAMES + r")\b)[\w-]+"
    r"(?:\s+(?:is|are|was|were|(?:has|have|had)\s+been|(?:will|would)\s+be|remains?"
    r"|remained|seems?|seemed|appears?|appeared|feels?|felt|becomes?|became)"
    r"|['\u2019](?:s|re|ve\s+been))\s+(?:(?:still|also|now|just|again|often|sometimes|\w+ly)\s+)?$",
    re.IGNORECASE)
#: someone named before a comma, opening an aside that a comma closes after the "unable
#: to help" ("The customer, unable to help her mother, asks about billing"): the
#: document's words. An opening phrase before a comma with none after ("That said,
#: unable to help with that.", "This time, unable to assist with this request.") is the
#: model's refusal: read as such an aside, it was a note that no label applies
_NAMED_BEFORE_COMMA = re.compile(
    r"(?:^|[;:])\s*(?:the|an?|this|that|these|those|my|our|your|his|her|their|its)\s+"
    r"(?:(?!(?:is|are|was|were)\b)\w+\s+)?(?!(?:is|are|was|were|" + _MODEL_NAMES
    + r")\b)\w+\s*,\s*$",
    re.IGNORECASE)
#: an apology to the reader opening the sentence of such an "unable to help": the model
#: speaks, naming itself ("Sorry, ChatGPT is unable to help with that", "Apologies, but
#: Claude is unable to assist"), no note of what the document tells
_APOLOGY = re.compile(r"\b(?:sorry|apologies|I\s+apologi[sz]e)\b", re.IGNORECASE)
#: a sentence that is an apology alone, before such an "unable to help" ("I'm sorry.
#: This service is unable to help with that."): the model speaks, as in one sentence
_APOLOGY_ALONE = re.compile(
    r"\s*(?:(?:I(?:['\u2019]m|\s+am)\s+)?(?:(?:so|very|really|truly|terribly)\s+)?sorry"
    r"|(?:my\s+)?apologies|I\s+(?:do\s+|must\s+)?apologi[sz]e)\s*", re.IGNORECASE)


def _refusal_language(words: str) -> str:
    """The language of the refusing ``words`` (:data:`REFUSAL`'s match): ``"en"``, or
    that of the other languages' patterns matching them.

    >>> _refusal_language("I can't help"), _refusal_language("je ne peux pas vous aider")
    ('en', 'fr')
    """
    for language, patterns in _OTHER_LANGUAGE_REFUSALS.items():
        if any(re.fullmatch(pattern, words, re.IGNORECASE) for pattern in patterns):
            return language
    return "en"


def _quotations(text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` in quotation marks, but for one opening the text: a
    model may put its whole answer in quotes."""
    lead = len(text) - len(text.lstrip())
    return [found.span() for found in _QUOTED.finditer(text) if found.start() != lead]


def refusal_words(text: str) -> str | None:
    """The words of ``text`` that decline the task, whitespace made single spaces; None
    where it says none. Words in quotation marks, or reported after a verb of saying,
    are a speaker's (the document's), not the model's.

    >>> print(refusal_words('I\\'m sorry, but I can\\'t  help with "user at 555-0199".'))
    I can't help
    >>> refusal_words("None of the labels applies.")
    >>> refusal_words("The text quotes a customer: 'I can't assist my mother anymore'")
    >>> refusal_words("The user says they are unable to help it; no label fits.")
    >>> refusal_words("The customer is unable to help with the move; no label fits.")
    >>> refusal_words("Sorry, unable to help with that.")
    'unable to help'
    """
    head = text[:SEARCHED]
    quoted = None
    for found in REFUSAL.finditer(head):
        if quoted is None:
            quoted = _quotations(head)
        start = found.start()
        if any(begin < start < end for begin, end in quoted):
            continue
        *before, sentence = re.split(r"[.!?\n]", head[:start])
        said = _REPORTED[_refusal_language(found.group(0))].search(sentence)
        # "as the policy states, I can't help", "I'm sorry, but the content policy
        # says I can't help": the model's own words, after an aside, an apology or
        # its rules as the speaker
        if said and not _OWN_RULES.search(sentence[:said.start()]) \
                and not _ASIDE.search(re.split(r"[,;:]", sentence[:said.start()])[-1]) \
                and not _own_speech(sentence[:said.start()], said.group(0).split()[0]):
            continue
        if found.group(0)[:6].lower() == "unable" and (
                _SOMEONE_ELSE_UNABLE.search(sentence)
                or (_NAMED_BEFORE_COMMA.search(sentence)
                    and "," in re.split(r"[.!?\n]", head[found.end():])[0])) \
                and not _APOLOGY.search(sentence) \
                and not (before and _APOLOGY_ALONE.fullmatch(before[-1])):
            continue  # "The customer is unable to help": the document's, not the model's
        return " ".join(found.group(0).split())
    return None


def _own_speech(before: str, verb: str = "") -> bool:
    """Whether ``before``, a sentence up to a verb of saying (``verb``), makes the
    model its speaker: "I" (or "ich", "je", "jag", ...) opening it or a clause of it,
    no colon nor earlier verb of saying before (the document's words then, reported).

    >>> _own_speech("I "), _own_speech("No, I've already "), _own_speech("She ")
    (True, True, False)
    >>> _own_speech("The customer writes: I "), _own_speech("The text reads, I ")
    (False, False)
    >>> _own_speech("Ya he ", "dicho"), _own_speech("He ", "said"), _own_speech("We ")
    (True, False, False)
    """
    if ":" in before or re.search(_SAYING, before, re.IGNORECASE):
        return False
    clause = re.split(r"[,;]", before)[-1]
    return _FIRST_PERSON.fullmatch(clause) is not None or (
        _SPANISH_FIRST_PERSON.fullmatch(clause) is not None
        and _SPANISH_SAYING.fullmatch(verb) is not None)
