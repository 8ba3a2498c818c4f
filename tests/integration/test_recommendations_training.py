"""Training from the store's own data: what is stored, activation, the lock between workers, and the schedule."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from crontask import scheduler
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from patron.accounts.testing import make_user
from patron.analytics import buffer
from patron.catalog.models import Product
from patron.errors import Conflict, ValidationFailed
from patron.progress import Progress
from patron.recommendations import services, tasks
from patron.recommendations.models import (
    ItemNeighbour,
    ModelVersion,
    NeighbourKind,
    TrendingItem,
    UserRecommendation,
)
from patron.recommendations.training import train
from tests.concurrency import in_threads, own_database_file, race
from tests.factories import make_category, make_product
from tests.integration.test_recommendations_serving import bought, viewed

pytestmark = pytest.mark.django_db

COFFEE = (
    ("Burr Coffee Grinder", "Grind coffee beans for espresso and filter coffee."),
    ("Espresso Machine", "Pull espresso shots and steam milk for a latte at home."),
    ("Dark Roast Coffee Beans", "Whole coffee beans, dark roast, for espresso."),
    ("Milk Frother", "Froth milk for cappuccino and latte coffee."),
)
GARDEN = (
    ("Garden Hose", "A 30 m hose for watering the garden and the lawn."),
    ("Pruning Shears", "Sharp secateurs for pruning roses, shrubs and garden hedges."),
    ("Lawn Sprinkler", "Water the lawn and the garden beds evenly."),
)


@pytest.fixture(autouse=True)
def _empty_event_buffer() -> None:
    buffer.discard()


@pytest.fixture
def store() -> dict[str, Product]:
    kitchen = make_category("Kitchen")
    coffee = make_category("Coffee", parent=kitchen)
    garden = make_category("Garden")
    products = {name: make_product(name, category=coffee, description=text) for name, text in COFFEE}
    products.update({name: make_product(name, category=garden, description=text) for name, text in GARDEN})
    return products


def neighbours(version: ModelVersion, kind: NeighbourKind, product: Product) -> list[int]:
    rows = ItemNeighbour.objects.filter(model_version=version, kind=kind, product_id=product.pk).order_by("rank")
    return list(rows.values_list("neighbour_id", flat=True))


def trending(version: ModelVersion, category_id: int | None) -> list[int]:
    rows = TrendingItem.objects.filter(model_version=version, category_id=category_id).order_by("rank")
    return list(rows.values_list("product_id", flat=True))


def test_training_stores_every_result_and_activates_the_version(store: dict[str, Product]) -> None:
    ada = make_user("ada@example.com")
    grinder, beans, hose = store["Burr Coffee Grinder"], store["Dark Roast Coffee Beans"], store["Garden Hose"]
    frother, shears = store["Milk Frother"], store["Pruning Shears"]
    bought(grinder, beans, user=ada, days_ago=20)
    bought(grinder, beans, email="guest@example.com", days_ago=2)
    bought(grinder, beans, frother, email="other@example.com", days_ago=3)
    bought(hose, shears, email="gardener@example.com", days_ago=1)
    bought(hose, user=ada, days_ago=1, status="cancelled")
    bought(hose, user=ada, days_ago=1, status="pending_payment")

    version = train()

    assert version.status == ModelVersion.Status.READY and version.is_active
    assert version.trained_at is not None and version.name == "ease" and version.label == f"ease@{version.version}"
    metrics = version.metrics
    # Cancelled and unpaid orders are not purchases.
    assert metrics["products"] == 7 and metrics["purchase_lines"] == 9
    assert metrics["similar_rows"] == 7 * 6 and metrics["users"] == 1
    assert set(metrics["seconds"]) >= {"read", "similar", "bought_together", "for_you", "trending", "write"}
    # Two baskets hold the grinder and the beans: enough support; the frother was bought with them only once.
    assert neighbours(version, NeighbourKind.BOUGHT_TOGETHER, grinder) == [beans.pk]
    assert neighbours(version, NeighbourKind.BOUGHT_TOGETHER, hose) == []
    # Guests help fit the model, only customers with an account get a stored list: it never holds what they bought.
    [(user_id,)] = UserRecommendation.objects.filter(model_version=version).values_list("user_id").distinct()
    assert user_id == ada.pk
    ada_items = set(UserRecommendation.objects.filter(model_version=version).values_list("product_id", flat=True))
    assert frother.pk in ada_items and not ada_items & {grinder.pk, beans.pk}
    # Every product bought within the window trends, store-wide and in each category above it.
    assert set(trending(version, None)) == {grinder.pk, beans.pk, frother.pk, hose.pk, shears.pk}
    coffee_trending = set(trending(version, grinder.category_id))
    kitchen_trending = set(trending(version, grinder.category.parent_id))
    assert coffee_trending == kitchen_trending == {grinder.pk, beans.pk, frother.pk}


def test_similar_items_come_from_the_text_so_a_product_nobody_bought_is_recommended(store: dict[str, Product]) -> None:
    grinder, beans = store["Burr Coffee Grinder"], store["Dark Roast Coffee Beans"]
    bought(grinder, beans, email="a@example.com")
    bought(grinder, beans, email="b@example.com")
    dripper = make_product(
        "Pour-over Coffee Dripper",
        category=grinder.category,
        description="Brew filter coffee by hand from freshly ground coffee beans.",
    )
    version = train()
    coffee_things = {product.pk for name, product in store.items() if name in dict(COFFEE)} | {dripper.pk}
    top_three = neighbours(version, NeighbourKind.SIMILAR, grinder)[:3]
    assert dripper.pk in top_three
    assert set(top_three) <= coffee_things
    assert set(neighbours(version, NeighbourKind.SIMILAR, dripper)[:3]) <= coffee_things
    assert Product.objects.get(pk=dripper.pk).sales_count == 0


def test_co_views_lift_an_item_in_the_similar_list(store: dict[str, Product]) -> None:
    grinder, shears = store["Burr Coffee Grinder"], store["Pruning Shears"]
    before = neighbours(train(), NeighbourKind.SIMILAR, grinder).index(shears.pk)
    for visitor in ("v1", "v2", "v3"):
        viewed(grinder, visitor=visitor, days_ago=2)
        viewed(shears, visitor=visitor, days_ago=2)
    after = neighbours(train(), NeighbourKind.SIMILAR, grinder).index(shears.pk)
    assert after < before


def test_a_new_version_replaces_the_active_one_and_the_oldest_is_deleted(store: dict[str, Product]) -> None:
    bought(store["Garden Hose"], store["Pruning Shears"], email="a@example.com")
    first = train()
    home = services.parse_query("home")
    # Served, so the active version is cached as a serving process would have it.
    assert services.recommend(home, services.Audience(user_id=None)).model == first.label
    second = train()
    assert services.recommend(home, services.Audience(user_id=None)).model == second.label
    assert list(ModelVersion.objects.filter(is_active=True)) == [second]
    assert ModelVersion.objects.filter(pk=first.pk, status=ModelVersion.Status.READY).exists()
    third = train()
    assert set(ModelVersion.objects.values_list("pk", flat=True)) == {second.pk, third.pk}
    assert not ItemNeighbour.objects.filter(model_version_id=first.pk).exists()
    assert not TrendingItem.objects.filter(model_version_id=first.pk).exists()
    assert third.version == second.version + 1


def test_serving_uses_the_trained_results(store: dict[str, Product]) -> None:
    grinder, beans = store["Burr Coffee Grinder"], store["Dark Roast Coffee Beans"]
    bought(grinder, beans, email="a@example.com")
    bought(grinder, beans, email="b@example.com")
    version = train()
    query = services.parse_query("product", kind="bought_together", product_id=grinder.pk)
    result = services.recommend(query, services.Audience(user_id=None, visitor_id="v"))
    assert result.model == version.label
    assert [item.card.id for item in result.items] == [beans.pk]


def running_training(**fields: object) -> ModelVersion:
    return ModelVersion.objects.create(name="ease", version=99, **fields)


def test_a_second_training_waits_for_the_running_one(store: dict[str, Product]) -> None:
    running = running_training()
    with pytest.raises(Conflict, match="Another training is running"):
        train()
    assert tasks.train_recommendations.call().startswith("skipped: Another training is running")
    with pytest.raises(CommandError, match="Another training is running"):
        call_command("recommend", "train", verbosity=0)
    assert ModelVersion.objects.get() == running


def test_a_training_whose_worker_died_is_taken_over(store: dict[str, Product]) -> None:
    stale = timezone.now() - timedelta(hours=2)
    dead = running_training(started_at=stale, heartbeat_at=stale)
    version = train()
    dead.refresh_from_db()
    assert dead.status == ModelVersion.Status.FAILED and "stopped reporting" in dead.error
    assert version.is_active and version.version == 100


def failing_at(phase: str, action: Callable[[], None]) -> Progress:
    """Progress that runs `action` when the given phase starts: a crash, another worker taking over, a pause."""

    @contextmanager
    def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
        if description == phase:
            action()
        yield lambda steps: None

    return progress


def test_a_failed_training_keeps_the_active_version_and_leaves_no_rows(store: dict[str, Product]) -> None:
    bought(store["Garden Hose"], store["Pruning Shears"], email="a@example.com")
    bought(store["Garden Hose"], store["Pruning Shears"], email="b@example.com")
    serving = train()

    def crash() -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        train(progress=failing_at("Trending", crash))
    failed = ModelVersion.objects.get(status=ModelVersion.Status.FAILED)
    assert failed.error == "RuntimeError: disk full"
    assert not ItemNeighbour.objects.filter(model_version=failed).exists()
    assert list(ModelVersion.objects.filter(is_active=True)) == [serving]


def test_a_training_that_was_taken_over_does_not_activate(store: dict[str, Product]) -> None:
    def taken_over() -> None:
        ModelVersion.objects.filter(status=ModelVersion.Status.TRAINING).update(status=ModelVersion.Status.FAILED)

    with pytest.raises(Conflict, match="taken over"):
        train(progress=failing_at("Saving results", taken_over))
    assert not ModelVersion.objects.filter(is_active=True).exists()
    assert not ItemNeighbour.objects.exists()


@race
@pytest.mark.django_db(transaction=True)
def test_a_worker_that_starts_while_another_trains_leaves_it_alone(store: dict[str, Product], tmp_path: Path) -> None:
    bought(store["Garden Hose"], store["Pruning Shears"], email="a@example.com")
    first_is_training, second_has_tried = threading.Event(), threading.Event()

    def hold() -> None:
        first_is_training.set()
        second_has_tried.wait(30)

    def first() -> str:
        try:
            return train(progress=failing_at("Reading orders", hold)).label
        finally:
            connection.close()

    def second() -> str:
        first_is_training.wait(30)
        try:
            return train().label
        except Conflict as refusal:
            return refusal.message
        finally:
            second_has_tried.set()
            connection.close()

    with own_database_file(tmp_path), ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = [future.result() for future in [pool.submit(first), pool.submit(second)]]
        [versions] = in_threads(1, lambda: list(ModelVersion.objects.values_list("version", "status", "is_active")))
    assert outcomes[0] == "ease@1"
    assert outcomes[1].startswith("Another training is running")
    assert versions == [(1, ModelVersion.Status.READY, True)]


def test_training_runs_nightly_and_from_the_command_line(store: dict[str, Product]) -> None:
    job = next(job for job in scheduler.get_jobs() if job.name == tasks.train_recommendations.name)
    now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, now) == datetime(2026, 11, 29, 2, 23, tzinfo=UTC)
    out = io.StringIO()
    call_command("recommend", "train", stdout=out)
    active = ModelVersion.objects.get(is_active=True)
    assert f"Serving {active.label}: 7 products" in out.getvalue()
    assert "Embedding product texts" in out.getvalue()


def test_an_empty_store_trains_an_empty_version() -> None:
    version = train()
    assert version.is_active and version.metrics["products"] == 0
    assert version.metrics["similar_rows"] == version.metrics["user_items_rows"] == 0
    assert services.recommend(services.parse_query("home"), services.Audience(user_id=None)).items == []


def test_the_demo_store_ends_with_a_trained_model() -> None:
    out = io.StringIO()
    call_command("demo", "--products", "30", "--no-images", "--seed", "3", stdout=out)
    active = ModelVersion.objects.get(is_active=True)
    assert f"Recommendations trained: serving {active.label}." in out.getvalue()
    assert active.metrics["products"] == 30 and active.metrics["similar_rows"] > 0
    # A store that has products and a model is left as it is.
    call_command("demo", "--if-empty", stdout=io.StringIO())
    assert list(ModelVersion.objects.all()) == [active]


def test_an_unknown_model_is_refused_before_anything_starts() -> None:
    with pytest.raises(ValidationFailed, match="Unknown model 'nope'"):
        train(model_name="nope")
    assert not ModelVersion.objects.exists()
