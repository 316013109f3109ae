"""The Bot API stand-in as a fixture for every chat test."""

from tests.chat.botapi import botapi

__all__ = ["botapi"]
