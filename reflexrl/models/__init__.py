"""Models: `provider:model` specs turned into chat models (hosted, scripted fakes, the embedded
llama.cpp model under `local/`), and the call policy every model call goes through (retry,
rate limits, budget, response cache).

Imports the leaves, `files`, `safety`, `envs` (the suite a fake reads its answer key from,
the episode a call's usage counts in, the request being handled) and `prompt` (the block a
local model is shown); `rewards` is below it and allowed. Never `memory`, `loop`, `agent` or
anything above them: the loops take a model, a model knows no store.
"""
