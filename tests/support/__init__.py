"""Helpers for tests that need more than fixtures: real processes (`cluster`)."""
