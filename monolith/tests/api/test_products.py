import pytest
from shop.catalog.models import Product

URL = "/api/products/"
PRODUCT_KEYS = {
    "id",
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "status",
    "stock",
    "in_stock",
    "category",
    "attributes",
    "weight_grams",
    "created",
    "updated",
}


@pytest.mark.django_db
class TestRead:
    def test_legacy_shape(self, api, product):
        body = api.get(f"{URL}{product.pk}/").json()
        assert set(body) == PRODUCT_KEYS
        assert body == {
            **body,
            "sku": "MUG-RED",
            "name": "Red Mug",
            "description": "A red mug.",
            "price": "12.50",
            "currency": "EUR",
            "status": "A",
            "stock": 7,
            "in_stock": True,
            "category": {"id": product.category_id, "name": "Mugs", "slug": "mugs"},
            "attributes": {"color": "red", "size": "large mug"},
            "weight_grams": 250,
        }
        assert body["created"] == product.created.strftime("%Y-%m-%dT%H:%M:%S")
        assert len(body["updated"]) == 19  # naive, seconds, no offset

    def test_legacy_row_as_stored(self, api, db):
        legacy = Product.objects.create(sku=" sku-9 ", nm="Old", prc="1.00", cur="eur", qty=0)
        body = api.get(f"{URL}sku/SKU-9/").json()
        assert (body["id"], body["sku"], body["currency"], body["in_stock"]) == (
            legacy.pk,
            " sku-9 ",
            "eur",
            False,
        )
        assert (body["category"], body["attributes"], body["weight_grams"]) == (None, {}, None)

    def test_list_pagination(self, api, make_product):
        for _ in range(25):
            make_product()
        make_product(status="H")
        body = api.get(URL).json()
        assert set(body) == {"count", "next", "previous", "results"}
        assert body["count"] == 25
        assert len(body["results"]) == 20
        assert body["previous"] is None
        assert "page=2" in body["next"]
        page2 = api.get(URL, {"page": 2}).json()
        assert len(page2["results"]) == 5
        assert page2["next"] is None
        assert len(api.get(URL, {"page_size": 5}).json()["results"]) == 5
        assert len(api.get(URL, {"page_size": 1000}).json()["results"]) == 25  # capped at 100

    def test_filters(self, api, make_product, categories):
        mug = make_product(category=categories["mugs"], name="Tea mug", price="2.00")
        cup = make_product(category=categories["cups"], name="Cup", price="1.00")
        make_product(category=categories["garden"], name="Spade")
        ids = lambda r: [p["id"] for p in r.json()["results"]]  # noqa: E731
        assert ids(api.get(URL, {"category": "kitchen", "ordering": "price"})) == [cup.pk, mug.pk]
        assert ids(api.get(URL, {"category": "kitchen", "ordering": "-price"})) == [mug.pk, cup.pk]
        assert ids(api.get(URL, {"search": "TEA"})) == [mug.pk]
        assert (
            ids(api.get(URL, {"ordering": "-created"}))[0]
            > ids(api.get(URL, {"ordering": "created"}))[0]
        )

    @pytest.mark.parametrize(
        "params", [{"ordering": "qty"}, {"ordering": "-"}, {"category": "nope"}]
    )
    def test_bad_filters(self, api, product, params, assert_problem):
        assert_problem(api.get(URL, params), 400, fields=tuple(params))

    def test_bad_page(self, api, product, assert_problem):
        assert_problem(api.get(URL, {"page": 99}), 404)
        assert_problem(api.get(URL, {"page": "abc"}), 404)

    def test_hidden_is_404_for_public_but_visible_to_staff(
        self, api, staff_api, make_product, assert_problem
    ):
        hidden = make_product(status="H", sku="HID-1")
        assert_problem(api.get(f"{URL}{hidden.pk}/"), 404)
        assert_problem(api.get(f"{URL}sku/hid-1/"), 404)
        assert staff_api.get(f"{URL}{hidden.pk}/").json()["status"] == "H"
        assert staff_api.get(f"{URL}sku/hid-1/").status_code == 200

    def test_unknown(self, api, db, assert_problem):
        assert_problem(api.get(f"{URL}999999/"), 404)
        assert_problem(api.get(f"{URL}99999999999999/"), 404)
        assert_problem(api.get(f"{URL}abc/"), 404)
        assert_problem(api.get(f"{URL}sku/NOPE/"), 404)


VALID = {"sku": "new-1", "name": "New", "price": "4.20", "currency": "EUR"}


@pytest.mark.django_db
class TestWrite:
    def test_create(self, staff_api, categories):
        response = staff_api.post(
            URL,
            {
                **VALID,
                "category": categories["mugs"].pk,
                "attributes": {"color": "blue"},
                "stock": 3,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["sku"], body["stock"], body["attributes"]) == ("NEW-1", 3, {"color": "blue"})
        assert response["Location"] == f"/api/products/{body['id']}/"
        assert Product.objects.get(pk=body["id"]).attrs == "color=blue"

    def test_anonymous_is_401_customer_is_403(self, api, customer_api, product, assert_problem):
        assert_problem(api.post(URL, VALID, format="json"), 401)
        assert_problem(customer_api.post(URL, VALID, format="json"), 403)
        assert_problem(api.patch(f"{URL}{product.pk}/", {"name": "x"}, format="json"), 401)
        assert_problem(customer_api.delete(f"{URL}{product.pk}/"), 403)

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"price": "-1"}, "price"),
            ({"price": "abc"}, "price"),
            ({"price": "1.999"}, "price"),
            ({"currency": "XXX"}, "currency"),
            ({"currency": 5}, "currency"),
            ({"sku": ""}, "sku"),
            ({"name": ""}, "name"),
            ({"status": "Q"}, "status"),
            ({"category": 999999}, "category"),
            ({"category": "mugs"}, "category"),
            ({"attributes": {"a": "x;y"}}, "attributes"),
            ({"attributes": ["x"]}, "attributes"),
            ({"weight_grams": -1}, "weight_grams"),
            ({"stock": -1}, "stock"),
            ({"stock": "many"}, "stock"),
        ],
    )
    def test_validation(self, staff_api, db, payload, field, assert_problem):
        assert_problem(
            staff_api.post(URL, {**VALID, **payload}, format="json"), 400, fields=(field,)
        )
        assert not Product.objects.exists()

    def test_missing_fields(self, staff_api, db, assert_problem):
        body = assert_problem(
            staff_api.post(URL, {}, format="json"), 400, fields=("sku", "name", "price")
        )
        assert body["type"].endswith("/validation-error")

    def test_duplicate_sku_is_409(self, staff_api, product, assert_problem):
        body = assert_problem(
            staff_api.post(URL, {**VALID, "sku": " mug-red"}, format="json"), 409, fields=("sku",)
        )
        assert body["type"].endswith("/duplicate-sku")

    def test_patch(self, staff_api, product):
        response = staff_api.patch(
            f"{URL}{product.pk}/", {"price": "9.99", "stock": 2}, format="json"
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["price"], body["stock"], body["name"]) == ("9.99", 2, "Red Mug")

    def test_patch_nothing(self, staff_api, product, assert_problem):
        assert_problem(staff_api.patch(f"{URL}{product.pk}/", {}, format="json"), 400)

    def test_patch_duplicate(self, staff_api, product, make_product, assert_problem):
        other = make_product(sku="OTHER-1")
        assert_problem(
            staff_api.patch(f"{URL}{other.pk}/", {"sku": "mug-red"}, format="json"),
            409,
            fields=("sku",),
        )

    def test_put_replaces(self, staff_api, product):
        response = staff_api.put(f"{URL}{product.pk}/", {**VALID, "sku": "MUG-RED"}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["name"], body["category"], body["attributes"], body["stock"]) == (
            "New",
            None,
            {},
            7,
        )

    def test_put_needs_all_required(self, staff_api, product, assert_problem):
        assert_problem(
            staff_api.put(f"{URL}{product.pk}/", {"name": "x"}, format="json"),
            400,
            fields=("sku", "price"),
        )

    def test_put_round_trips_output(self, staff_api, product):
        body = staff_api.get(f"{URL}{product.pk}/").json()
        response = staff_api.put(f"{URL}{product.pk}/", body, format="json")
        assert response.status_code == 200, response.content
        again = response.json()
        assert {k: v for k, v in again.items() if k != "updated"} == {
            k: v for k, v in body.items() if k != "updated"
        }

    def test_delete_is_soft(self, staff_api, api, product, assert_problem):
        response = staff_api.delete(f"{URL}{product.pk}/")
        assert response.status_code == 204
        assert Product.objects.get(pk=product.pk).st == "D"
        assert_problem(api.get(f"{URL}{product.pk}/"), 404)

    def test_write_unknown(self, staff_api, db, assert_problem):
        assert_problem(staff_api.patch(f"{URL}424242/", {"name": "x"}, format="json"), 404)
        assert_problem(staff_api.delete(f"{URL}424242/"), 404)
