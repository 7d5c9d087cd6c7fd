"""Models: `provider:model` specs turned into chat models (hosted, scripted fakes, the embedded
llama.cpp model under `local/`), and the call policy every model call goes through (retry,
rate limits, budget, response cache).

Imports the leaves, `files`, `safety`, `rewards`, `envs` and `prompt`; never `memory`,
`loop` or anything above them.
"""
