"""The highlighted prompt: every token escaped, colours follow the attribution's sign."""

from __future__ import annotations

from html.parser import HTMLParser

from core.present.highlight import (
    AGAINST_RGB,
    TOWARD_RGB,
    highlight_html,
    result_highlight_html,
    token_colour,
)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.titles: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        self.tags.append(tag)
        self.titles += [v for k, v in attrs if k == "title"]

    def handle_data(self, data):  # noqa: ANN001
        self.text.append(data)


def _parse(markup: str) -> _Collect:
    parser = _Collect()
    parser.feed(markup)
    return parser


HOSTILE = ["<script>alert(1)</script>", " <img src=x onerror=alert(1)>", ' "quoted" & \'single\'', " plain"]


def test_hostile_tokens_are_text_not_markup() -> None:
    markup = highlight_html(HOSTILE, [[0], [1], [2]], [1.0, -0.5, 0.2], ['<b>label</b>', 'x" onmouseover="y', "ok"])
    parsed = _parse(markup)
    assert set(parsed.tags) <= {"div", "span"}
    assert "".join(parsed.text) == "".join(HOSTILE)
    assert "<script" not in markup and "<img" not in markup
    assert any("<b>label</b>" in t for t in parsed.titles)  # shown literally in the tooltip
    assert 'onmouseover="' not in markup


def test_colour_follows_sign_and_context_is_grey() -> None:
    markup = highlight_html(["a", " b", " c"], [[0], [1]], [2.0, -1.0], ["a", "b"])
    spans = markup.split("<span")[1:]
    assert f"rgba({TOWARD_RGB[0]},{TOWARD_RGB[1]},{TOWARD_RGB[2]}" in spans[0]
    assert f"rgba({AGAINST_RGB[0]},{AGAINST_RGB[1]},{AGAINST_RGB[2]}" in spans[1]
    assert "whylm-context" in spans[2] and "rgba" not in spans[2]


def test_strength_grows_with_size() -> None:
    weak, strong = token_colour(0.1, 1.0), token_colour(0.9, 1.0)
    assert float(weak.rsplit(",", 1)[1].rstrip(")")) < float(strong.rsplit(",", 1)[1].rstrip(")"))
    assert token_colour(0.0, 1.0) == "transparent"


def test_newlines_stay_visible() -> None:
    markup = highlight_html(["line one", "\n", "two"], [[0], [2]], [1.0, 1.0], ["x", "y"])
    assert "\u21b5<br>" in markup


def test_result_view_uses_feature_coverage() -> None:
    result = {
        "prompt_tokens": ["D", "ave", " is", " here"],
        "feature_tokens": [[0, 1], [3]],
        "seq_attr": [1.0, -1.0],
        "features": ["Dave", "here"],
    }
    parsed = _parse(result_highlight_html(result))
    assert parsed.titles == ["Dave: +1.0000", "Dave: +1.0000", "here: -1.0000"]
