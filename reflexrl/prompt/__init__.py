"""The prompt: the memory rendered into the agent's system prompt (the static instructions, the
block format, the renderings).

Imports the leaves, `files`, `safety`, `memory`, `rewards` and `envs`; never `models`,
`loop` or anything above them.
"""
