"""Training and evaluation loops: the run's settings (`config.RunConfig`), the plan, train
with resume, frozen evaluation, metrics and reports.

Takes a runnable: imports the leaves, `files`, `safety`, `memory`, `rewards`, `envs` and
`prompt`; never a model provider (`models`), nor `agent`, `export`, `ui` or `cli`.
"""
