"""Rule-based text analysis: what the offline AI adapter does without a language model.

Regexes find an e-mail and a self-introduced name, keyword lists classify the intent, and an
extractive summary keeps the sentences that carry the most content words. English only.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal

Intent = Literal["booking", "pricing", "complaint", "cancellation", "information", "other"]
LeadStatus = Literal["new", "interested", "qualified", "not_interested"]
Speaker = Literal["user", "assistant"]

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NAME_WORD = r"[A-Z][a-zA-Z'-]+"
_ANY_WORD = r"[A-Za-z][a-zA-Z'-]+"
# "my name is" is explicit enough to accept lower case; the others need capitalised words.
_NAME_PATTERNS = (
    re.compile(rf"(?i:\bmy name is|\bmy name's|\bname is)\s+({_ANY_WORD}(?:\s+{_ANY_WORD})?)"),
    re.compile(rf"(?i:\b(?:i'm|i am|this is|it's|call me))\s+({_NAME_WORD}(?:\s+{_NAME_WORD})?)"),
)
_NOT_NAMES = {
    "interested", "looking", "calling", "here", "fine", "good", "not", "just", "sorry", "trying",
    "happy", "glad", "sure", "great", "ok", "okay", "afraid", "having", "going", "writing",
    "wondering", "hoping", "the", "a", "an", "about", "from", "with", "in", "on", "and",
    "but", "so", "speaking", "want", "would", "need", "please", "thanks",
}  # fmt: skip
_AGENT_LINE = re.compile(r"^\s*(agent|assistant|ai|bot|operator)\s*:", re.IGNORECASE)
_SPEAKER_LABEL = re.compile(r"^\s*[A-Za-z]{1,12}\s*:\s*")

#: Intent keywords, in priority order for ties (a cancellation outranks a price question).
_INTENT_KEYWORDS: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    ("cancellation", ("cancel", "cancellation", "unsubscribe", "stop my", "terminate")),
    ("complaint", ("complaint", "complain", "unhappy", "disappointed", "terrible", "awful",
                   "broken", "refund", "not working", "rude", "worst")),
    ("booking", ("book", "booking", "appointment", "schedule", "reserve", "reservation",
                 "available slot", "come in", "visit")),
    ("pricing", ("price", "pricing", "cost", "how much", "quote", "rate", "fee", "charge")),
    ("information", ("information", "info", "question", "hours", "open", "address", "where",
                     "when", "do you")),
)  # fmt: skip
#: One alternation per intent, longest keyword first, so "booking" is one hit, not two.
_INTENT_PATTERNS = tuple(
    (
        intent,
        re.compile(
            r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")",
            re.IGNORECASE,
        ),
    )
    for intent, words in _INTENT_KEYWORDS
)
_STOPWORDS = set(
    "a an the and or but if then so to of in on at for from by with about as is are was were be "
    "been being it its this that these those i me my we our you your he she they them their "
    "hi hello hey thanks thank please ok okay yes no do does did have has had can could would "
    "will just not what which who how when where there here also very really".split()
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z']+")


def customer_text(transcript: str) -> str:
    """The transcript without the agent's lines and without speaker labels."""
    lines = [line for line in transcript.splitlines() if not _AGENT_LINE.match(line)]
    return "\n".join(_SPEAKER_LABEL.sub("", line) for line in lines)


def find_email(text: str) -> str | None:
    """The first e-mail address in the text, lower-cased."""
    match = _EMAIL.search(text)
    return match.group(0).lower().rstrip(".") if match else None


def find_name(text: str) -> str | None:
    """A name the speaker introduced ("my name is Dana", "I'm Dana Levi", "this is Dana")."""
    for pattern in _NAME_PATTERNS:
        for match in pattern.finditer(text):
            words = match.group(1).split()
            if words[0].lower() in _NOT_NAMES:
                continue
            kept = [words[0]] + [w for w in words[1:] if w.lower() not in _NOT_NAMES]
            return " ".join(word[:1].upper() + word[1:] for word in kept)
    return None


def classify_intent(text: str) -> Intent:
    """The intent whose keywords occur most often; ties go to the more urgent intent.

    A cancellation or complaint counts double: "cancel my booking" is a cancellation.
    """
    best: Intent = "other"
    best_score = 0
    for intent, pattern in _INTENT_PATTERNS:
        score = len(pattern.findall(text)) * (2 if intent in ("cancellation", "complaint") else 1)
        if score > best_score:
            best, best_score = intent, score
    return best


def infer_status(intent: Intent, *, has_contact: bool) -> LeadStatus:
    """Where the lead stands: asking to book with contact details given is qualified."""
    if intent == "cancellation":
        return "not_interested"
    if intent == "booking":
        return "qualified" if has_contact else "interested"
    if intent == "pricing":
        return "interested"
    return "new"


def extractive_summary(
    turns: Sequence[tuple[Speaker, str]], *, max_sentences: int = 3, max_chars: int = 500
) -> str:
    """The most informative sentences, in their original order, each tagged with its speaker.

    A sentence scores the average document frequency of its content words, plus a bonus for
    an e-mail, a number or an intent keyword, so "I'd like to book Tuesday at 3" beats "Hi!".
    """
    sentences: list[tuple[Speaker, str]] = [
        (speaker, sentence.strip())
        for speaker, text in turns
        for sentence in _SENTENCE_END.split(text.strip())
        if sentence.strip()
    ]
    if not sentences:
        return ""
    counts = Counter(
        word for _, s in sentences for word in _content_words(s)
    )  # document-wide frequency

    def score(sentence: str) -> float:
        words = _content_words(sentence)
        if not words:
            return 0.0
        bonus = 2.0 if _EMAIL.search(sentence) else 0.0
        bonus += 1.0 if re.search(r"\d", sentence) else 0.0
        bonus += 1.0 if classify_intent(sentence) != "other" else 0.0
        return sum(counts[word] for word in words) / len(words) + bonus + min(len(words), 12) / 12

    ranked = sorted(range(len(sentences)), key=lambda i: score(sentences[i][1]), reverse=True)
    chosen = sorted(i for i in ranked[:max_sentences] if score(sentences[i][1]) > 0)
    labels = {"user": "Customer", "assistant": "Agent"}
    summary = " ".join(f"{labels[sentences[i][0]]}: {sentences[i][1]}" for i in chosen)
    return summary if len(summary) <= max_chars else summary[: max_chars - 1].rstrip() + "…"


def _content_words(sentence: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(sentence)) if w not in _STOPWORDS]


_REPLIES: dict[Intent, str] = {
    "booking": "I'd be happy to help you book. Which day and time would suit you best?",
    "pricing": "Happy to help with pricing. Which service are you interested in, so I can "
    "give you the right figure?",
    "complaint": "I'm sorry to hear that. I've noted the details and someone from the team "
    "will follow up with you personally.",
    "cancellation": "Understood. I've passed your cancellation request to the team, and they "
    "will confirm it with you shortly.",
    "information": "Good question. I've passed it to the team, and they will get back to you "
    "with the details shortly.",
    "other": "Thanks for your message! A member of the team will get back to you shortly.",
}


def canned_reply(turns: Sequence[tuple[Speaker, str]]) -> str:
    """A short reply fitted to the customer's latest message and, if known, their name."""
    customer_turns = [text for speaker, text in turns if speaker == "user"]
    latest = customer_turns[-1] if customer_turns else ""
    if not latest.strip():
        return "Hello! How can I help you today?"
    intent = classify_intent(latest)
    if intent == "other" and re.fullmatch(r"\W*(hi|hello|hey|good \w+)\W*", latest.lower()):
        return "Hello! How can I help you today?"
    name = find_name("\n".join(customer_turns))
    greeting = f"Thank you, {name.split()[0]}. " if name else ""
    return greeting + _REPLIES[intent]
