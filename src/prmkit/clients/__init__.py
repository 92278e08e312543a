"""Clients of model servers shared by policies and scorers (a layer below both).

- :mod:`prmkit.clients.openai_compat`: OpenAI-compatible HTTP servers.
"""
