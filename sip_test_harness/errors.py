"""Errors of the test harness: one base class, messages meant to be read by a person."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class SandboxError(HarnessError):
    """The Asterisk sandbox could not be built, started, stopped or reached."""


class SippError(HarnessError):
    """A SIPp process could not be started or did not get ready."""
