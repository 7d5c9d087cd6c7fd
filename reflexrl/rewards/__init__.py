"""Rewards: where a step's reward comes from. In training, the answer key (a suite's query ->
valid tools mapping, `answer_key.ToolMappingReward`); outside it, reward sources
(`sources`: outcomes, the key as a source) and explicit feedback (`feedback`), which credit
the invocations an agent with `learn=True` logged (`online`).

Imports the leaves, `files`, `safety` and `memory`; nothing above them.
"""
