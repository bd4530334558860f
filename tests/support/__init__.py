"""Helpers and fakes the test tiers share; test modules import from here, never from each other."""
