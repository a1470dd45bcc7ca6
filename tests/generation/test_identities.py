from hypothesis import given, settings

from conformance.generation import STRATEGIES
from conformance.generation.identities import corsican_nir, hard_identity, wrong_key_nir
from conformance.validation.ins import matricule_problems, trait_name_valid


@settings(max_examples=300, database=None)
@given(wrong_key_nir())
def test_wrong_key_strategy_only_breaks_the_key(matricule):
    assert [p.rule for p in matricule_problems(matricule)] == ["cle"]


@settings(max_examples=100, database=None)
@given(corsican_nir())
def test_corsican_strategy_is_corsican(matricule):
    assert matricule[5:7] in {"2A", "2B"}


@settings(max_examples=300, database=None)
@given(hard_identity())
def test_hard_identities_are_legal_ins_traits(traits):
    assert trait_name_valid(traits["birth_name"])
    assert all(trait_name_valid(n) for n in traits["given_names"].split(" "))
    assert traits["given_names"].split(" ")[0] == traits["first_given_name"]


def test_strategies_are_registered_by_name():
    assert {"hard-identity", "valid-nir", "valid-nia", "wrong-key-nir", "corsican-nir"} <= set(STRATEGIES)
