"""Lifecycle: the Agent, source supervision, and systemd integration."""

from agent.daemon.agent import Agent

__all__ = ["Agent"]
