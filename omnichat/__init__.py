"""Omnichat: self-hosted live chat and human handoff in one Python process."""

__version__ = "0.1.0"
