"""Matricules (valid, wrong key, Corsica, NIA, test ranges) and identities with hard names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from conformance.core.registry import Registry
from conformance.validation.ins import expected_key

STRATEGIES: Registry[Callable[[], st.SearchStrategy[Any]]] = Registry("strategy")


def strategy(fn: Callable[[], st.SearchStrategy[Any]]) -> Callable[[], st.SearchStrategy[Any]]:
    """Register a strategy factory under its name (dashes for underscores), for scenario steps."""
    return STRATEGIES.add(fn.__name__.replace("_", "-"), fn)


def _body(sex: st.SearchStrategy[str], dept: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda s, y, m, d, c, o: f"{s}{y:02d}{m:02d}{d}{c:03d}{o:03d}",
        sex, st.integers(0, 99), st.one_of(st.integers(1, 12), st.integers(20, 99)), dept,
        st.integers(1, 999), st.integers(1, 999),
    )


_DEPARTMENTS = st.one_of(st.integers(1, 95).map(lambda d: f"{d:02d}").filter(lambda d: d != "20"),
                         st.sampled_from(["2A", "2B", "97", "99"]))


def _with_key(body: str) -> str:
    key = expected_key(body)
    assert key is not None
    return body + key


@strategy
def valid_nir() -> st.SearchStrategy[str]:
    """NIRs with their right key, Corsica and born-abroad (99) included."""
    return _body(st.sampled_from("12"), _DEPARTMENTS).map(_with_key)


@strategy
def corsican_nir() -> st.SearchStrategy[str]:
    """NIRs born in Corsica (2A or 2B), where the key uses 19 and 18."""
    return _body(st.sampled_from("12"), st.sampled_from(["2A", "2B"])).map(_with_key)


@strategy
def valid_nia() -> st.SearchStrategy[str]:
    """NIAs (first digit 7 or 8, UNCERTAIN) with their right key."""
    return _body(st.sampled_from("78"), _DEPARTMENTS).map(_with_key)


@strategy
def wrong_key_nir() -> st.SearchStrategy[str]:
    """NIRs whose key is off by 1 to 96."""
    return st.tuples(valid_nir(), st.integers(1, 96)).map(
        lambda pair: pair[0][:13] + f"{(int(pair[0][13:]) - 1 + pair[1]) % 97 + 1:02d}")


# Hard but legal INS names (UNCERTAIN character rules: upper case A-Z, space, hyphen, apostrophe).
_SYLLABLES = ["MA", "RIE", "LOU", "ISE", "JEAN", "DE", "LA", "FON", "TAI", "NE", "O", "BRI", "EN", "N", "GUY", "Y"]
_WORD = st.lists(st.sampled_from(_SYLLABLES), min_size=1, max_size=4).map("".join)


def _compound(max_parts: int, separators: str) -> st.SearchStrategy[str]:
    return st.tuples(_WORD, st.lists(st.tuples(st.sampled_from(separators), _WORD), max_size=max_parts)).map(
        lambda t: t[0] + "".join(sep + word for sep, word in t[1]))


@strategy
def hard_identity() -> st.SearchStrategy[dict[str, Any]]:
    """Identity traits with compound, apostrophe'd, hyphenated and very long names."""
    given = st.lists(_compound(2, "-'"), min_size=1, max_size=6)
    return st.builds(
        lambda birth, names, y, m, d, sex, cog: {
            "birth_name": birth, "first_given_name": names[0], "given_names": " ".join(names),
            "birth_date": f"{y}-{m:02d}-{d:02d}", "sex": sex, "birth_place_cog": cog,
        },
        _compound(4, " -'"), given, st.integers(1920, 2020), st.integers(1, 12), st.integers(1, 28),
        st.sampled_from("FM"), st.sampled_from(["75056", "2A004", "2B033", "69123", "97411", "99100"]),
    )
