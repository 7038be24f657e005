"""WhyLM core: attribution for generative language models (no streamlit in here)."""

__version__ = "0.1.0"
