"""Bias studies: item sets (minimal pairs, BBQ-style questions, template rows) scored over whole files and models."""
