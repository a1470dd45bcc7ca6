import pytest

from conformance.core.registry import Registry


def test_name_collision_raises():
    registry: Registry[int] = Registry("thing")
    registry.add("a", 1)
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        registry.add("a", 2)
    assert list(registry) == ["a"]
