"""Follow-up flows on a controlled clock, sent through a real SMTP server: review requests after delivery (not
before, shifted by late deliveries, with one reminder), unsubscribes and preferences, the thank-you email, NPS,
CSAT after a support conversation, abandoned carts, and no duplicates."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from patron import events
from patron.accounts import services as accounts
from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.cart import services as carts
from patron.cart.models import Cart
from patron.catalog.models import Product
from patron.followups import services
from patron.followups.flows import get_flow
from patron.followups.models import Flow, FlowKey, FollowUp, Message, MessageStatus, SurveyResponse, Unsubscribe
from patron.orders import services as orders
from patron.orders.models import Order
from patron.reviews import services as reviews
from patron.reviews.testing import deliver
from tests.factories import make_category, make_product
from tests.order_factories import make_order, pay
from tests.servers import Inbox, message_parts

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def media(tmp_path: Path, settings: Settings) -> None:
    settings.MEDIA_ROOT = tmp_path
    # Links in the emails name the public site (see the smtp_inbox fixture); the test client follows them.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "shop.example.com"]


@pytest.fixture
def mug() -> Product:
    return make_product("Stoneware Mug", category=make_category("Kitchen"), price="12.00", stock=50)


def _delivered_order(user: User | None, staff: User, product: Product, *, at: datetime = T0, **kwargs: Any) -> Order:
    order = make_order([(product.variants.get(), 1)], user=user, email=kwargs.pop("email", ""))
    orders.mark_paid(order.pk, pay(order).pk)
    return deliver(order, staff=staff, at=at, **kwargs)


def _sent(flow: str) -> list[Message]:
    return list(Message.objects.filter(flow=flow, status=MessageStatus.SENT).order_by("step"))


def _links(text: str) -> list[str]:
    return re.findall(r"https://shop\.example\.com\S+", text)


def _path(url: str) -> str:
    return url.removeprefix("https://shop.example.com")


# --- Review requests ---------------------------------------------------------------------------------------


def test_a_review_request_goes_out_on_day_n_after_delivery_not_before(
    smtp_inbox: Inbox, customer: User, staff: User, mug: Product
) -> None:
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    delay = timedelta(hours=get_flow(FlowKey.REVIEW_REQUEST).delay_hours)

    services.send_due(T0 + delay - timedelta(minutes=1))
    assert _sent(FlowKey.REVIEW_REQUEST) == []
    assert smtp_inbox.messages == []

    report = services.send_due(T0 + delay)
    assert report.sent == 1
    [email] = smtp_inbox.messages
    assert email["To"] == "ada@example.com"
    assert email["Subject"] == f"How do you like your order {order.number}?"
    assert email["List-Unsubscribe"].startswith("<https://shop.example.com/followups/unsubscribe/")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = message_parts(email)
    assert "Stoneware Mug" in text and "5 stars: https://shop.example.com/followups/c/" in text
    assert html.count("&#9733;</a>") == 5 and "/followups/o/" in html and "Unsubscribe" in html
    [message] = _sent(FlowKey.REVIEW_REQUEST)
    assert message.sent_at == T0 + delay and message.subject == email["Subject"]


def test_a_late_delivery_shifts_the_request(smtp_inbox: Inbox, customer: User, staff: User, mug: Product) -> None:
    # Shipped on day 0 but delivered on day 9: the request counts from the delivery, not the shipment.
    order = _delivered_order(customer, staff, mug, at=T0 + 9 * DAY, shipped_at=T0)
    services.on_order_delivered(order.pk)
    [message] = Message.objects.filter(flow=FlowKey.REVIEW_REQUEST)
    assert message.due_at == T0 + 9 * DAY + 7 * DAY
    services.send_due(T0 + 7 * DAY)
    services.send_due(T0 + 15 * DAY)
    assert _sent(FlowKey.REVIEW_REQUEST) == []
    services.send_due(T0 + 16 * DAY)
    assert len(_sent(FlowKey.REVIEW_REQUEST)) == 1


def test_only_a_delivery_schedules_requests(customer: User, staff: User, mug: Product) -> None:
    order = make_order([(mug.variants.get(), 1)], user=customer)
    orders.mark_paid(order.pk, pay(order).pk)
    assert services.on_order_delivered(order.pk) == []
    assert not Message.objects.exists()


def test_one_reminder_unless_the_customer_reviewed(
    smtp_inbox: Inbox, customer: User, staff: User, mug: Product
) -> None:
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 7 * DAY)
    [reminder] = Message.objects.filter(flow=FlowKey.REVIEW_REQUEST, step=1)
    assert reminder.due_at == T0 + 12 * DAY and reminder.status == MessageStatus.SCHEDULED
    services.send_due(T0 + 12 * DAY)
    assert [m.step for m in _sent(FlowKey.REVIEW_REQUEST)] == [0, 1]
    assert "A gentle reminder" in message_parts(smtp_inbox.messages[-1])[0]
    # Never a second reminder.
    services.send_due(T0 + 30 * DAY)
    assert Message.objects.filter(flow=FlowKey.REVIEW_REQUEST).count() == 2

    other = make_user("grace@example.com")
    order = _delivered_order(other, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 7 * DAY)
    reviews.create_review(other, mug.pk, reviews.ReviewInput(rating=5))
    services.send_due(T0 + 12 * DAY)
    skipped = Message.objects.get(flow=FlowKey.REVIEW_REQUEST, step=1, email="grace@example.com")
    assert (skipped.status, skipped.skip_reason) == (MessageStatus.SKIPPED, "every product is already reviewed")


def test_unsubscribed_customers_get_nothing(smtp_inbox: Inbox, customer: User, staff: User, mug: Product) -> None:
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    services.unsubscribe("ADA@example.com")
    services.send_due(T0 + 60 * DAY)
    assert smtp_inbox.messages == []
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.SKIPPED}


def test_consenting_again_after_unsubscribing_subscribes_again(
    smtp_inbox: Inbox, customer: User, staff: User, mug: Product
) -> None:
    services.unsubscribe(customer.email)
    accounts.update_preferences(customer, marketing_consent=True)
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 1 * DAY)
    assert [m["Subject"] for m in smtp_inbox.messages] == [f"Thank you for your order {order.number}"]


def test_the_customers_channels_and_consent_are_respected(
    smtp_inbox: Inbox, customer: User, staff: User, mug: Product
) -> None:
    accounts.update_preferences(customer, channels=["sms"])
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 60 * DAY)
    assert smtp_inbox.messages == []
    reasons = set(Message.objects.values_list("skip_reason", flat=True))
    assert reasons == {"the customer does not want emails"}


def test_the_thank_you_email_needs_marketing_consent_and_suggests_best_sellers(
    smtp_inbox: Inbox, customer: User, staff: User, mug: Product
) -> None:
    popular = make_product("Teapot", category=mug.category, price="30.00", stock=5)
    Product.objects.filter(pk=popular.pk).update(sales_count=40)
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 1 * DAY)
    thank_you = Message.objects.get(flow=FlowKey.THANK_YOU)
    assert (thank_you.status, thank_you.skip_reason) == (MessageStatus.SKIPPED, "no marketing consent")

    grace = make_user("grace@example.com")
    accounts.update_preferences(grace, marketing_consent=True)
    order = _delivered_order(grace, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 1 * DAY)
    [email] = [m for m in smtp_inbox.messages if m["To"] == "grace@example.com"]
    assert email["Subject"] == f"Thank you for your order {order.number}"
    text, _ = message_parts(email)
    assert "Goes well with it" in text and "Teapot ($30.00)" in text


def test_the_merchant_configures_flows(smtp_inbox: Inbox, customer: User, staff: User, mug: Product) -> None:
    flow = get_flow(FlowKey.REVIEW_REQUEST)
    flow.delay_hours = 48
    flow.subject = "{{ name }}, rate your {{ order_number }}"
    flow.save()
    get_flow(FlowKey.NPS)
    Flow.objects.filter(key=FlowKey.NPS).update(enabled=False)
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    assert not Message.objects.filter(flow=FlowKey.NPS).exists()
    services.send_due(T0 + 2 * DAY)
    assert smtp_inbox.messages[0]["Subject"] == f"Ada, rate your {order.number}"

    flow.subject = "{% broken %}"
    flow.save()
    other = make_user("grace@example.com")
    order = _delivered_order(other, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 2 * DAY)
    assert smtp_inbox.messages[-1]["Subject"] == f"How do you like your order {order.number}?"


def test_no_customer_gets_the_same_flow_twice_for_one_order(
    smtp_inbox: Inbox, customer: User, staff: User, mug: Product
) -> None:
    order = _delivered_order(customer, staff, mug)
    first = services.on_order_delivered(order.pk)
    again = services.on_order_delivered(order.pk)
    assert [m.pk for m in first] == [m.pk for m in again]
    services.send_due(T0 + 7 * DAY)
    services.send_due(T0 + 7 * DAY)
    assert len(smtp_inbox.messages) == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            flow=FlowKey.REVIEW_REQUEST, subject_key=f"order:{order.pk}", step=0, email="x@example.com", due_at=T0
        )


def test_a_claimed_message_is_sent_by_one_worker_only(customer: User, staff: User, mug: Product) -> None:
    order = _delivered_order(customer, staff, mug)
    [message, *_] = services.on_order_delivered(order.pk)
    assert services._claim(message.pk) is not None
    assert services._claim(message.pk) is None


def test_a_failed_send_is_retried_then_given_up(customer: User, staff: User, mug: Product, settings: Settings) -> None:
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 7 * DAY)
    message = Message.objects.get(flow=FlowKey.REVIEW_REQUEST)
    assert (message.status, message.attempts) == (MessageStatus.SCHEDULED, 1)
    assert message.due_at == T0 + 7 * DAY + timedelta(minutes=15)
    services.send_due(T0 + 8 * DAY)
    services.send_due(T0 + 9 * DAY)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.FAILED, 3)


def test_delivery_events_schedule_the_flows(
    customer: User,
    staff: User,
    mug: Product,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    order = make_order([(mug.variants.get(), 1)], user=customer)
    orders.mark_paid(order.pk, pay(order).pk)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(order, staff=staff, at=T0)
    assert set(Message.objects.values_list("flow", flat=True)) == {
        FlowKey.REVIEW_REQUEST,
        FlowKey.THANK_YOU,
        FlowKey.NPS,
    }
    assert "patron.followups.tasks.schedule_delivery_followups" in events.SUBSCRIBERS[events.OrderDelivered]


# --- From the email to the pages -------------------------------------------------------------------------


def test_opens_and_clicks_are_tracked_and_stars_lead_to_a_prefilled_form(
    smtp_inbox: Inbox, client: Client, customer: User, staff: User, mug: Product
) -> None:
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 7 * DAY)
    text, html = message_parts(smtp_inbox.messages[0])
    message = Message.objects.get(flow=FlowKey.REVIEW_REQUEST, step=0)

    pixel = re.search(r'<img src="(https://shop\.example\.com/followups/o/[^"]+)"', html)
    assert pixel is not None
    response = client.get(_path(pixel.group(1)))
    assert response["Content-Type"] == "image/gif"
    message.refresh_from_db()
    assert message.opened_at is not None and message.clicked_at is None

    four_stars = next(line for line in text.splitlines() if line.strip().startswith("4 stars:"))
    response = client.get(_path(four_stars.split(": ", 1)[1]))
    assert response.status_code == 302 and response["Location"].startswith(f"/reviews/write/{mug.slug}/?rating=4")
    message.refresh_from_db()
    assert message.clicked_at is not None and message.click_count == 1
    form = client.get(response["Location"]).content.decode()
    assert re.search(r'<input type="radio" name="rating" value="4"[^>]* checked>', form)


def test_a_tampered_click_link_goes_nowhere_else(client: Client) -> None:
    response = client.get("/followups/c/not-a-signed-token/")
    assert response.status_code == 302 and response["Location"] == "/"


def test_one_click_unsubscribe_from_the_link_and_from_the_mail_client(
    smtp_inbox: Inbox, client: Client, customer: User, staff: User, mug: Product
) -> None:
    accounts.update_preferences(customer, marketing_consent=True)
    order = _delivered_order(customer, staff, mug)
    services.on_order_delivered(order.pk)
    services.send_due(T0 + 1 * DAY)  # the thank-you email
    email = smtp_inbox.messages[0]
    link = email["List-Unsubscribe"].strip("<>")

    response = client.get(_path(link))
    assert response.status_code == 200 and "You are unsubscribed" in response.content.decode()
    assert Unsubscribe.objects.filter(email="ada@example.com").exists()
    assert accounts.get_preferences(customer).marketing_consent is False
    assert set(Message.objects.filter(status=MessageStatus.SCHEDULED).values_list("flow", flat=True)) == set()

    client.post(_path(link) + "undo/")
    assert not Unsubscribe.objects.exists()
    # RFC 8058: the mail client POSTs without a CSRF token.
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(_path(link), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Unsubscribe.objects.filter(email="ada@example.com").exists()


# --- Surveys ---------------------------------------------------------------------------------------------


def test_nps_after_the_first_order_only_with_one_click_scores(
    smtp_inbox: Inbox, client: Client, customer: User, staff: User, mug: Product
) -> None:
    first = _delivered_order(customer, staff, mug)
    services.on_order_delivered(first.pk)
    second = _delivered_order(customer, staff, mug, at=T0 + 3 * DAY)
    services.on_order_delivered(second.pk)
    [nps] = Message.objects.filter(flow=FlowKey.NPS)
    assert nps.order_id == first.pk and nps.due_at == T0 + 14 * DAY

    services.send_due(T0 + 14 * DAY)
    email = next(m for m in smtp_inbox.messages if m["Subject"] == "One quick question from Patron Demo Store")
    text, _ = message_parts(email)
    three = next(line for line in text.splitlines() if line.strip().startswith("3:"))
    landing = client.get(_path(three.split(": ", 1)[1]))
    page = client.get(_path(landing["Location"]))
    assert "We saved your answer" in page.content.decode()
    response = SurveyResponse.objects.get()
    assert (response.kind, response.score, response.order_id, response.user_id) == ("nps", 3, first.pk, customer.pk)
    assert response.follow_up == FollowUp.NEEDED

    client.post(_path(landing["Location"]).split("?")[0], {"score": "9", "comment": "Fast delivery"})
    response.refresh_from_db()
    assert (response.score, response.comment, response.follow_up) == (9, "Fast delivery", FollowUp.NONE)
    assert SurveyResponse.objects.count() == 1


def test_csat_follows_a_resolved_support_conversation(smtp_inbox: Inbox, client: Client, customer: User) -> None:
    from patron.support.models import Contact, Conversation

    contact = Contact.objects.create(user=customer, name="Ada Lovelace", email=customer.email)
    conversation = Conversation.objects.create(contact=contact, token="t-1")
    message = services.on_conversation_resolved(conversation.pk, now=T0)
    assert message is not None and message.due_at == T0 + timedelta(hours=1)
    assert "patron.followups.tasks.schedule_csat_survey" in events.SUBSCRIBERS[events.ConversationResolved]

    services.send_due(T0 + timedelta(hours=1))
    text, _ = message_parts(smtp_inbox.messages[0])
    one = next(line for line in text.splitlines() if line.strip().startswith("1:"))
    landing = client.get(_path(one.split(": ", 1)[1]))
    client.get(_path(landing["Location"]))
    response = SurveyResponse.objects.get()
    assert (response.kind, response.score, response.conversation_id) == ("csat", 1, conversation.pk)
    assert response.follow_up == FollowUp.NEEDED


def test_survey_scores_outside_the_scale_are_refused(customer: User, staff: User, mug: Product) -> None:
    order = _delivered_order(customer, staff, mug)
    [nps] = [m for m in services.on_order_delivered(order.pk) if m.flow == FlowKey.NPS]
    with pytest.raises(services.ValidationFailed):
        services.record_survey(nps, 11)
    assert not SurveyResponse.objects.exists()


# --- Abandoned carts -------------------------------------------------------------------------------------


def _idle_cart(user: User, product: Product, idle_since: datetime) -> Cart:
    cart = carts.get_cart(user=user, token=None, create=True)
    assert cart is not None
    carts.add_item(cart, product.variants.get().pk, 2)
    Cart.objects.filter(pk=cart.pk).update(updated_at=idle_since)
    cart.refresh_from_db()
    return cart


def test_an_abandoned_cart_is_reminded_once_and_its_link_restores_it(
    smtp_inbox: Inbox, client: Client, customer: User, mug: Product
) -> None:
    accounts.update_preferences(customer, marketing_consent=True)
    now = timezone.now()
    cart = _idle_cart(customer, mug, now - timedelta(hours=3))
    assert services.send_due(now).scheduled_carts == 0  # not idle long enough
    Cart.objects.filter(pk=cart.pk).update(updated_at=now - timedelta(hours=5))
    report = services.send_due(now)
    assert (report.scheduled_carts, report.sent) == (1, 1)
    assert services.send_due(now + timedelta(hours=1)).scheduled_carts == 0
    email = smtp_inbox.messages[0]
    assert email["Subject"] == "You left something in your cart"
    text, _ = message_parts(email)
    assert "Stoneware Mug x 2" in text
    restore = next(link for link in _links(text) if "/followups/c/" in link)

    # On another device, without signing in, the link brings the items back.
    phone = Client()
    response = phone.get(_path(restore), follow=True)
    assert response.redirect_chain[-1][0] == "/cart/"
    assert "Your cart is as you left it" in response.content.decode()
    guest_cart = Cart.objects.get(user__isnull=True)
    assert list(guest_cart.lines.values_list("quantity", flat=True)) == [2]


def test_no_cart_reminder_after_a_purchase_or_for_guests_or_without_consent(customer: User, mug: Product) -> None:
    now = timezone.now()
    _idle_cart(customer, mug, now - timedelta(hours=6))
    make_order([(mug.variants.get(), 1)], user=customer, placed_at=now - timedelta(hours=1))
    guest = Cart.objects.create()
    carts.add_item(guest, mug.variants.get().pk, 1)
    Cart.objects.filter(pk=guest.pk).update(updated_at=now - timedelta(hours=6))
    assert services.send_due(now).scheduled_carts == 0

    grace = make_user("grace@example.com")
    _idle_cart(grace, mug, now - timedelta(hours=6))
    services.send_due(now)
    [message] = Message.objects.filter(flow=FlowKey.ABANDONED_CART)
    assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, "no marketing consent")


def test_the_sender_runs_every_five_minutes() -> None:
    from crontask import scheduler

    from patron.followups import tasks

    [job] = [job for job in scheduler.get_jobs() if job.name == tasks.send_due_followups.name]
    now = datetime(2026, 11, 28, 10, 1, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, now) == datetime(2026, 11, 28, 10, 5, tzinfo=UTC)
