"""Environments: suites (queries, prompts, tools, the answer key), the clarification tool,
simulated users, epsilon resets, the per-episode context, and reading an episode out of an
agent's messages.

Imports the leaves, `files`, `safety`, `memory` (the episode context reads it) and
`rewards`; never `prompt`, `models`, `loop` or anything above them.
"""
