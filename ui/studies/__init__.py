"""The Bias studies page's building blocks: the form (items, columns, models) and the result view."""
