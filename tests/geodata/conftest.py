"""Fixtures of the import tests."""

import pytest
from importing_helpers import district_points


@pytest.fixture
def db(scratch_base_url):
    return scratch_base_url


@pytest.fixture(scope="module")
def pts(base_url):
    """Three points inside each district, by district code (the same in every copy)."""
    return district_points(base_url)
