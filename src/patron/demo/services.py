"""The demo store generator: categories, products with variants and pictures, shoppers and their order history.

Everything comes from one seeded random generator, so a seed always builds the same store. Rows are written
with bulk inserts in chunks, and the catalog's derived data is then computed by `catalog.services`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify
from faker import Faker

from patron.accounts.models import Address, Channel, Preferences, User
from patron.catalog import renditions
from patron.catalog import services as catalog
from patron.catalog.models import Category, Product, ProductImage, Variant
from patron.demo import images
from patron.demo.vocabulary import (
    APPAREL_SIZES,
    CATEGORY_TREE,
    CLOSING_SENTENCES,
    PROSE_LOWERCASE,
    SERIES,
    SHOE_SIZES,
    WARRANTIES,
    CategorySpec,
    ProductSpec,
)
from patron.orders.models import Order, OrderLine, OrderStatus, OrderStatusChange
from patron.progress import Progress, silent_progress

DEFAULT_SEED = 2024
CHUNK = 500
CENT = Decimal("0.01")
TAX_RATE = Decimal("0.08")
FREE_SHIPPING_FROM = Decimal("50.00")
SHIPPING_FEE = Decimal("4.99")
ORDER_HISTORY_DAYS = 180
# Each product has a few companions from its own category, and most further lines of a basket are one of them,
# so that the order history has the co-purchases that "frequently bought together" learns from, as a real
# store's does; independent picks alone leave a big catalog with no pair bought together twice.
COMPANIONS_PER_PRODUCT = 3
COMPANION_SHARE = 0.7


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


STAFF_LOGIN = DemoLogin("staff", "staff@patron.example", "patron-staff-demo")
SHOPPER_LOGIN = DemoLogin("shopper", "shopper@patron.example", "patron-shopper-demo")
DEMO_LOGINS = (SHOPPER_LOGIN, STAFF_LOGIN)
EXTRA_SHOPPERS = 9


@dataclass
class DemoReport:
    categories: int = 0
    products: int = 0
    variants: int = 0
    images: int = 0
    shoppers: int = 0
    orders: int = 0
    seconds: float = 0.0
    skipped: bool = False


@dataclass
class _Leaf:
    spec: CategorySpec
    products: ProductSpec
    category: Category
    hue: float
    code: str


@dataclass
class VariantPlan:
    options: dict[str, str]
    price: Decimal
    compare_at_price: Decimal | None
    stock: int


@dataclass
class _ProductPlan:
    leaf: _Leaf
    name: str
    caption: str
    brand: str
    description: str
    attributes: dict[str, str]
    created_at: datetime
    variants: list[VariantPlan] = field(default_factory=list)


def store_is_empty() -> bool:
    return not Product.objects.exists()


def seed_demo(
    *,
    products: int = 2000,
    seed: int = DEFAULT_SEED,
    with_images: bool = True,
    progress: Progress = silent_progress,
) -> DemoReport:
    """Add `products` demo products (and the demo users, if missing, with an order history) to the store."""
    started = time.perf_counter()
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    now = timezone.now()
    report = DemoReport()

    leaves = _ensure_categories(progress)
    report.categories = Category.objects.count()
    plans = _plan_products(rng, leaves, products, now)
    created = _create_products(plans, progress)
    report.products = len(created)
    report.variants = sum(len(plan.variants) for plan in plans)
    if with_images:
        report.images = _create_images(plans, created, progress)
    ids = [product.pk for product in created]
    with progress("Indexing the catalog", len(ids)) as advance:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            catalog.refresh_products(chunk)
            advance(len(chunk))

    shoppers, staff = _ensure_users(rng, fake, leaves, now, progress)
    report.shoppers = len(shoppers)
    report.orders = _create_orders(rng, fake, shoppers, staff, ids, now, progress)
    with progress("Counting sales", 1) as advance:
        catalog.refresh_sales_counts()
        advance(1)
    report.seconds = time.perf_counter() - started
    return report


def _ensure_categories(progress: Progress) -> list[_Leaf]:
    """Create the demo category tree where it is missing; existing categories (matched by slug) are kept."""
    specs: list[tuple[CategorySpec, CategorySpec | None, float]] = []

    def walk(spec: CategorySpec, parent: CategorySpec | None, hue: float) -> None:
        specs.append((spec, parent, hue))
        for child in spec.children:
            walk(child, spec, hue)

    for root in CATEGORY_TREE:
        walk(root, None, root.hue)
    existing = {category.slug: category for category in Category.objects.filter(slug__in=[s.slug for s, _, _ in specs])}
    leaves: list[_Leaf] = []
    with progress("Categories", len(specs)) as advance, transaction.atomic():
        siblings: dict[str | None, int] = {}
        for spec, parent, hue in specs:
            parent_slug = parent.slug if parent else None
            position = siblings[parent_slug] = siblings.get(parent_slug, 0) + 1
            category = existing.get(spec.slug)
            if category is None:
                # One save per category: `Category.save` maintains the materialised path.
                category = Category(
                    name=spec.name,
                    slug=spec.slug,
                    description=spec.description,
                    parent=existing[parent_slug] if parent_slug else None,
                    position=position,
                )
                category.save()
                existing[spec.slug] = category
            if spec.products is not None:
                code = "".join(word[0] for word in spec.slug.split("-")).upper() + spec.slug[1:3].upper()
                leaves.append(_Leaf(spec, spec.products, category, hue, code))
            advance(1)
    return leaves


def _allocate(rng: random.Random, leaves: Sequence[_Leaf], total: int) -> list[_Leaf]:
    """Which leaf each new product goes to: every leaf gets one first, then the rest by weight."""
    order = list(leaves[:total])
    weights = [leaf.products.weight for leaf in leaves]
    order += rng.choices(list(leaves), weights=weights, k=max(0, total - len(order)))
    return order


def shelf_price(rng: random.Random, low: int, high: int) -> Decimal:
    """A shelf price between low and high, spread log-uniformly and ending in .99 or .49."""
    value = low * (high / low) ** rng.random()
    return Decimal(max(int(value), 1)) - (Decimal("0.01") if rng.random() < 0.75 else Decimal("0.51"))


def _round_up_99(value: Decimal) -> Decimal:
    return Decimal(int(value) + 1) - CENT


def _stock(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.07:
        return 0
    if roll < 0.17:
        return rng.randint(1, 4)
    return rng.randint(5, 120)


def plan_variants(rng: random.Random, spec: ProductSpec, base: Decimal) -> list[VariantPlan]:
    options: list[tuple[dict[str, str], Decimal]]
    colours = rng.sample(spec.colours, k=min(len(spec.colours), rng.randint(1, 3)))
    if spec.variants == "apparel":
        first = rng.randint(0, 2)
        sizes = APPAREL_SIZES[first : first + rng.randint(3, 4)]
        options = [({"size": size, "colour": c}, base) for c in colours for size in sizes]
    elif spec.variants == "shoes":
        options = [({"size": size, "colour": c}, base) for c in colours[:2] for size in SHOE_SIZES]
    elif spec.variants == "phone":
        storage = (("128 GB", 0), ("256 GB", 100), ("512 GB", 250))[: rng.randint(2, 3)]
        options = [({"storage": s, "colour": c}, base + extra) for s, extra in storage for c in colours]
    elif spec.variants == "laptop":
        configs = (("16 GB / 512 GB", 0), ("32 GB / 1 TB", 300), ("64 GB / 2 TB", 800))[: rng.randint(1, 3)]
        options = [({"configuration": name}, base + extra) for name, extra in configs]
    elif spec.variants == "volume":
        options = [
            ({"size": "30 ml"}, base),
            ({"size": "50 ml"}, _round_up_99(base * Decimal("1.45"))),
            ({"size": "100 ml"}, _round_up_99(base * Decimal("2.1"))),
        ]
    elif spec.variants == "format":
        options = [
            ({"format": "Paperback"}, base),
            ({"format": "Hardcover"}, base + 8),
            ({"format": "E-book"}, _round_up_99(base * Decimal("0.6"))),
        ]
    elif spec.variants == "colour":
        options = [({"colour": c}, base) for c in colours]
    else:
        options = [({}, base)]
    on_sale = rng.random() < 0.2
    markup = Decimal(rng.choice(("1.15", "1.2", "1.25", "1.33", "1.4")))
    return [
        VariantPlan(
            options=opts,
            price=price,
            compare_at_price=_round_up_99(price * markup) if on_sale else None,
            stock=_stock(rng),
        )
        for opts, price in options
    ]


def _name(rng: random.Random, spec: ProductSpec, anchor: bool) -> tuple[str, str, str]:
    """A product name, the short caption printed on its picture, and the feature word it was built with."""
    series = rng.choice(SERIES)
    if anchor:
        return f"{series} {spec.anchor}", f"{series} {spec.anchor.split()[-1]}", spec.anchor.split()[0]
    pattern = rng.choice(spec.patterns)
    feature, feature2 = rng.sample(spec.features, 2)
    noun, noun2 = rng.sample(spec.nouns, 2) if len(set(spec.nouns)) > 1 else (spec.nouns[0], spec.nouns[0])
    suffix = rng.choice(spec.suffixes)
    name = pattern.format(series=series, feature=feature, feature2=feature2, noun=noun, noun2=noun2) + suffix
    caption = name if "{series}" not in pattern else f"{series} {noun}"
    return name, caption, feature


def _in_prose(attribute: str, value: str) -> str:
    if attribute in PROSE_LOWERCASE and value[1:] == value[1:].lower():
        return value.lower()
    return value


def describe(spec: ProductSpec, rng: random.Random, context: dict[str, str]) -> str:
    picked = rng.sample(spec.sentences, k=min(len(spec.sentences), rng.randint(2, 3)))
    sentences = [spec.sentences[0], *[s for s in picked if s != spec.sentences[0]], rng.choice(CLOSING_SENTENCES)]
    return " ".join(sentence.format(**context) for sentence in sentences)


def _plan_products(rng: random.Random, leaves: list[_Leaf], total: int, now: datetime) -> list[_ProductPlan]:
    plans: list[_ProductPlan] = []
    anchored: set[str] = set()
    for leaf in _allocate(rng, leaves, total):
        spec = leaf.products
        anchor = bool(spec.anchor) and leaf.spec.slug not in anchored
        anchored.add(leaf.spec.slug)
        name, caption, feature = _name(rng, spec, anchor)
        brand = rng.choice(spec.brands)
        attributes = {key: rng.choice(values) for key, values in spec.attributes.items()}
        if spec.colours and spec.variants in ("single", "laptop"):
            attributes["colour"] = rng.choice(spec.colours)
        context = {"name": name, "brand": brand, "feature": feature, "warranty": rng.choice(WARRANTIES)}
        context |= {key: _in_prose(key, value) for key, value in attributes.items()}
        base = shelf_price(rng, *spec.price)
        plans.append(
            _ProductPlan(
                leaf=leaf,
                name=name,
                caption=caption,
                brand=brand,
                description=describe(spec, rng, context),
                attributes=attributes,
                created_at=now - timedelta(days=rng.uniform(0, 365)),
                variants=plan_variants(rng, spec, base),
            )
        )
    return plans


def _unique_slugs(names: Sequence[str]) -> list[str]:
    taken = set(Product.objects.values_list("slug", flat=True))
    slugs = []
    for name in names:
        base = slugify(name)[:200] or "product"
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        slugs.append(slug)
    return slugs


def _create_products(plans: list[_ProductPlan], progress: Progress) -> list[Product]:
    # SKUs number products after the highest existing id, so a second batch never collides with the first.
    offset = Product.objects.aggregate(top=Max("pk"))["top"] or 0
    slugs = _unique_slugs([plan.name for plan in plans])
    created: list[Product] = []
    with progress("Products and variants", len(plans)) as advance:
        for start in range(0, len(plans), CHUNK):
            chunk = plans[start : start + CHUNK]
            with transaction.atomic():
                products = Product.objects.bulk_create(
                    Product(
                        name=plan.name,
                        slug=slugs[start + i],
                        description=plan.description,
                        brand=plan.brand,
                        category=plan.leaf.category,
                        attributes=plan.attributes,
                    )
                    for i, plan in enumerate(chunk)
                )
                for product, plan in zip(products, chunk, strict=True):
                    product.created_at = product.updated_at = plan.created_at
                # `auto_now_add` stamps inserts with the current time; the store should look months old.
                Product.objects.bulk_update(products, ["created_at", "updated_at"])
                Variant.objects.bulk_create(
                    Variant(
                        product=product,
                        sku=f"{plan.leaf.code}-{offset + start + i + 1:06d}-{n + 1:02d}",
                        options=variant.options,
                        price=variant.price,
                        compare_at_price=variant.compare_at_price,
                        stock=variant.stock,
                        position=n,
                    )
                    for i, (product, plan) in enumerate(zip(products, chunk, strict=True))
                    for n, variant in enumerate(plan.variants)
                )
            created.extend(products)
            advance(len(chunk))
    return created


def _create_images(plans: list[_ProductPlan], products: list[Product], progress: Progress) -> int:
    image_field = ProductImage._meta.get_field("image")
    rows: list[ProductImage] = []
    with progress("Product pictures", len(products)) as advance:
        for plan, product in zip(plans, products, strict=True):
            content = images.render_card(
                title=plan.name,
                caption=plan.caption,
                brand=plan.brand,
                # Sibling categories get neighbouring shades of their department's colour.
                hue=plan.leaf.hue + plan.leaf.category.position * 0.015,
                shape=plan.leaf.products.shape,
            )
            path = image_field.generate_filename(ProductImage(product=product), f"{product.slug}.jpg")
            name = default_storage.save(path, ContentFile(content))
            rows.append(
                ProductImage(
                    product=product,
                    image=name,
                    alt_text=product.name[:200],
                    position=0,
                    width=images.SIZE,
                    height=images.SIZE,
                    renditions=renditions.store_renditions(name, content),
                )
            )
            advance(1)
    ProductImage.objects.bulk_create(rows, batch_size=CHUNK)
    return len(rows)


def _address(fake: Faker, user: User | None, name: str, *, label: str, default: bool) -> Address:
    return Address(
        user=user,
        label=label,
        full_name=name,
        line1=fake.street_address(),
        line2=fake.secondary_address() if fake.random.random() < 0.3 else "",
        city=fake.city(),
        region=fake.state_abbr(),
        postal_code=fake.postcode(),
        country="US",
        phone=fake.numerify("+1 ###-###-####"),
        is_default=default,
    )


def _ensure_users(
    rng: random.Random, fake: Faker, leaves: list[_Leaf], now: datetime, progress: Progress
) -> tuple[list[User], User]:
    """The demo staff member and shoppers; users that exist already are left as they are."""
    people = [("Alex Morgan", SHOPPER_LOGIN.email)]
    emails = {SHOPPER_LOGIN.email, STAFF_LOGIN.email}
    while len(people) < EXTRA_SHOPPERS + 1:
        first, last = fake.first_name(), fake.last_name()
        email = f"{first}.{last}@patron.example".lower()
        if email not in emails:
            emails.add(email)
            people.append((f"{first} {last}", email))
    existing = {user.email: user for user in User.objects.filter(email__in=emails)}
    shopper_hash = make_password(SHOPPER_LOGIN.password) if len(existing) < len(emails) else ""
    with progress("Shoppers and staff", len(people) + 1) as advance, transaction.atomic():
        staff = existing.get(STAFF_LOGIN.email)
        if staff is None:
            staff = User.objects.create_superuser(STAFF_LOGIN.email, STAFF_LOGIN.password, name="Sam Rivera")
        advance(1)
        shoppers: list[User] = []
        for name, email in people:
            user = existing.get(email)
            if user is None:
                joined = now - timedelta(days=rng.randint(ORDER_HISTORY_DAYS + 10, 720))
                user = User.objects.create(email=email, name=name, password=shopper_hash, date_joined=joined)
                homes = [_address(fake, user, name, label="Home", default=True)]
                if rng.random() < 0.4:
                    homes.append(_address(fake, user, name, label="Work", default=False))
                Address.objects.bulk_create(homes)
                consent = rng.random() < 0.6
                preferences = Preferences.objects.create(
                    user=user,
                    channels=rng.sample([c.value for c in Channel], k=rng.randint(1, 3)),
                    marketing_consent=consent,
                    marketing_consent_at=joined if consent else None,
                )
                preferences.favourite_categories.set(
                    [leaf.category for leaf in rng.sample(leaves, k=min(3, len(leaves)))]
                )
            shoppers.append(user)
            advance(1)
    return shoppers, staff


def _history(rng: random.Random, placed: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """The statuses an order went through, with times, ending at its current status."""
    age = now - placed
    steps: list[tuple[str, datetime]] = [
        (OrderStatus.PENDING_PAYMENT, placed),
        (OrderStatus.PAID, placed + timedelta(minutes=1)),
    ]
    if age > timedelta(days=14) and rng.random() < 0.05:
        return [*steps, (OrderStatus.CANCELLED, placed + timedelta(hours=rng.uniform(1, 20)))]
    if age < timedelta(hours=6):
        return steps
    steps.append((OrderStatus.PROCESSING, placed + timedelta(hours=rng.uniform(1, 5))))
    if age < timedelta(days=2):
        return steps
    shipped = placed + timedelta(hours=rng.uniform(18, 40))
    steps.append((OrderStatus.SHIPPED, shipped))
    if age < timedelta(days=6):
        return steps
    delivered = shipped + timedelta(days=rng.uniform(2, 4))
    steps.append((OrderStatus.DELIVERED, delivered))
    if age > timedelta(days=30) and rng.random() < 0.04:
        steps.append((OrderStatus.REFUNDED, delivered + timedelta(days=rng.uniform(3, 14))))
    return steps


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _create_orders(
    rng: random.Random,
    fake: Faker,
    shoppers: list[User],
    staff: User,
    product_ids: list[int],
    now: datetime,
    progress: Progress,
) -> int:
    """A past order history over the new products; popular products are ordered much more often."""
    if not product_ids:
        return 0
    count = max(12, min(len(product_ids) // 4, 800))
    variants = list(
        Variant.objects.filter(product_id__in=product_ids)
        .select_related("product")
        .only("id", "sku", "options", "price", "product__id", "product__name", "product__category_id")
        .order_by("product_id", "position")
    )
    by_product: dict[int, list[Variant]] = {}
    for variant in variants:
        by_product.setdefault(variant.product_id, []).append(variant)
    popular = list(by_product)
    rng.shuffle(popular)
    companions = _Companions(rng, by_product)
    addresses = {address.user_id: address for address in Address.objects.filter(user__in=shoppers, is_default=True)}
    offset = Order.objects.aggregate(top=Max("pk"))["top"] or 0
    currency = settings.STORE_CURRENCY
    orders: list[Order] = []
    lines: list[list[OrderLine]] = []
    histories: list[list[tuple[str, datetime]]] = []
    with progress("Order history", count) as advance:
        for n in range(count):
            placed = now - timedelta(days=rng.uniform(0, ORDER_HISTORY_DAYS))
            user: User | None = rng.choice(shoppers) if rng.random() < 0.85 else None
            if user is not None and user.pk in addresses:
                email, address = user.email, addresses[user.pk]
            else:
                email, address = fake.email(), _address(fake, None, fake.name(), label="", default=False)
            order_lines: list[OrderLine] = []
            for _ in range(rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0]):
                companion = companions.of(rng.choice(order_lines).product_id) if order_lines else None
                if companion is not None and rng.random() < COMPANION_SHARE:
                    product_id = companion
                else:
                    # Skewed picks make a few products clear bestsellers and leave a long tail.
                    product_id = popular[int(len(popular) * rng.random() ** 3)]
                variant = rng.choice(by_product[product_id])
                quantity = rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
                order_lines.append(
                    OrderLine(
                        product_id=product_id,
                        variant=variant,
                        product_name=variant.product.name,
                        sku=variant.sku,
                        options=variant.options,
                        unit_price=variant.price,
                        quantity=quantity,
                        line_total=variant.price * quantity,
                    )
                )
            subtotal = sum((line.line_total for line in order_lines), Decimal("0.00"))
            shipping = Decimal("0.00") if subtotal >= FREE_SHIPPING_FROM else SHIPPING_FEE
            discount = _quantize(subtotal * Decimal("0.10")) if rng.random() < 0.15 else Decimal("0.00")
            tax = _quantize((subtotal - discount) * TAX_RATE)
            history = _history(rng, placed, now)
            orders.append(
                Order(
                    number=f"D{offset + n + 1:07d}",
                    user=user,
                    email=email,
                    status=history[-1][0],
                    currency=currency,
                    subtotal=subtotal,
                    shipping=shipping,
                    tax=tax,
                    discount=discount,
                    total=subtotal + shipping + tax - discount,
                    shipping_address=_address_snapshot(address),
                    placed_at=placed,
                )
            )
            lines.append(order_lines)
            histories.append(history)
            advance(1)
        with transaction.atomic():
            created = Order.objects.bulk_create(orders, batch_size=CHUNK)
            for order, order_lines in zip(created, lines, strict=True):
                for line in order_lines:
                    line.order = order
            OrderLine.objects.bulk_create([line for group in lines for line in group], batch_size=CHUNK)
            OrderStatusChange.objects.bulk_create(
                [
                    OrderStatusChange(
                        order=order,
                        from_status=previous[0] if previous else "",
                        to_status=status,
                        at=at,
                        actor=staff if status in (OrderStatus.SHIPPED, OrderStatus.REFUNDED) else None,
                    )
                    for order, history in zip(created, histories, strict=True)
                    for previous, (status, at) in zip([None, *history[:-1]], history, strict=True)
                ],
                batch_size=CHUNK,
            )
    return count


class _Companions:
    """The products often bought with a product: a few from its category, drawn the first time they are asked for."""

    def __init__(self, rng: random.Random, by_product: dict[int, list[Variant]]):
        self._rng = rng
        self._category = {product_id: variants[0].product.category_id for product_id, variants in by_product.items()}
        self._in_category: dict[int, list[int]] = {}
        for product_id, category_id in self._category.items():
            self._in_category.setdefault(category_id, []).append(product_id)
        self._drawn: dict[int, list[int]] = {}

    def of(self, product_id: int) -> int | None:
        """One of the product's companions, or None when it is alone in its category."""
        if product_id not in self._drawn:
            others = [other for other in self._in_category[self._category[product_id]] if other != product_id]
            self._drawn[product_id] = self._rng.sample(others, k=min(COMPANIONS_PER_PRODUCT, len(others)))
        drawn = self._drawn[product_id]
        return self._rng.choice(drawn) if drawn else None


def _address_snapshot(address: Address) -> dict[str, Any]:
    return {
        "full_name": address.full_name,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
        "phone": address.phone,
    }
