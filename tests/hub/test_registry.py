"""The feature registry names real modules, real checks and real config sections."""

from __future__ import annotations

import importlib

import pytest

from agent.config.features import FEATURES, Feature
from agent.config.schema import Config
from tests.architecture.test_imports import LAYERS, layer_of


@pytest.mark.parametrize("row", FEATURES, ids=lambda row: row.name)
def test_a_row_names_a_setup_its_check_and_config_sections(row: Feature) -> None:
    assert callable(importlib.import_module(row.module).setup)
    if row.check is not None:
        module, _, name = row.check.partition(":")
        assert callable(getattr(importlib.import_module(module), name))
    assert set(row.sections) <= set(Config.__struct_fields__)
    # A feature sits above the hub it is given.
    assert layer_of(row.module) > layer_of("agent.hub"), LAYERS[layer_of(row.module)][0]


def test_feature_names_are_unique() -> None:
    names = [row.name for row in FEATURES]
    assert len(names) == len(set(names))
