"""The agent side: `ReflexMiddleware` for `create_agent`, `wrap` for any runnable, what both
inject, and the ReAct agent the CLI builds.

Imports everything below it (`memory`, `envs`, `prompt`, `models`, and `loop` for the run
config); never `export`, `ui` or `cli`.
"""
