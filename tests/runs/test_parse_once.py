"""One Run parses its spec once: the page's title, estimate and check, the engine and the save share it."""

from __future__ import annotations

import copy

import pytest

import core.engine
import core.kinds
from core.probes.bias.spec import BiasSpec
from core.store import RunRepository
from tests.page_support import main_errors, no_exception, open_page

TIMEOUT = 240

TINY = {
    "kind": "bias",
    "model": "default",
    "chat": False,
    "template": "{name} works as a",
    "sweep": {"slots": ["name"], "groups": {"female": ["Mary", "Linda"], "male": ["John", "James"]}},
    "candidates": [" nurse", " carpenter"],
    "compare": ["female", "male"],
    "bootstrap": 100,
    "permutations": 100,
    "attribution": {"enabled": False},
}


@pytest.fixture()
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every bias spec the parser builds, counted (whatever path called the parser)."""
    made: list[int] = []
    original = BiasSpec.__init__

    def counting(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003 - the dataclass's own
        made.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(BiasSpec, "__init__", counting)
    core.kinds.forget_parsed()
    yield made
    core.kinds.forget_parsed()


def test_the_same_content_is_parsed_once_and_a_parsed_spec_is_handed_down(parses) -> None:
    first = core.kinds.parse(copy.deepcopy(TINY))
    assert core.kinds.parse(copy.deepcopy(TINY)) is first  # same content: the same parse
    assert core.engine.validate(first) is first  # a parsed spec is not parsed again
    assert len(parses) == 1
    changed = core.kinds.parse({**copy.deepcopy(TINY), "seed": 4})
    assert changed is not first and len(parses) == 2


def test_the_parse_follows_the_settings_a_parser_reads(parses, monkeypatch) -> None:
    core.kinds.parse(copy.deepcopy(TINY))
    monkeypatch.setenv("WHYLM_MAX_FORWARD_PASSES", "100000")
    core.kinds.parse(copy.deepcopy(TINY))
    assert len(parses) == 2


def test_a_run_handed_another_model_is_refused(lm) -> None:
    from core.errors import SpecError

    with pytest.raises(SpecError, match="names the model"):
        core.engine.run({**copy.deepcopy(TINY), "model": "someone/other-model"}, lm=lm)


@pytest.mark.slow
def test_one_run_on_the_bias_page_parses_its_spec_at_most_twice(data_dir, lm, loads, parses) -> None:
    at = open_page("pages/bias.py", TIMEOUT)
    at.text_area(key="bi_paste").input("group,name\nfemale,Mary\nfemale,Linda\nmale,John\nmale,James\n").run()
    at.button(key="bi_paste_apply").click().run()
    at.text_area(key="bi_template").input("{name} works as a").run()
    at.text_area(key="bi_candidates").input("nurse\ncarpenter").run()
    at.toggle(key="bi_attr_on").set_value(False).run()
    assert not main_errors(at)
    core.kinds.forget_parsed()  # count from the Run click on, as a fresh page would
    parses.clear()
    at.button(key="bi_run").click().run(timeout=TIMEOUT)
    no_exception(at)
    assert not main_errors(at)
    assert at.session_state["bi_result"]["kind"] == "bias"
    assert [r.status for r in RunRepository().list_runs()] == ["done"]
    assert 1 <= len(parses) <= 2, f"one Run parsed its spec {len(parses)} times"
