""" "Try it against the mock": every documented status has steps, and the steps do what they say
on the real app (the one `layers-mock` serves), on both backends and edges."""

from __future__ import annotations

import httpx
import jsonschema
import pytest

from contract import CONTRACT
from docs_gen.try_it import WAYS, MockDocs, load_control_spec, recipes

RECIPES = recipes(CONTRACT)


def test_ways_name_exactly_the_documented_codes():
    assert set(WAYS) == {None} | set(CONTRACT.codes)


def test_every_documented_status_has_a_recipe():
    assert [r.status for r in RECIPES] == CONTRACT.documented_statuses
    for r in RECIPES:
        assert r.ways, r.status
        assert r.ways[0].steps[-1].expect == r.status or any(s.expect == r.status for w in r.ways for s in w.steps)


def test_control_bodies_are_checked_against_control_yaml(default_world):
    m = MockDocs(CONTRACT, default_world, load_control_spec())
    with pytest.raises(jsonschema.ValidationError):
        m.control_call("set_budget", {"remaining": -1}, keyId="key_x")


def _send(client: httpx.Client, step) -> httpx.Response:
    return client.request(step.method, step.path, headers=step.headers, json=step.body)


@pytest.mark.parametrize("recipe", RECIPES, ids=[str(r.status) for r in RECIPES])
def test_documented_steps_answer_as_documented(recipe, control, mock):
    """Run every step of every way in order; each answers the status the page says it does."""
    with mock.client() as client:
        if recipe.test_step is not None:
            r = _send(client, recipe.test_step)
            assert r.status_code == recipe.status, r.text
        for way in recipe.ways:
            for step in way.steps:
                r = _send(client, step)
                assert r.status_code == step.expect, f"{way.title} / {step.say}: {r.status_code} {r.text}"
            last = way.steps[-1]
            if recipe.code is not None and last.expect == recipe.status:
                assert r.json()["error"]["code"] == recipe.code
        control.reset()  # leave the session's mock as the next test expects it
