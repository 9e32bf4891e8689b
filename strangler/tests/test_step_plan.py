"""The step manifests: validation with readable errors, trailer checks, table comparison."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from facade.config import load_config, parse_config
from strangler.steps import (
    PLAN_DIR,
    PlanError,
    differences,
    load_plan,
    matching_step,
    ownership_to_ensure,
    target_document,
    trailer_problems,
)


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    copy = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, copy, ignore=shutil.ignore_patterns("*.md"))
    return copy


def edit(plan: Path, step: str, **changes: object) -> Path:
    path = plan / step / "step.yaml"
    document = yaml.safe_load(path.read_text())
    document.update(changes)
    path.write_text(yaml.safe_dump(document))
    return path


def problems_of(plan: Path) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    return caught.value.problems


def test_the_committed_plan_is_valid_and_in_order() -> None:
    steps = load_plan().steps
    assert [s.number for s in steps] == list(range(7))
    statuses = [s.status for s in steps]
    assert statuses[:5] == ["done"] * 5
    # Done steps come first: nothing is done after a step that is not.
    assert statuses == sorted(statuses, key=lambda status: status != "done")
    step3 = steps[3]
    assert step3.manifest.gates.contracts == ["catalog-products", "catalog-categories"]
    assert step3.manifest.rollback == "step-2-catalog-shadow"


def test_step_3_moves_catalog_reads_only(tmp_path: Path) -> None:
    routes = load_plan().get("3").routes
    assert routes is not None
    reads = {r.id: r for r in routes.routes if r.mode == "canary"}
    assert set(reads) == {"catalog-products", "catalog-categories"}
    for route in reads.values():
        assert route.methods == ["GET", "HEAD"]
        assert route.fallback == "monolith"
        # The facade ramps them to extracted by itself while parity and errors hold.
        assert route.ramp is not None
        assert route.ramp.finish == "extracted"
        assert route.ramp.min_compared > 0
    assert routes.route("catalog-product-writes").mode == "monolith"


def test_a_field_error_names_the_file_the_field_and_the_reason(plan: Path) -> None:
    path = edit(plan, "step-2-catalog-shadow", status="almost", colour="blue")
    found = problems_of(plan)
    assert f"{path}: status: Input should be 'done', 'in-progress' or 'planned'" in found
    assert f"{path}: colour: unknown field" in found


def test_a_bad_gate_is_explained(plan: Path) -> None:
    path = edit(
        plan,
        "step-3-catalog-reads",
        gates={
            "contracts": ["catalog-products", "nope"],
            "parity": {"routes": ["default"], "min_match_rate": 1.5, "min_compared": 10},
        },
    )
    found = problems_of(plan)
    assert f"{path}: gates.parity.min_match_rate: Input should be less than or equal to 1" in found
    edit(
        plan,
        "step-3-catalog-reads",
        gates={
            "contracts": ["catalog-products", "nope"],
            "parity": {"routes": ["default"], "min_match_rate": 0.9, "min_compared": 10},
        },
    )
    found = problems_of(plan)
    assert f"{path}: gates.contracts: no route 'nope' in routes.yaml" in found
    assert (
        f"{path}: gates.contracts: route 'catalog-categories' goes to canary in routes.yaml "
        "without a contract gate; list it"
    ) in found
    assert (
        f"{path}: gates.parity.routes: 'default' is not shadowed at step-2-catalog-shadow, "
        "so no comparison can exist for it"
    ) in found


def test_links_between_steps_are_checked(plan: Path) -> None:
    path = edit(plan, "step-2-catalog-shadow", rollback="step-3-catalog-reads", id="step-2-x")
    found = problems_of(plan)
    assert f"{path}: id: 'step-2-x' differs from its folder 'step-2-catalog-shadow'" in found
    assert f"{path}: rollback: 'step-3-catalog-reads' is not an earlier step" in found
    (plan / "step-1-facade" / "routes.yaml").unlink()
    assert any("routes: routes.yaml does not exist" in p for p in problems_of(plan))


def test_trailer_problems_list_the_offending_steps(plan: Path) -> None:
    edit(plan, "step-5-orders-saga", status="planned")
    edit(plan, "step-6-retire", status="planned")
    loaded = load_plan(plan)
    done = [s.id for s in loaded.steps if s.status == "done"]
    one_each = [(f"{i:x}" * 40, step) for i, step in enumerate(done, start=1)]
    assert trailer_problems(loaded, one_each) == []
    # Steps 0 and 1 are the broken ones below; every other done step has its commit.
    others = [t for t in one_each if t[1] not in ("step-0-monolith", "step-1-facade")]
    found = trailer_problems(
        loaded,
        [
            ("a" * 40, "step-0-monolith"),
            ("c" * 40, "step-0-monolith"),
            ("d" * 40, "step-9-moon"),
            ("e" * 40, "step-5-orders-saga"),
            *others,
        ],
    )
    assert found == [
        "step-5-orders-saga: commit eeeeeeeeeeee says it completes this step, but its "
        "step.yaml says planned (set it to in-progress or done)",
        "step-9-moon: commit dddddddddddd carries Migration-Step: step-9-moon, which no "
        "migrations-plan/*/step.yaml declares",
        "step-0-monolith: step.yaml says done, so exactly one commit must carry "
        "Migration-Step: step-0-monolith; found 2 (aaaaaaaaaaaa, cccccccccccc)",
        "step-1-facade: step.yaml says done, so exactly one commit must carry "
        "Migration-Step: step-1-facade; found 0",
    ]


def test_an_in_progress_step_may_already_have_its_completing_commit(plan: Path) -> None:
    edit(plan, "step-3-catalog-reads", status="in-progress")
    copy = load_plan(plan)
    done = [(f"{i:x}" * 40, s.id) for i, s in enumerate(copy.steps, 1) if s.status == "done"]
    assert trailer_problems(copy, [*done, ("f" * 40, "step-3-catalog-reads")]) == []


def test_upstream_addresses_are_the_deployments_not_the_steps() -> None:
    step1 = PLAN_DIR / "step-1-facade" / "routes.yaml"
    env = {"MONOLITH_URL": "http://monolith:8000", "CATALOG_URL": "http://catalog:8001"}
    live = load_config(step1, env)
    # compose's addresses stay; the file's defaults would point at this machine
    target = target_document(PLAN_DIR / "step-2-catalog-shadow" / "routes.yaml", live, env={})
    assert target.upstreams["monolith"].instances == ["http://monolith:8000"]
    assert differences(live, load_config(step1, env={})) == []
    exact, _, _ = matching_step(load_plan(), target)
    assert exact is not None
    assert exact.id == "step-2-catalog-shadow"


def test_differences_are_said_route_by_route() -> None:
    live = load_config(PLAN_DIR / "step-2-catalog-shadow" / "routes.yaml")
    document = live.model_dump(mode="json")
    document["routes"][0]["mode"] = "canary"
    document["routes"][0]["percent"] = 5
    custom = parse_config(document, env={})
    exact, closest, diff = matching_step(load_plan(), custom)
    assert exact is None
    assert closest is not None
    assert closest.id == "step-2-catalog-shadow"
    assert diff == [
        "route catalog-products: mode is 'canary', step has 'shadow'",
        "route catalog-products: percent is 5.0, step has None",
    ]


@pytest.mark.parametrize(
    ("mode", "percent", "same"),
    [("canary", 50, True), ("extracted", None, True), ("shadow", None, False)],
)
def test_a_ramping_route_is_still_its_step_until_it_rolls_back(
    mode: str, percent: float | None, same: bool
) -> None:
    step3 = load_config(PLAN_DIR / "step-3-catalog-reads" / "routes.yaml", env={})
    document = step3.model_dump(mode="json")
    document["routes"][0].update(mode=mode, percent=percent)  # where the facade's ramp took it
    live = parse_config(document, env={})
    diff = differences(live, step3)
    assert (diff == []) is same, diff


def test_ownership_follows_the_steps_that_name_it() -> None:
    plan = load_plan()
    three, four = plan.get("3"), plan.get("4")
    assert ownership_to_ensure(three, four) == {"catalog": "service"}
    assert ownership_to_ensure(four, three) == {"catalog": "monolith"}
    assert ownership_to_ensure(plan.get("2"), three) == {}  # never touches the databases
