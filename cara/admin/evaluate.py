"""The filter measured on an admin's own labelled images, uploaded as one zip (the web form of
`flask filter evaluate`): nothing is stored, no hash is added, no post is made."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from cara.posting import screening

MAX_FILES = 200  # judged in the request: a larger set belongs to the command line
MAX_FILE_BYTES = 20 * 1024 * 1024  # one member, uncompressed (as MAX_UPLOAD_BYTES)
MAX_TOTAL_BYTES = 500 * 1024 * 1024  # all members, uncompressed: no zip bomb
LABELS = "labels.csv"


class EvaluateError(ValueError):
    """The upload cannot be evaluated; the message says why, for the admin."""


def _label_of(name: str) -> str | None:
    top = PurePosixPath(name).parts[0].lower() if PurePosixPath(name).parts else ""
    return top if top in ("ai", "human") else None


def labelled_members(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, str]]:
    """(member, label): from labels.csv at the top of the zip when there is one (names relative
    to it), else every file under a top-level ai/ or human/ folder."""
    files = {i.filename: i for i in archive.infolist() if not i.is_dir()}
    if LABELS in files:
        try:
            text = archive.read(LABELS).decode("utf-8")
            rows = screening.read_labels(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EvaluateError(f"{LABELS}: {exc}") from None
        out = []
        for line, (name, label) in enumerate(rows, start=2):
            if name not in files:
                raise EvaluateError(f"{LABELS} line {line}: the zip has no file {name!r}")
            out.append((files[name], label))
        return out
    out = [(info, label) for name, info in files.items() if (label := _label_of(name))]
    if not out:
        raise EvaluateError(
            "The zip has neither labels.csv nor files in top-level ai/ and human/ folders."
        )
    return sorted(out, key=lambda m: m[0].filename)


def evaluate_zip(stream, classifier=None) -> screening.Evaluation:
    """Judge every labelled image of an uploaded zip (a file object) as an upload would be
    judged now. Raises EvaluateError for a bad or oversized zip."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError):
        raise EvaluateError("That file is not a zip archive.") from None
    with archive:
        members = labelled_members(archive)
        if len(members) > MAX_FILES:
            raise EvaluateError(
                f"The zip has {len(members)} labelled files; the page judges at most "
                f"{MAX_FILES} (use `flask filter evaluate` for more)."
            )
        big = next((i for i, _ in members if i.file_size > MAX_FILE_BYTES), None)
        if big is not None:
            raise EvaluateError(f"{big.filename} is larger than {MAX_FILE_BYTES // 2**20} MB.")
        if sum(i.file_size for i, _ in members) > MAX_TOTAL_BYTES:
            raise EvaluateError(f"The files add up to more than {MAX_TOTAL_BYTES // 2**20} MB.")
        with tempfile.TemporaryDirectory(prefix="cara-evaluate-") as tmp:
            files, shown = [], {}
            for k, (info, label) in enumerate(members):
                # Our own file names: a member's name never becomes a path on this disk.
                path = Path(tmp) / f"{k}{PurePosixPath(info.filename).suffix[:10]}"
                try:
                    path.write_bytes(archive.read(info))
                except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                    raise EvaluateError(f"{info.filename} cannot be read: {exc}") from None
                files.append((path, label))
                shown[str(path)] = info.filename
            result = screening.evaluate(files, classifier)
    # Report the names as they are in the zip, not the temporary ones.
    result.wrong = [(shown[p], label, d, e) for p, label, d, e in result.wrong]
    result.unreadable = [(shown[p], why) for p, why in result.unreadable]
    return result
