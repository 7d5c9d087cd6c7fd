"""Rewards: where a step's reward comes from. Today the answer key (a suite's query -> valid
tools mapping, `answer_key.ToolMappingReward`).

Imports the leaves, `files`, `safety` and `memory`; nothing above them.
"""
