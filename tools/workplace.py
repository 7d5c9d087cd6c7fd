"""Tools of the workplace-assistant suite (an office assistant, after Curuksu, Appendix A).

Ten small, self-contained tools for a LangChain ReAct agent whose neighbouring intents differ by
a word or two in the user's request: send an email vs. post a team-chat message, create a
calendar event vs. set a reminder vs. add a to-do task, search files vs. share a document,
translate a text, submit an expense claim, and turn on the out-of-office auto-reply.

Nothing is really sent, booked, shared or translated: each tool returns a short confirmation
computed deterministically from its arguments (a sha256 digest gives the reference numbers,
the file names found and the folders), with no randomness, no network and no file reads or
writes. ``translate_text`` cannot translate offline: it returns the text tagged with the target
language. Bad input never raises, it yields a string starting with ``"error: "``.

Only the standard library is used. This file is loaded by path (``tools`` is not a package),
e.g. from ``evals/suites/workplace.yaml`` as ``../../tools/workplace.py:send_email``.
"""

import hashlib
import re

MAX_DURATION_MINUTES = 24 * 60
MAX_EXPENSE = 10_000.0

PRIORITIES = ("low", "normal", "high")
PERMISSIONS = {"view": "can view", "comment": "can comment", "edit": "can edit"}
_PERMISSION_ALIASES = {
    "read": "view",
    "read-only": "view",
    "read only": "view",
    "viewer": "view",
    "commenter": "comment",
    "write": "edit",
    "editor": "edit",
}
FILE_TYPES = {
    "document": ".docx",
    "spreadsheet": ".xlsx",
    "presentation": ".pptx",
    "pdf": ".pdf",
}
_FILE_TYPE_ALIASES = {
    "doc": "document",
    "docx": "document",
    "sheet": "spreadsheet",
    "xlsx": "spreadsheet",
    "slides": "presentation",
    "deck": "presentation",
    "pptx": "presentation",
}
_FOLDERS = ("My Drive", "Shared drives/Team", "Shared drives/Finance", "My Drive/Archive")
LANGUAGES = {
    "english": "en",
    "french": "fr",
    "german": "de",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "dutch": "nl",
    "japanese": "ja",
    "chinese": "zh",
    "korean": "ko",
    "arabic": "ar",
    "polish": "pl",
}
_LANGUAGE_WORD = re.compile(r"[a-z]+")
CURRENCIES = {
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "€": "EUR",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "$": "USD",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "£": "GBP",
}
_CURRENCY_WORD = re.compile(r"[a-z]+|[€$£]")
EXPENSE_CATEGORIES = {
    "travel": ("taxi", "cab", "train", "flight", "parking", "fuel", "mileage", "bus", "uber"),
    "lodging": ("hotel", "accommodation", "airbnb", "lodging"),
    "meals": ("lunch", "dinner", "breakfast", "meal", "coffee", "restaurant"),
    "equipment": ("keyboard", "mouse", "monitor", "laptop", "headset", "cable", "chair"),
    "conference": ("conference", "registration", "course", "training", "workshop"),
    "other": (),
}
_AMOUNT = re.compile(r"(?<![\w.,])(\d{1,6}(?:[.,]\d{1,2})?)(?![\w])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_STOPWORD_TEXT = (
    "a about an and any are by can copy could did dig do document drive drives file files find "
    "folder for from get has have i in is it just latest lives locate look me my myself of on "
    "open or our out please pull save saved search shared the this through to up version want "
    "we what where which with you your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())  # words search_files leaves out of a query


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _clip(text: object, limit: int = 80) -> str:
    """Collapse whitespace and truncate ``text`` to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _digest(*parts: object) -> bytes:
    """A sha256 digest of the arguments (whitespace collapsed, case folded)."""
    text = "\x1f".join(" ".join(str(p).split()).casefold() for p in parts)
    return hashlib.sha256(text.encode("utf-8")).digest()


def _number(prefix: str, digest: bytes) -> str:
    """A reference number such as ``E-4821`` taken from ``digest``."""
    return f"{prefix}-{1000 + int.from_bytes(digest[:4], 'big') % 9000}"


def _key(value: object) -> str:
    """``value`` with whitespace collapsed and case folded, for option look-ups."""
    return " ".join(str(value).split()).casefold()


def _empty(what: str, hint: str) -> str:
    return f"error: empty {what}; {hint}"


# --------------------------------------------------------------------------------------------
# messages
# --------------------------------------------------------------------------------------------


def send_email(to: str, body: str, subject: str = "", cc: str = "", attachments: str = "") -> str:
    """Send an email to people's inboxes, with a subject line, a body and optional attachments.

    Args:
        to: The recipients, e.g. "Dana" or "legal@example.com, Sam".
        body: The text of the email.
        subject: The subject line (empty: the start of the body).
        cc: People to copy, if any.
        attachments: Files to attach, e.g. "Q3 budget deck", if any.

    Returns:
        A one-line confirmation with the message number, or a message starting with "error:".
    """
    recipients = _clip(to, 60)
    text = _clip(body, 2000)
    if not recipients:
        return _empty("recipient", "say who the email is for")
    if not text:
        return _empty("body", "say what the email should say")
    title = _clip(subject, 60) or _clip(text, 40)
    extras = "".join(
        f", {label} {_clip(value, 60)}"
        for label, value in (("cc", cc), ("attaching", attachments))
        if _clip(value)
    )
    number = _number("E", _digest("email", recipients, title, text, cc, attachments))
    return f"Email sent to {recipients}{extras}: subject '{title}' (message {number})"


def send_chat_message(recipient: str, message: str) -> str:
    """Post an instant message in the team chat app, to a colleague or to a channel.

    Args:
        recipient: A colleague, e.g. "Dana", or a channel, e.g. "#marketing".
        message: The text of the message.

    Returns:
        A one-line confirmation, or a message starting with "error:".
    """
    where = _clip(recipient, 60)
    text = _clip(message, 500)
    if not where:
        return _empty("recipient", "name a colleague or a #channel")
    if not text:
        return _empty("message", "say what to post")
    kind = "channel" if where.startswith("#") else "direct message to"
    number = _number("C", _digest("chat", where, text))
    return f"Chat message posted ({kind} {where}): '{_clip(text, 60)}' (message {number})"


# --------------------------------------------------------------------------------------------
# calendar, reminders and tasks
# --------------------------------------------------------------------------------------------


def create_calendar_event(
    title: str, when: str, duration_minutes: int = 30, attendees: str = "", location: str = ""
) -> str:
    """Add an event or meeting to the user's calendar, optionally inviting attendees.

    Args:
        title: What the event is, e.g. "Budget review".
        when: Date and time, e.g. "Thursday at 10:00".
        duration_minutes: Length of the event in minutes (1 to 1440).
        attendees: People to invite (they get a calendar invitation), if any.
        location: A room or a place, if any.

    Returns:
        A one-line confirmation with the event number, or a message starting with "error:".
    """
    name = _clip(title, 60)
    start = _clip(when, 60)
    if not name:
        return _empty("title", "say what the event is")
    if not start:
        return _empty("time", "say when the event is")
    minutes = duration_minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        return f"error: duration_minutes must be a whole number, not {_clip(minutes, 20)}"
    if not 1 <= minutes <= MAX_DURATION_MINUTES:
        return f"error: duration_minutes must be from 1 to {MAX_DURATION_MINUTES}, not {minutes}"
    guests = _clip(attendees, 60)
    place = _clip(location, 40)
    details = f", in {place}" if place else ""
    details += f", invitations sent to {guests}" if guests else ""
    number = _number("V", _digest("event", name, start, minutes, guests, place))
    return f"Calendar event '{name}' added: {start}, {minutes} min{details} (event {number})"


def set_reminder(text: str, when: str) -> str:
    """Set a reminder: a notification on the user's phone at a given time.

    Args:
        text: What to be reminded of, e.g. "call the bank".
        when: When the notification fires, e.g. "17:00" or "in 20 minutes".

    Returns:
        A one-line confirmation with the reminder number, or a message starting with "error:".
    """
    what = _clip(text, 80)
    at = _clip(when, 40)
    if not what:
        return _empty("reminder text", "say what to be reminded of")
    if not at:
        return _empty("time", "say when the reminder should fire")
    number = _number("M", _digest("reminder", what, at))
    return f"Reminder set for {at}: '{what}' (reminder {number})"


def add_task(task: str, due: str = "", priority: str = "normal") -> str:
    """Add an item to the user's to-do list, optionally with a due date and a priority.

    Args:
        task: What needs doing, e.g. "update the onboarding guide".
        due: When it is due, e.g. "Friday" (empty: no due date).
        priority: "low", "normal" or "high".

    Returns:
        A one-line confirmation with the task number, or a message starting with "error:".
    """
    what = _clip(task, 80)
    if not what:
        return _empty("task", "say what needs doing")
    level = _key(priority) or "normal"
    if level not in PRIORITIES:
        allowed = ", ".join(PRIORITIES)
        return f"error: priority must be one of {allowed}, not '{_clip(priority, 20)}'"
    deadline = _clip(due, 40)
    when = f"due {deadline}" if deadline else "no due date"
    number = _number("K", _digest("task", what, deadline, level))
    return f"Task added to your to-do list: '{what}' ({when}, {level} priority, task {number})"


# --------------------------------------------------------------------------------------------
# files and documents
# --------------------------------------------------------------------------------------------


def _file_type(value: str) -> str | None:
    """The file type for the ways a user names it ("any" included), else None."""
    key = _key(value) or "any"
    key = _FILE_TYPE_ALIASES.get(key, key)
    return key if key == "any" or key in FILE_TYPES else None


def _guess_type(words: list[str]) -> str:
    """The file type a query's words suggest (a document when none does)."""
    for word in words:
        kind = _FILE_TYPE_ALIASES.get(word, word)
        if kind in FILE_TYPES:
            return kind
    return "document"


def search_files(query: str, file_type: str = "any") -> str:
    """Search the user's files and shared drives by keywords; nothing is opened or shared.

    The drive is simulated: the matches (one to three files, with their folders) are derived
    from the keywords, the same every time.

    Args:
        query: Keywords, e.g. "Q3 budget spreadsheet".
        file_type: "any", "document", "spreadsheet", "presentation" or "pdf".

    Returns:
        The matching files, one per line after a header, or a message starting with "error:".
    """
    if not _clip(query):
        return _empty("query", "give keywords to search for")
    kind = _file_type(file_type)
    if kind is None:
        kinds = ", ".join(("any", *FILE_TYPES))
        return f"error: file_type must be one of {kinds}, not '{_clip(file_type, 30)}'"
    words = _WORD.findall(str(query))
    lowered = [w.lower() for w in words]
    keywords = [
        w
        for w, low in zip(words, lowered, strict=True)
        if low not in _STOPWORDS and low not in _FILE_TYPE_ALIASES and low not in FILE_TYPES
    ][:5]
    if not keywords:
        return f"No files match '{_clip(query, 60)}' (no keywords to search for)"
    kind = _guess_type(lowered) if kind == "any" else kind
    stem = " ".join(keywords)
    stem = stem[0].upper() + stem[1:]
    digest = _digest("files", stem, kind)
    names = (stem, f"{stem} (v2)", f"{stem} - old")[: 1 + digest[4] % 3]
    ages = [1 + digest[8 + i] % 30 for i in range(len(names))]
    lines = [
        f"- {_FOLDERS[digest[5 + i] % len(_FOLDERS)]}/{name}{FILE_TYPES[kind]} "
        f"(edited {age} day{'s' if age > 1 else ''} ago)"
        for i, (name, age) in enumerate(zip(names, ages, strict=True))
    ]
    return "\n".join([f"{len(lines)} file(s) match '{_clip(query, 60)}':", *lines])


def share_document(document: str, people: str, permission: str = "view") -> str:
    """Share an existing document with people: give them view, comment or edit access.

    Args:
        document: The document, e.g. "the Q3 budget spreadsheet".
        people: Who gets access, e.g. "Dana" or "the finance team".
        permission: "view", "comment" or "edit".

    Returns:
        A one-line confirmation with the share number, or a message starting with "error:".
    """
    doc = _clip(document, 80)
    who = _clip(people, 60)
    if not doc:
        return _empty("document", "say which document to share")
    if not who:
        return _empty("people", "say who to share the document with")
    key = _key(permission) or "view"
    level = _PERMISSION_ALIASES.get(key, key)
    if level not in PERMISSIONS:
        allowed = ", ".join(PERMISSIONS)
        return f"error: permission must be one of {allowed}, not '{_clip(permission, 20)}'"
    number = _number("S", _digest("share", doc, who, level))
    return f"Shared '{doc}' with {who} ({PERMISSIONS[level]}; they get a link, share {number})"


# --------------------------------------------------------------------------------------------
# translation
# --------------------------------------------------------------------------------------------


def _language(value: str) -> str | None:
    """The language named in ``value`` (a name or a two-letter code), else None: in a
    sentence, the one after "into" or "to" ("from English into Italian"), else the first."""
    codes = {code: name for name, code in LANGUAGES.items()}
    words = _LANGUAGE_WORD.findall(_key(value))
    if len(words) == 1 and words[0] in codes:
        return codes[words[0]]
    named = [(i, w) for i, w in enumerate(words) if w in LANGUAGES]
    after_into = [w for i, w in named if i > 0 and words[i - 1] in ("into", "to")]
    return (after_into or [w for _, w in named] or [None])[0]


def translate_text(text: str, target_language: str, source_language: str = "auto") -> str:
    """Translate a text into another language and return it; nothing is sent.

    Offline, the translation is simulated: the text comes back tagged with the target
    language's code, e.g. "[fr] ...".

    Args:
        text: The text to translate.
        target_language: The language to translate into, e.g. "French" or "fr".
        source_language: The language of the text, or "auto" to detect it.

    Returns:
        A one-line translation, or a message starting with "error:".
    """
    original = _clip(text, 500)
    if not original:
        return _empty("text", "give the text to translate")
    target = _language(target_language)
    if target is None:
        known = ", ".join(name.capitalize() for name in LANGUAGES)
        return f"error: unknown target language '{_clip(target_language, 30)}' (known: {known})"
    source_key = _key(source_language) or "auto"
    source = "auto" if source_key in ("auto", "detect") else _language(source_key)
    if source is None:
        return f"error: unknown source language '{_clip(source_language, 30)}'"
    if source == target:
        return f"error: the text is already in {target.capitalize()}; choose another language"
    origin = "auto-detected language" if source == "auto" else source.capitalize()
    number = _number("L", _digest("translate", original, source, target))
    code = LANGUAGES[target]
    return (
        f"Translation from {origin} into {target.capitalize()} (job {number}): [{code}] {original}"
    )


# --------------------------------------------------------------------------------------------
# expenses and absence
# --------------------------------------------------------------------------------------------


def _amount_in(text: str) -> float | None:
    """The first amount written in ``text`` ("42.50", "340", "19,99"), else None."""
    found = _AMOUNT.search(text)
    return float(found[1].replace(",", ".")) if found else None


def _currency_in(text: str) -> str | None:
    """The first currency named in ``text`` (a code, a word or a symbol), else None."""
    words = _CURRENCY_WORD.findall(_key(text))
    return next((CURRENCIES[w] for w in words if w in CURRENCIES), None)


def _valid_amount(value: object) -> bool:
    """Whether ``value`` is a number above 0 and at most ``MAX_EXPENSE`` (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 < value <= MAX_EXPENSE


def _category_of(description: str) -> str:
    """The expense category a description's words suggest ("other" when none does)."""
    words = set(_WORD.findall(_key(description)))
    return next((name for name, hints in EXPENSE_CATEGORIES.items() if words & set(hints)), "other")


def submit_expense(
    description: str, amount: float | None = None, currency: str = "", category: str = ""
) -> str:
    """Submit an expense claim for reimbursement: what was paid, how much, in which currency.

    Args:
        description: What was paid for, e.g. "taxi to the client visit on Monday, 27 euros".
        amount: The amount paid (empty: read from the description, else from the receipt).
        currency: "EUR", "USD" or "GBP" (empty: from the description, else EUR).
        category: travel, lodging, meals, equipment, conference or other (empty: guessed).

    Returns:
        A one-line confirmation with the claim number, or a message starting with "error:".
    """
    what = _clip(description, 80)
    if not what:
        return _empty("description", "say what the expense was for")
    value = _amount_in(str(description)) if amount is None else amount
    if value is not None and not _valid_amount(value):
        limit = f"{MAX_EXPENSE:,.0f}"
        return f"error: amount must be a number above 0 and at most {limit}, not {_clip(value, 20)}"
    money = _currency_in(currency) if _clip(currency) else _currency_in(str(description)) or "EUR"
    if money is None:
        return f"error: currency must be EUR, USD or GBP, not '{_clip(currency, 20)}'"
    kind = _key(category) or _category_of(str(description))
    if kind not in EXPENSE_CATEGORIES:
        allowed = ", ".join(EXPENSE_CATEGORIES)
        return f"error: category must be one of {allowed}, not '{_clip(category, 20)}'"
    total = "amount to be read from the receipt" if value is None else f"{value:.2f} {money}"
    number = _number("X", _digest("expense", what, total, kind))
    return f"Expense claim {number} submitted: {what} ({total}, {kind}); awaiting approval"


def set_out_of_office(period: str, message: str = "", contact: str = "") -> str:
    """Turn on the email out-of-office auto-reply for a period of absence.

    Args:
        period: When the user is away, e.g. "1 to 15 August" or "next week".
        message: The auto-reply text (empty: a standard message).
        contact: Who to contact meanwhile, if anyone, e.g. "Sam".

    Returns:
        A one-line confirmation, or a message starting with "error:".
    """
    when = _clip(period, 60)
    if not when:
        return _empty("period", "say when you are away")
    standin = _clip(contact, 40)
    text = _clip(message, 200) or (
        "I'm out of the office and will reply when I'm back."
        + (f" Meanwhile, please contact {standin}." if standin else "")
    )
    number = _number("O", _digest("ooo", when, text))
    return f"Out-of-office auto-reply on for {when}: '{_clip(text, 100)}' (auto-reply {number})"
