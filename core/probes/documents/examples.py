"""The document probe's worked example: a short self-written document whose answer rests on one sentence."""

from __future__ import annotations

from typing import Any

EXAMPLE: dict[str, Any] = {
    "kind": "documents",
    "title": "Who runs the bakery?",
    "document": (
        "Marrowby sits at the foot of a grey hill. Its houses are built of dark stone, and a river runs along "
        "the eastern edge of the village.\n\n"
        "The bakery on the main street opens at six every morning. The baker, Ilsa Varn, has run it for twenty "
        "years. Her rye bread is known across the valley.\n\n"
        "The village school has forty pupils. It closes in July for the summer, and the teacher lives above the "
        "schoolroom."
    ),
    "question": "Who runs the bakery?",
    "answer": {"text": "Ilsa Varn runs the bakery."},
    "level": "sentence",
    "passes": 32,
}
