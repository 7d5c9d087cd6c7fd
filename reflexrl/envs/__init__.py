"""Environments: suites (queries, prompts, tools, the answer key), the clarification tool,
simulated users, epsilon resets, the per-episode context, and reading an episode out of an
agent's messages.

Imports the leaves, `memory` (the episode context holds the memory snapshot an episode reads)
and `rewards` (the answer key); `files` and `safety` are below it and allowed. Never
`prompt`, `models`, `loop` or anything above them.
"""
