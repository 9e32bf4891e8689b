"""Consumer pact fixtures: one ``Pact`` per test (pitfall A), merged per module into a
scratch folder; the module's pact file replaces the committed one only when every test
of the module ran and passed, so a partial run (``-k``) never truncates a contract and
a renamed interaction never lingers (the file is rebuilt from nothing each run)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from contracts.paths import PACTS_DIR
from pact import Pact


class PactFactory:
    def __init__(self, out: Path, consumer: str, provider: str) -> None:
        self.out = out
        self.consumer = consumer
        self.provider = provider
        self.file = out / f"{consumer}-{provider}.json"

    def new(self) -> Pact:
        return Pact(self.consumer, self.provider).with_specification("V4")

    def write(self, pact: Pact) -> None:
        pact.write_file(self.out, overwrite=False)


@pytest.fixture(scope="module")
def pact_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PactFactory]:
    module = request.module
    consumer, provider = module.CONSUMER, module.PROVIDER
    factory = PactFactory(tmp_path_factory.mktemp("pacts"), consumer, provider)
    failed_before = request.session.testsfailed
    yield factory
    defined = {name for name in dir(module) if name.startswith("test_")}
    selected = {
        item.name for item in request.session.items if getattr(item, "module", None) is module
    }
    complete = defined <= selected and request.session.testsfailed == failed_before
    if complete and factory.file.exists():
        PACTS_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(factory.file, PACTS_DIR / factory.file.name)


@pytest.fixture
def pact(pact_factory: PactFactory) -> Iterator[Pact]:
    pact = pact_factory.new()
    yield pact
    pact_factory.write(pact)
