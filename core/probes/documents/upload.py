"""An uploaded document read into text, or refused with a sentence (empty, binary, too large, unknown type).

Only the bytes the browser sent are read; nothing is read from a path on the server. ``.txt`` and
``.md`` are read as UTF-8 (a byte-order mark is dropped). ``.pdf`` and ``.docx`` are read when
pypdf / python-docx are installed (they are not WhyLM dependencies); a PDF without a text layer
(a scan) is refused with a sentence.
"""

from __future__ import annotations

import importlib.util
import io

from core.errors import WhyLMError

MAX_UPLOAD_BYTES = 5 * 2**20
"""The largest upload read (5 MiB): far more text than any model's context holds."""
TEXT_TYPES = (".txt", ".md")


def readable_types() -> tuple[str, ...]:
    """The file endings this installation reads (.pdf and .docx only with their libraries installed)."""
    extra = []
    if importlib.util.find_spec("pypdf") is not None:
        extra.append(".pdf")
    if importlib.util.find_spec("docx") is not None:
        extra.append(".docx")
    return TEXT_TYPES + tuple(extra)


def _looks_binary(data: bytes) -> bool:
    """Whether bytes are not text: a NUL byte, or many control characters in the first 8 KiB."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls > len(head) // 20


def _pdf_text(data: bytes) -> str:
    import pypdf  # noqa: PLC0415 - optional: read only when installed

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except Exception as exc:  # noqa: BLE001 - any damaged PDF becomes a sentence
        raise WhyLMError(
            f"This PDF cannot be read ({type(exc).__name__}); save it as text and upload that."
        ) from None


def _docx_text(data: bytes) -> str:
    import docx  # noqa: PLC0415 - optional: read only when installed

    try:
        return "\n\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    except Exception as exc:  # noqa: BLE001 - any damaged file becomes a sentence
        raise WhyLMError(f"This Word file cannot be read ({type(exc).__name__}); save it as text.") from None


def read_upload(name: str, data: bytes) -> str:
    """The text of an uploaded file.

    Raises:
        WhyLMError: the file is empty, over ``MAX_UPLOAD_BYTES``, binary, of a type not read here, not
            UTF-8, or a PDF without text (each a sentence saying what to do).
    """
    ending = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ending not in readable_types():
        raise WhyLMError(
            f"WhyLM reads {', '.join(readable_types())} files; save the document as text (.txt) and upload that."
        )
    if not data:
        raise WhyLMError("The file is empty; upload a document with text in it.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise WhyLMError(
            f"The file is {len(data) / 2**20:,.1f} MiB, over the {MAX_UPLOAD_BYTES // 2**20} MiB read here; "
            "upload the part of the document you ask about."
        )
    if ending == ".pdf":
        text = _pdf_text(data)
        if not text.strip():
            raise WhyLMError("This PDF has no text layer (a scan?); run it through OCR or paste its text.")
        return text
    if ending == ".docx":
        text = _docx_text(data)
    else:
        if _looks_binary(data):
            raise WhyLMError("The file is not text (it holds binary data); upload a .txt or .md file.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise WhyLMError(
                f"The file is not UTF-8 text (byte {exc.start:,} cannot be read); save it as UTF-8 and upload it again."
            ) from None
    if not text.strip():
        raise WhyLMError("The file holds no text; upload a document with sentences in it.")
    return text
