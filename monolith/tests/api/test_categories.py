import pytest


@pytest.mark.django_db
def test_flat_list_with_paths(api, categories):
    body = api.get("/api/categories/").json()
    assert body[:3] == [
        {
            "id": categories["kitchen"].pk,
            "name": "Kitchen",
            "slug": "kitchen",
            "parent": None,
            "path": "Kitchen",
        },
        {
            "id": categories["cups"].pk,
            "name": "Cups",
            "slug": "cups",
            "parent": categories["kitchen"].pk,
            "path": "Kitchen / Cups",
        },
        {
            "id": categories["mugs"].pk,
            "name": "Mugs",
            "slug": "mugs",
            "parent": categories["cups"].pk,
            "path": "Kitchen / Cups / Mugs",
        },
    ]
    assert len(body) == 4


@pytest.mark.django_db
def test_detail(api, categories, assert_problem):
    body = api.get("/api/categories/cups/").json()
    assert body["path"] == "Kitchen / Cups"
    assert [c["slug"] for c in body["children"]] == ["mugs"]
    assert_problem(api.get("/api/categories/nope/"), 404)
