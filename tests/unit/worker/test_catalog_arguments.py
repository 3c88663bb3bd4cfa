"""Each catalog entry declares exactly the arguments its worker actor takes."""

from __future__ import annotations

import inspect

import pytest

from switchboard.common.jobs.catalog import CATALOG
from switchboard.worker.actors import ACTORS


def test_every_actor_has_a_catalog_entry_with_declared_arguments() -> None:
    assert set(ACTORS) <= set(CATALOG)
    assert all(CATALOG[name].params is not None for name in ACTORS)


@pytest.mark.parametrize("name", sorted(ACTORS))
def test_the_entry_s_arguments_are_the_actor_s(name: str) -> None:
    spec = CATALOG[name]
    parameters = inspect.signature(ACTORS[name].fn).parameters
    named = {
        p.name: p
        for p in parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD and p.name != "business_id"
    }
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    required = {n for n, p in named.items() if p.default is inspect.Parameter.empty}
    assert set(spec.params or ()) == required
    if takes_any:  # ``**fields``: the entry lists what callers may pass
        assert set(named) <= set(spec.accepts() or ())
    else:
        assert set(named) == set(spec.accepts() or ())
