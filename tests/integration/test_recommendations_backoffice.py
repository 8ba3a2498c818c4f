"""The back-office for recommendations: the merchant's rules and settings take effect at once; training on demand."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from patron.accounts.testing import make_user
from patron.catalog.models import Product
from patron.recommendations.models import ModelVersion, RecommendationRule, RecommendationSettings, RuleKind
from patron.recommendations.services import Audience, parse_query, recommend
from tests.factories import make_category, make_product
from tests.integration.test_recommendations_serving import bought, stored_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(make_user("staff@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def shop() -> dict[str, Product]:
    kitchen = make_category("Kitchen")
    return {name: make_product(name.capitalize(), category=kitchen) for name in ("kettle", "teapot", "mug")}


def similar_to(product: Product) -> list[int]:
    result = recommend(parse_query("product", product_id=product.pk), Audience(user_id=None))
    return [item.card.id for item in result.items]


def test_an_exclusion_added_and_removed_in_the_back_office_applies_at_once(
    staff_client: Client, shop: dict[str, Product]
) -> None:
    kettle, teapot, mug = shop["kettle"], shop["teapot"], shop["mug"]
    stored_version(similar={kettle.pk: [teapot.pk, mug.pk]})
    assert similar_to(kettle) == [teapot.pk, mug.pk]
    add = reverse("admin:recommendations_recommendationrule_add")
    response = staff_client.post(
        add, {"kind": RuleKind.EXCLUDE, "product": teapot.pk, "category": "", "note": "recall"}
    )
    assert response.status_code == 302
    assert similar_to(kettle) == [mug.pk]
    both = staff_client.post(add, {"kind": RuleKind.EXCLUDE, "product": teapot.pk, "category": kettle.category_id})
    assert both.status_code == 200 and RecommendationRule.objects.count() == 1, "a rule names one target"
    changelist = reverse("admin:recommendations_recommendationrule_changelist")
    rules = [str(pk) for pk in RecommendationRule.objects.values_list("pk", flat=True)]
    staff_client.post(changelist, {"action": "delete_selected", "_selected_action": rules, "post": "yes"})
    assert not RecommendationRule.objects.exists()
    assert similar_to(kettle) == [teapot.pk, mug.pk]


def test_the_settings_are_one_row_edited_in_place(staff_client: Client, shop: dict[str, Product]) -> None:
    ada = make_user("ada@example.com")
    kettle, teapot = shop["kettle"], shop["teapot"]
    stored_version(similar={kettle.pk: [teapot.pk]})
    bought(teapot, user=ada, days_ago=90)
    add = reverse("admin:recommendations_recommendationsettings_add")
    form = {"just_bought_days": "120", "new_arrival_days": "30", "new_arrival_boost": "0", "on_sale_boost": "0"}
    assert staff_client.post(add, form).status_code == 302
    query = parse_query("product", product_id=kettle.pk)
    assert recommend(query, Audience(user_id=ada.pk)).items == []
    assert staff_client.get(add).status_code == 403
    change = reverse("admin:recommendations_recommendationsettings_change", args=[1])
    assert staff_client.post(change, {**form, "just_bought_days": "30"}).status_code == 302
    assert [item.card.id for item in recommend(query, Audience(user_id=ada.pk)).items] == [teapot.pk]
    assert RecommendationSettings.objects.count() == 1
    too_big = staff_client.post(change, {**form, "on_sale_boost": "50"})
    assert too_big.status_code == 200 and RecommendationSettings.objects.get().on_sale_boost == 0


def test_staff_see_the_versions_and_train_one_now(
    staff_client: Client, shop: dict[str, Product], immediate_tasks: None
) -> None:
    old = stored_version()
    changelist = reverse("admin:recommendations_modelversion_changelist")
    page = staff_client.get(changelist).content.decode()
    assert old.label in page and "Train now" in page
    response = staff_client.post(reverse("admin:recommendations_modelversion_train"))
    assert response.status_code == 302 and response["Location"] == changelist
    active = ModelVersion.objects.get(is_active=True)
    assert active.version == old.version + 1 and active.metrics["products"] == 3
    assert staff_client.get(reverse("admin:recommendations_modelversion_train")).status_code == 405


def test_customers_cannot_train(client: Client) -> None:
    client.force_login(make_user("ada@example.com"))
    response = client.post(reverse("admin:recommendations_modelversion_train"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not ModelVersion.objects.exists()
