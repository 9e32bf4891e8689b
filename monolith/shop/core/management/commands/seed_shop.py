"""``python manage.py seed_shop --products N [--seed S] [--reset]``: deterministic demo data.

The same ``--seed`` and ``--products`` give the same rows (ids included, on an empty or
``--reset`` database): timestamps come from a fixed base date, never from the clock.
Large tables are written with PostgreSQL COPY, so 100k products take seconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from psycopg import sql

from shop.catalog.models import Category, Product
from shop.customers.models import Address, Customer
from shop.orders.models import Order, OrderLine, OrderStatus
from shop.payments.models import Payment, PaymentStatus

DEMO_PASSWORD = "demo-pass-123"
BASE_TIME = datetime(2015, 3, 1, 9, 0, 0)  # noqa: DTZ001 - naive local time is the legacy schema
SPAN_SECONDS = int(timedelta(days=365 * 9).total_seconds())

# (top level, [(second level, [leaf: (name, product noun)])])
TREE: list[tuple[str, list[tuple[str, list[tuple[str, str]]]]]] = [
    (
        "Kitchen",
        [
            ("Cups", [("Espresso Cups", "Espresso Cup"), ("Mugs", "Mug"), ("Tea Cups", "Tea Cup")]),
            ("Cookware", [("Pans", "Frying Pan"), ("Pots", "Stock Pot")]),
            ("Knives", [("Chef Knives", "Chef Knife"), ("Paring Knives", "Paring Knife")]),
        ],
    ),
    (
        "Home",
        [
            ("Lighting", [("Desk Lamps", "Desk Lamp"), ("Pendants", "Pendant Light")]),
            ("Textiles", [("Cushions", "Cushion"), ("Throws", "Throw")]),
        ],
    ),
    (
        "Garden",
        [
            ("Tools", [("Shovels", "Shovel"), ("Pruners", "Pruner")]),
            ("Planters", [("Pots & Planters", "Planter")]),
        ],
    ),
    (
        "Office",
        [
            ("Stationery", [("Notebooks", "Notebook"), ("Pens", "Fountain Pen")]),
            ("Desk", [("Organisers", "Desk Organiser")]),
        ],
    ),
]
ADJECTIVES = [
    "Classic",
    "Nordic",
    "Rustic",
    "Modern",
    "Vintage",
    "Compact",
    "Deluxe",
    "Everyday",
    "Handmade",
    "Studio",
    "Heritage",
    "Urban",
    "Alpine",
    "Coastal",
    "Minimal",
]
MATERIALS = [
    "Ceramic",
    "Stoneware",
    "Steel",
    "Oak",
    "Walnut",
    "Linen",
    "Cotton",
    "Glass",
    "Copper",
    "Bamboo",
    "Porcelain",
    "Cast Iron",
    "Brass",
    "Wool",
]
COLORS = ["red", "dark blue", "white", "black", "sage green", "sand", "grey", "ochre", "natural"]
SIZES = ["S", "M", "L", "XL", "one size"]
FIRST = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hannes",
    "Ida",
    "Jonas",
    "Lena",
    "Max",
    "Nora",
    "Otto",
    "Paula",
    "Simon",
]
LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
]
CITIES = [
    ("Berlin", "10115", "DE"),
    ("Hamburg", "20095", "DE"),
    ("München", "80331", "DE"),
    ("Köln", "50667", "DE"),
    ("Wien", "1010", "AT"),
    ("Zürich", "8001", "CH"),
    ("Amsterdam", "1012", "NL"),
    ("Leipzig", "04109", "DE"),
]
STREETS = ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schulstraße", "Am Markt"]

SHOP_TABLES = [
    "shop_payment",
    "shop_orderline",
    "shop_order",
    "shop_cartitem",
    "shop_cart",
    "shop_stockmove",
    "shop_product",
    "shop_category",
    "shop_address",
    "shop_customer",
    "authtoken_token",
    "django_admin_log",
    "django_session",
    "auth_user_groups",
    "auth_user_user_permissions",
    "auth_user",
]
STAFF_APPS = ["catalog", "inventory", "orders", "payments", "customers", "cart"]


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        statement = sql.SQL("COPY {table} ({columns}) FROM STDIN").format(
            table=sql.Identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with raw.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def _sync_sequence(table: str) -> None:
    query = sql.SQL(
        "SELECT setval(pg_get_serial_sequence({name}, 'id'), "
        "COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
    ).format(name=sql.Literal(table), table=sql.Identifier(table))
    with connection.cursor() as cursor:
        cursor.cursor.execute(query)


class Command(BaseCommand):
    help = "Fill the shop with deterministic demo data (categories, products, customers, orders)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=1000, help="number of products")
        parser.add_argument(
            "--seed", type=int, default=42, help="random seed (same seed, same data)"
        )
        parser.add_argument(
            "--customers", type=int, default=None, help="default: products/50, 3..2000"
        )
        parser.add_argument(
            "--reset", action="store_true", help="delete all shop data and users first"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        n_products: int = options["products"]
        if n_products < 1:
            raise CommandError("--products must be at least 1")
        n_customers = options["customers"] or max(3, min(2000, n_products // 50))
        started = time.perf_counter()
        with transaction.atomic():
            if options["reset"]:
                with connection.cursor() as cursor:
                    # Check pending deferred FKs now: TRUNCATE refuses to run with any pending.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute(f"TRUNCATE {', '.join(SHOP_TABLES)} RESTART IDENTITY CASCADE")
                    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            elif (
                Product.objects.exists()
                or User.objects.filter(username__in=["admin", "staff"]).exists()
            ):
                raise CommandError(
                    "The shop already has data; nothing was changed. "
                    "Run again with --reset to replace everything (all shop data and users)."
                )
            rng = random.Random(options["seed"])
            leaves = self._categories()
            active = self._products(rng, n_products, leaves)
            users = self._users(rng, n_customers)
            n_orders = self._orders(rng, users, active)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {Category.objects.count()} categories, {n_products} products, "
                f"{n_customers} customers, {n_orders} orders in {elapsed:.1f}s "
                f"(seed={options['seed']}). Demo password: {DEMO_PASSWORD}"
            )
        )

    # --- categories -----------------------------------------------------------------------

    def _categories(self) -> list[tuple[int, str]]:
        """Writes the tree; returns the leaves as (id, product noun)."""
        from django.utils.text import slugify

        rows: list[tuple[int, str, str, int | None, int]] = []
        leaves: list[tuple[int, str]] = []
        next_id = 1
        for top_order, (top, seconds) in enumerate(TREE):
            top_id = next_id
            rows.append((top_id, top, slugify(top), None, top_order))
            next_id += 1
            for second_order, (second, leaf_list) in enumerate(seconds):
                second_id = next_id
                rows.append((second_id, second, slugify(f"{top} {second}"), top_id, second_order))
                next_id += 1
                for leaf_order, (leaf, noun) in enumerate(leaf_list):
                    rows.append((next_id, leaf, slugify(leaf), second_id, leaf_order))
                    leaves.append((next_id, noun))
                    next_id += 1
        _copy("shop_category", ["id", "name", "slug", "parent_id", "sort_order"], rows)
        _sync_sequence("shop_category")
        return leaves

    # --- products -------------------------------------------------------------------------

    def _products(
        self, rng: random.Random, count: int, leaves: list[tuple[int, str]]
    ) -> list[tuple[int, str, str, Decimal]]:
        """Writes products and their initial stock moves; returns sellable ones."""
        products: list[tuple[Any, ...]] = []
        moves: list[tuple[Any, ...]] = []
        active: list[tuple[int, str, str, Decimal]] = []
        for pid in range(1, count + 1):
            cat_id, noun = rng.choice(leaves)
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {noun}"
            sku = f"SKU-{pid:06d}"
            cur = "EUR"
            # Legacy quirks, present from the first dozen rows on (see README "Legacy quirks").
            quirk = pid % 250
            if quirk == 3:
                sku = sku.lower()  # entered lower-case before the 2019 cleanup
            elif quirk == 7:
                sku = f" {sku.lower()} "  # lower-case with stray spaces
            if quirk == 11:
                cur = "eur"
            price = Decimal(rng.randrange(199, 25000)) / 100
            roll = rng.random()
            status = "H" if roll < 0.05 else "D" if roll < 0.08 else "A"
            qty = 0 if rng.random() < 0.1 else rng.randint(1, 250)
            attrs_parts = [f"color={rng.choice(COLORS)}"]
            if rng.random() < 0.5:
                attrs_parts.append(f"size={rng.choice(SIZES)}")
            if rng.random() < 0.3:
                attrs_parts.append(f"material={name.split()[1].lower()}")
            attrs = ";".join(attrs_parts)
            if quirk == 19:
                attrs = "fragile;color = dark red ;;note=handle with care; "  # old hand-typed row
            elif rng.random() < 0.1:
                attrs = ""
            descr = (
                ""
                if rng.random() < 0.15
                else (
                    f"{name}. Made of {name.split()[1].lower()}, designed to last. "
                    f"Ships in {rng.randint(1, 5)} working days."
                )
            )
            weight = None if rng.random() < 0.1 else rng.randint(40, 5000)
            created = BASE_TIME + timedelta(seconds=rng.randrange(SPAN_SECONDS))
            updated = created + timedelta(seconds=rng.randrange(0, 86400 * 200))
            products.append(
                (
                    pid,
                    sku,
                    name,
                    descr,
                    cat_id,
                    price,
                    cur,
                    status,
                    qty,
                    attrs,
                    weight,
                    created,
                    updated,
                )
            )
            if qty:
                moves.append((pid, qty, "initial", "seed", created))
            if status == "A" and qty > 0:
                active.append((pid, sku, name, price))
        _copy(
            "shop_product",
            [
                "id",
                "sku",
                "nm",
                "descr",
                "cat_id",
                "prc",
                "cur",
                "st",
                "qty",
                "attrs",
                "wt",
                "created",
                "updated",
            ],
            products,
        )
        _sync_sequence("shop_product")
        _copy("shop_stockmove", ["product_id", "delta", "reason", "ref", "created"], moves)
        return active

    # --- users ----------------------------------------------------------------------------

    def _users(self, rng: random.Random, count: int) -> list[tuple[User, Address]]:
        # One hash for every demo account: hashing is deliberately slow (local demo only).
        password = make_password(DEMO_PASSWORD, salt="seedshopdemo")
        joined = BASE_TIME
        admin = User(
            username="admin",
            email="admin@shop.example",
            password=password,
            is_staff=True,
            is_superuser=True,
            date_joined=joined,
        )
        staff = User(
            username="staff",
            email="staff@shop.example",
            password=password,
            is_staff=True,
            date_joined=joined,
        )
        people = []
        for i in range(1, count + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            people.append(
                User(
                    username=f"customer{i}",
                    email=f"customer{i}@example.com",
                    password=password,
                    first_name=first,
                    last_name=last,
                    date_joined=BASE_TIME + timedelta(seconds=rng.randrange(SPAN_SECONDS)),
                )
            )
        User.objects.bulk_create([admin, staff, *people], batch_size=2000)
        staff = User.objects.get(username="staff")
        staff.user_permissions.set(
            Permission.objects.filter(content_type__app_label__in=STAFF_APPS)
        )
        users = list(User.objects.filter(username__startswith="customer").order_by("id"))
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    user=u,
                    phone=f"+49 30 {rng.randint(1000000, 9999999)}",
                    marketing_opt_in="Y" if rng.random() < 0.4 else "N",
                )
                for u in users
            ],
            batch_size=2000,
        )
        addresses = []
        for user, customer in zip(users, customers, strict=True):
            for n in range(rng.choice([1, 1, 2])):
                city, zip_code, country = rng.choice(CITIES)
                addresses.append(
                    Address(
                        customer=customer,
                        name=f"{user.first_name} {user.last_name}",
                        line1=f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
                        line2="",
                        city=city,
                        zip=zip_code,
                        country=country,
                        is_default=n == 0,
                    )
                )
        Address.objects.bulk_create(addresses, batch_size=2000)
        defaults = {a.customer_id: a for a in addresses if a.is_default}
        return [(u, defaults[c.pk]) for u, c in zip(users, customers, strict=True)]

    # --- orders ---------------------------------------------------------------------------

    def _orders(
        self,
        rng: random.Random,
        users: list[tuple[User, Address]],
        active: list[tuple[int, str, str, Decimal]],
    ) -> int:
        if not active:
            return 0
        statuses = (
            [OrderStatus.DELIVERED] * 10
            + [OrderStatus.SHIPPED] * 3
            + [OrderStatus.PAID] * 3
            + [OrderStatus.CANCELLED] * 2
            + [OrderStatus.NEW]
        )
        payment_status: dict[str, PaymentStatus] = {  # keyed by Order.status values
            OrderStatus.NEW: PaymentStatus.AUTHORISED,
            OrderStatus.PAID: PaymentStatus.CAPTURED,
            OrderStatus.SHIPPED: PaymentStatus.CAPTURED,
            OrderStatus.DELIVERED: PaymentStatus.CAPTURED,
        }
        orders: list[Order] = []
        lines_per_order: list[list[tuple[int, str, str, Decimal, int]]] = []
        for user, address in users:
            for _ in range(rng.randint(0, 4)):
                picked = rng.sample(active, k=min(len(active), rng.randint(1, 4)))
                lines = [
                    (pid, sku, name, price, rng.randint(1, 3)) for pid, sku, name, price in picked
                ]
                total = sum((price * qty for _, _, _, price, qty in lines), Decimal("0.00"))
                created = BASE_TIME + timedelta(seconds=rng.randrange(SPAN_SECONDS))
                status = rng.choice(statuses)
                orders.append(
                    Order(
                        user=user,
                        email=user.email,
                        status=status,
                        total=total,
                        cur="EUR",
                        ship_name=address.name,
                        ship_line1=address.line1,
                        ship_line2=address.line2,
                        ship_city=address.city,
                        ship_zip=address.zip,
                        ship_country=address.country,
                        created=created,
                        updated=created + timedelta(days=rng.randint(0, 10)),
                    )
                )
                lines_per_order.append(lines)
        Order.objects.bulk_create(orders, batch_size=2000)
        order_lines, payments = [], []
        for order, lines in zip(orders, lines_per_order, strict=True):
            for pid, sku, name, price, qty in lines:
                order_lines.append(
                    OrderLine(
                        order=order, product_id=pid, sku=sku, name=name, unit_price=price, qty=qty
                    )
                )
            pay_status = payment_status.get(order.status)
            if pay_status is None:  # cancelled: half were voided, half refunded after capture
                pay_status = PaymentStatus.VOIDED if rng.random() < 0.5 else PaymentStatus.REFUNDED
            payments.append(
                Payment(
                    order=order,
                    amount=order.total,
                    cur=order.cur,
                    status=pay_status,
                    gateway_ref=f"SIM-SEED{order.pk:012d}",
                    card_last4="4242",
                    idempotency_key=f"seed-{order.pk}",
                    created=order.created,
                )
            )
        OrderLine.objects.bulk_create(order_lines, batch_size=5000)
        Payment.objects.bulk_create(payments, batch_size=5000)
        return len(orders)
