"""The assistant's text handling without a database: the intents file's pattern language, entities, sentiment,
addresses typed in the chat, message links, and the evaluation's bookkeeping."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from patron.errors import ValidationFailed
from patron.support import evaluation
from patron.support.assistant import engine, tools
from patron.support.assistant.intents import DEFAULT_INTENTS_FILE, OUT_OF_SCOPE, expand, parse_book
from patron.support.assistant.nlu import Prediction, extract_entities, is_negative, normalize
from patron.support.templatetags.support import linkify


def phrases(pattern: str, frames: dict[str, tuple[str, ...]] | None = None, limit: int = 100) -> list[str]:
    return sorted(expand(pattern, frames or {}, rng=random.Random(1), limit=limit))


def test_alternatives_and_optional_parts_expand_to_every_phrase() -> None:
    assert phrases("(track|find) my order[ now]") == sorted(
        ["track my order", "track my order now", "find my order", "find my order now"]
    )
    assert phrases("(please )?cancel it") == ["cancel it", "please cancel it"]
    assert phrases("{ask} help", {"ask": ("can you", "please")}) == ["can you help", "please help"]
    assert "cancel order T000123" in phrases("cancel order {order}")


def test_a_pattern_with_too_many_phrases_is_sampled_the_same_way_every_time() -> None:
    pattern = "(a|b|c|d) (e|f|g|h) (i|j|k|l) (m|n|o|p)"
    first = expand(pattern, {}, rng=random.Random("x"), limit=10)
    assert first == expand(pattern, {}, rng=random.Random("x"), limit=10)
    assert 1 <= len(first) <= 10


def test_the_shipped_intents_file_is_valid_and_every_handler_exists() -> None:
    book = parse_book(DEFAULT_INTENTS_FILE.read_text())
    known = set(engine.HANDLERS) | {"message", "handoff", "out_of_scope"}
    assert {intent.handler for intent in book.intents.values()} <= known
    assert OUT_OF_SCOPE in book.intents
    texts, labels = book.training_set()
    assert len(texts) == len(labels) > 5000
    assert all("{" not in text and "(" not in text and "[" not in text for text in texts)


def test_an_intent_without_examples_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_book("intents:\n  greet:\n    handler: message\n")
    assert "greet" in refused.value.fields
    with pytest.raises(ValidationFailed):
        parse_book("- just a list")


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("where is order T000123?", ("T000123",)),
        ("cancel purchase 113542617735902 please", ("113542617735902",)),
        ("my order #kx7qm2rt9a", ("KX7QM2RT9A",)),
        ("I paid $160 for this", ()),
        ("jackets under 100", ()),
        ("write to ada@example.com", ()),
    ],
)
def test_order_numbers_are_found_and_amounts_or_emails_are_not_taken_for_them(
    text: str, numbers: tuple[str, ...]
) -> None:
    assert extract_entities(text).order_numbers == numbers


def test_emails_amounts_and_budgets() -> None:
    found = extract_entities("I'm ada@example.com, I paid 35 dollars and want a jacket under $100")
    assert found.emails == ("ada@example.com",)
    assert found.amounts == (Decimal("35"), Decimal("100"))
    assert found.max_price == Decimal("100")
    assert extract_entities("a lamp below 40").max_price == Decimal("40")
    assert extract_entities("refund $1,299").max_price is None


def test_the_model_sees_placeholders_instead_of_entities() -> None:
    assert normalize("Cancel Order T000123 for ADA@example.com, $20") == "cancel order number for email , amount"


@pytest.mark.parametrize(
    ("text", "negative"),
    [
        ("This is the worst, most useless shop ever", True),
        ("absolutely terrible service!!", True),
        ("this is damn ridiculous", True),
        ("where is my order?", False),
        ("the jacket is terrible in the rain, can I return it", False),
    ],
)
def test_strong_negative_sentiment(text: str, negative: bool) -> None:
    assert is_negative(text) is negative


def test_addresses_typed_on_one_line() -> None:
    assert tools.parse_address("Ada King, 12 Ockham Park, Ripley, GU23 6NG, gb") == {
        "full_name": "Ada King",
        "line1": "12 Ockham Park",
        "line2": "",
        "city": "Ripley",
        "postal_code": "GU23 6NG",
        "country": "GB",
        "phone": "",
        "region": "",
    }
    with_line2 = tools.parse_address("Ada King, 12 Ockham Park, Flat 2, Ripley, GU23 6NG, GB")
    assert with_line2 is not None and with_line2["line2"] == "Flat 2"
    assert tools.parse_address("12 Ockham Park Ripley") is None
    assert tools.parse_address("Ada, 12 Park, Ripley, GU23, England") is None


def test_product_words_are_kept_and_request_words_dropped() -> None:
    assert tools.product_query("Do you have a waterproof jacket under $100?") == "waterproof jacket"
    assert tools.product_query("I want to buy something") == ""


def test_message_links_are_clickable_and_text_is_escaped() -> None:
    html = linkify("Follow it here: /account/orders/T1/. <b>bold</b>\nhttps://example.com/x?a=1")
    assert '<a href="/account/orders/T1/">/account/orders/T1/</a>.' in html
    assert "&lt;b&gt;bold&lt;/b&gt;<br>" in html
    assert '<a href="https://example.com/x?a=1">' in html


class FakeModel:
    def __init__(self, answers: dict[str, Prediction]) -> None:
        self.answers = answers

    def predict_many(self, texts: list[str]) -> list[Prediction]:
        return [self.answers[text] for text in texts]


def test_evaluation_counts_low_confidence_as_a_refusal() -> None:
    model = FakeModel(
        {
            "where is it": Prediction("track_order", 0.9),
            "cancel": Prediction("cancel_order", 0.3),
            "weather?": Prediction("out_of_scope", 0.8),
            "joke": Prediction("track_order", 0.2),
            "stocks": Prediction("track_order", 0.9),
        }
    )
    pairs = [("where is it", "track_order"), ("cancel", "cancel_order")]
    scores = evaluation.score(model, pairs, threshold=0.5)  # type: ignore[arg-type]
    assert scores.accuracy == 0.5
    oos = evaluation.out_of_scope_scores(model, ["weather?", "joke", "stocks"], pairs, 0.5)  # type: ignore[arg-type]
    assert oos.recall == pytest.approx(2 / 3)
    assert oos.precision == pytest.approx(2 / 3)  # "cancel" was refused wrongly
    assert oos.in_scope_accuracy == 0.5


def test_the_split_is_stratified_and_stable() -> None:
    pairs = [(f"a{i}", "a") for i in range(10)] + [(f"b{i}", "b") for i in range(20)]
    train, held_out = evaluation.split(pairs)
    assert sorted(label for _, label in held_out).count("a") == 3
    assert sorted(label for _, label in held_out).count("b") == 6
    assert not set(train) & set(held_out)
    assert evaluation.split(pairs) == (train, held_out)
