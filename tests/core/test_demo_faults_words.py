"""What each demo PACS fault does, in words: the window's status line says the fault in force."""

from __future__ import annotations

import pytest

from qrscope.demo_pacs import FAULTS, configure, describe


@pytest.mark.parametrize("fault", [f for f in FAULTS if not f.startswith("busy")])
def test_a_fault_without_a_parameter_is_told_as_the_menu_tells_it(fault: str) -> None:
    assert describe(fault) == FAULTS[fault]


@pytest.mark.parametrize(("fault", "words"), [
    ("busy", "when more than 2 retrieves run at once"),
    ("busy:1", "when more than 1 retrieve runs at once"),
    ("busy:3", "when more than 3 retrieves run at once"),
    ("busy-at-random", "a share of 0.3 of C-MOVEs"),
    ("busy-at-random:0.5", "a share of 0.5 of C-MOVEs"),
])
def test_a_busy_fault_is_told_with_the_parameter_the_pacs_uses(fault: str, words: str) -> None:
    behaviour, _table = configure(fault, {})
    assert words in describe(fault)
    # The words and the behaviour come from the same number.
    assert str(behaviour.busy_above or behaviour.busy_probability) in describe(fault)


@pytest.mark.parametrize(("fault", "error"), [
    ("no-such-fault", KeyError), ("no-cget:2", ValueError), ("busy:two", ValueError),
    ("busy-at-random:1.5", ValueError)])
def test_describe_refuses_what_configure_refuses(fault: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        configure(fault, {})
    with pytest.raises(error):
        describe(fault)
