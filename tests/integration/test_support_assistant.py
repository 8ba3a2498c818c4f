"""The assistant's model and knowledge on disk and in the database: intent recognition, a merchant's own intents
file, article edits, the optional generative mode against a local OpenAI-compatible stub server, and the
`patron support` command on the public data sets."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from pytest_django import Settings

from patron.accounts.models import User
from patron.support import chat, evaluation
from patron.support.assistant import knowledge
from patron.support.assistant.intents import DEFAULT_INTENTS_FILE
from patron.support.assistant.nlu import classifier
from patron.support.models import Article
from tests.servers import free_port

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("where is my parcel?", "track_order"),
        ("i want to cancel purchase 00123842", "cancel_order"),
        ("I entered the wrong delivery address", "change_shipping_address"),
        ("the shoes don't fit, I want to send them back", "start_return"),
        ("I'm still waiting for my refund of $40", "track_refund"),
        ("can you resend my invoice", "get_invoice"),
        ("my card was declined", "payment_issue"),
        ("do you have running shoes under 80 dollars", "find_product"),
        ("what is your return policy", "check_refund_policy"),
        ("let me talk to a human", "contact_human_agent"),
        ("who won the football game last night", "out_of_scope"),
    ],
)
def test_the_shipped_model_recognises_the_store_requests(text: str, intent: str) -> None:
    prediction = classifier().predict(text)
    assert prediction.intent == intent
    assert prediction.confidence >= 0.5


def test_a_merchants_own_intent_is_learnt_from_their_file(
    settings: Settings, tmp_path: Path, client: Any, customer: User
) -> None:
    extended = DEFAULT_INTENTS_FILE.read_text() + (
        "\n  gift_wrapping:\n"
        '    reply: "Yes! Every order can be gift wrapped for $3; tick the box at checkout."\n'
        "    handler: message\n"
        "    examples:\n"
        '      - "(do you|can you) (offer|do) gift (wrapping|wrap)"\n'
        '      - "{ask} (gift wrap|wrap) (my order|a present|the item)"\n'
        '      - "is gift (wrapping|packaging) available"\n'
    )
    own = tmp_path / "intents.yaml"
    own.write_text(extended)
    settings.SUPPORT_INTENTS_FILE = str(own)
    settings.SUPPORT_MODEL_DIR = tmp_path / "model"

    result = chat.send(customer, "can you gift wrap my order?")

    assert result.reply is not None
    assert result.reply.intent == "gift_wrapping"
    assert "gift wrapped for $3" in result.reply.body
    assert list((tmp_path / "model").glob("intents-*.pickle"))


def test_article_edits_change_the_answers_at_once() -> None:
    before = knowledge.search("do you ship to japan")
    assert before[0].passage.slug == "shipping-and-delivery"
    article = Article.objects.get(slug="shipping-and-delivery")
    article.body = "We ship to Japan by air in 4 days.\n\nOther countries: ask us."
    article.updated_at = timezone.now()
    article.save()
    after = knowledge.search("do you ship to japan")
    assert after[0].passage.text == "We ship to Japan by air in 4 days."
    Article.objects.filter(slug="shipping-and-delivery").update(is_published=False)
    assert all(hit.passage.slug != "shipping-and-delivery" for hit in knowledge.search("do you ship to japan"))


def test_without_a_relevant_article_the_assistant_does_not_guess(client: Any) -> None:
    Article.objects.all().delete()
    result = chat.send(None, "what payment methods do you accept?")
    assert result.reply is not None
    assert "I'd rather not guess" in result.reply.body
    assert result.reply.data["quick_replies"][0]["label"] == "Talk to a person"


@dataclass
class StubLLM:
    """A local OpenAI-compatible chat endpoint that records what it was asked and answers what it is told."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    answer: str = "Good news: your parcel is on its way!"
    status: int = 200


@pytest.fixture
def stub_llm(settings: Settings) -> Iterator[StubLLM]:
    port = free_port()
    stub = StubLLM(url=f"http://127.0.0.1:{port}/v1")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            stub.requests.append({"path": self.path, **json.loads(body)})
            stub.headers.append(dict(self.headers))
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": stub.answer}}]})
            self.send_response(stub.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SUPPORT_LLM_BASE_URL = stub.url
    settings.SUPPORT_LLM_MODEL = "llama3.2"
    settings.SUPPORT_LLM_API_KEY = "local-key"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


def test_the_generative_mode_phrases_replies_grounded_in_the_facts(stub_llm: StubLLM) -> None:
    result = chat.send(None, "what is your return policy?")

    assert result.reply is not None
    assert result.reply.body == stub_llm.answer
    request = stub_llm.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["model"] == "llama3.2"
    prompt = request["messages"][1]["content"]
    assert "what is your return policy?" in prompt
    assert "Returns and refunds" in prompt  # the cited article is among the facts
    assert "never add order details" in request["messages"][0]["content"]
    assert stub_llm.headers[0]["Authorization"] == "Bearer local-key"
    # The same tools and guardrails: citations and quick replies come from the assistant, not the model.
    assert result.reply.data["citations"][0]["title"] == "Returns and refunds"


def test_a_failing_model_server_leaves_the_assistants_own_reply(stub_llm: StubLLM) -> None:
    stub_llm.status = 500
    result = chat.send(None, "what is your return policy?")
    assert result.reply is not None
    assert "30 days" in result.reply.body
    assert len(stub_llm.requests) == 1


def test_the_generative_mode_is_off_by_default(settings: Settings) -> None:
    assert settings.SUPPORT_LLM_BASE_URL == ""
    result = chat.send(None, "hello")
    assert result.reply is not None
    assert result.reply.body.startswith("Hello! I can track")


def _data_dir() -> Path:
    return evaluation.data_dir()


@pytest.mark.skipif(
    not (_data_dir() / "support" / "bitext").exists(),
    reason="needs the Bitext and CLINC150 data sets under PATRON_DATA_DIR or ../shared/data",
)
def test_the_evaluation_meets_the_targets_on_bitext_and_clinc150() -> None:
    out = StringIO()
    call_command("support", "evaluate", "--no-split", stdout=out, stderr=StringIO())
    printed = out.getvalue()
    accuracy = float(re.search(r"shipped model .*?accuracy ([0-9.]+)", printed).group(1))  # type: ignore[union-attr]
    recall = float(re.search(r"recall ([0-9.]+)", printed).group(1))  # type: ignore[union-attr]
    assert accuracy >= 0.95
    assert recall >= 0.8
    assert "macro-F1" in printed


def test_evaluate_explains_a_missing_data_folder(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No Bitext CSV files"):
        call_command("support", "evaluate", "--data", str(tmp_path), stdout=StringIO(), stderr=StringIO())
