"""Judge0's encodings: base64 as Ruby's Base64.encode64 writes it, lenient decoding, and the
additional_files zip, unpacked here (in the ingress) with limits, into contract.SourceFile.
"""

from __future__ import annotations

import base64
import binascii
import io
import zipfile

from eventing import contract

# Ruby's pack("m"): 45 input bytes per line, i.e. 60 characters, each line ending in "\n".
_LINE_BYTES = 45


class EncodingProblem(ValueError):
    """A field that does not decode (answered as 422 naming the field)."""


def encode64(text: str) -> str:
    """Base64 with a newline after every 60 characters and at the end, as Judge0 answers."""
    data = text.encode()
    return "".join(
        base64.b64encode(data[i : i + _LINE_BYTES]).decode() + "\n"
        for i in range(0, len(data), _LINE_BYTES)
    )


def decode64(value: str) -> bytes:
    """Decode base64 as Ruby's decode64 does: characters outside the alphabet are skipped,
    missing padding is tolerated."""
    cleaned = "".join(c for c in value if c.isalnum() or c in "+/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except (binascii.Error, ValueError) as exc:
        raise EncodingProblem(f"is not valid base64: {exc}") from None


def decode_text(value: str) -> str:
    """A base64 field that must hold UTF-8 text (source, stdin, expected output)."""
    try:
        return decode64(value).decode()
    except UnicodeDecodeError:
        raise EncodingProblem("must decode to UTF-8 text") from None


def unzip(value: str, max_bytes: int, max_files: int) -> list[contract.SourceFile]:
    """additional_files: a base64 zip, unpacked into files (base64-encoded, so any bytes).

    Refused: more than `max_files` entries, more than `max_bytes` once inflated (declared
    sizes are checked first, then every read is capped, so a lying header does not help a
    bomb), and paths that leave the box (absolute, `..`) or that the contract refuses.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(decode64(value)))
    except zipfile.BadZipFile:
        raise EncodingProblem("is not a zip archive") from None
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) > max_files:
        raise EncodingProblem(f"has more than {max_files} files")
    if sum(info.file_size for info in entries) > max_bytes:
        raise EncodingProblem(f"extracts to more than {max_bytes // 1024} KB")
    files: list[contract.SourceFile] = []
    left = max_bytes
    for info in entries:
        name = info.filename
        if name.startswith("/") or ".." in name.split("/"):
            raise EncodingProblem(f"has a path outside the box: {name!r}")
        try:
            with archive.open(info) as member:
                data = member.read(left + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            raise EncodingProblem(f"cannot be extracted: {exc}") from None
        if len(data) > left:
            raise EncodingProblem(f"extracts to more than {max_bytes // 1024} KB")
        left -= len(data)
        try:
            files.append(
                contract.SourceFile(
                    name=name.removeprefix("./"),
                    content=base64.b64encode(data).decode(),
                    encoding="base64",
                )
            )
        except ValueError:
            raise EncodingProblem(f"has a file name Sentinel refuses: {name!r}") from None
    return files
