"""muzero-lite: a small, fast MuZero-style agent with truncated search and an exploration network."""
__version__ = "0.1.0"
