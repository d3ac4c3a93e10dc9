"""Reading the portal's uploads: bodies capped while they stream in, photos and recordings checked.

A body whose ``Content-Length`` is over the limit is refused before a byte of it is read; a body
without one (chunked) is counted as it arrives and refused the moment it passes the limit. Photos
are kept in memory only; a statement recording is written to a private temporary folder for the
checks and deleted afterwards, whatever happened.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from faces import (
    Embedding,
    FaceError,
    FaceTooSmallError,
    IdentityBackend,
    LandmarkBackend,
    MultipleFacesError,
    NoFaceError,
    embed_face,
    find_face,
    match,
    require_calibration,
)
from media import Limits, MediaError, MediaTooLargeError, Sandbox, sniff_bytes, sniff_file

FORM_SLACK = 64 * 1024  # multipart boundaries, part headers and the small fields around the files
MAX_PHOTOS = 5
_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}
# Photos and recordings are decoded in a confined child: a decoder crash, a bomb or a hang refuses one upload.
SANDBOX = Sandbox.for_video()


class Refused(Exception):
    """An upload the portal refuses: the HTTP status and a sentence that says what to do."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class _TooLarge(Exception):
    pass


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{max(1, n // 1024)} KB"


def too_large(limit: int) -> Refused:
    return Refused(413, f"The upload is larger than {_size(limit)}, the most this portal accepts. Choose a smaller "
                        "file (a photo from a phone is usually 2–6 MB; a statement recording about 2–10 MB).")


@dataclass
class Form:
    """A parsed form: text fields (every value of each) and uploaded files."""

    fields: dict[str, list[str]]
    files: dict[str, list[UploadFile]]

    def get(self, name: str) -> str:
        values = self.fields.get(name, [])
        return values[0] if values else ""

    async def close(self) -> None:
        for uploads in self.files.values():
            for upload in uploads:
                await upload.close()


async def read_form(request: Request, *, max_bytes: int, max_files: int = 0) -> Form:
    """The request's form (multipart or urlencoded), refused with 413 as soon as it passes ``max_bytes``."""
    limit = max_bytes + FORM_SLACK
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, "The request's length is not a number.")
        if int(declared) > limit:
            raise too_large(max_bytes)
    received = 0

    async def capped() -> AsyncGenerator[bytes, None]:
        nonlocal received
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _TooLarge
            yield chunk

    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            parser = MultiPartParser(request.headers, capped(), max_files=max_files, max_fields=100,
                                     max_part_size=64 * 1024)
            parser.spool_max_size = limit  # uploads stay in memory (they are capped): no photo touches the disk
            data = await parser.parse()
        elif content_type.startswith("application/x-www-form-urlencoded") or not content_type:
            data = await FormParser(request.headers, capped()).parse()
        else:
            raise Refused(415, "This page expects a form submission.")
    except _TooLarge:
        raise too_large(max_bytes) from None
    except MultiPartException as exc:
        raise Refused(400, f"The form could not be read ({exc.message}).") from None
    fields: dict[str, list[str]] = {}
    files: dict[str, list[UploadFile]] = {}
    for name, value in data.multi_items():
        if isinstance(value, UploadFile):
            if value.filename or value.size:  # an empty file input submits a nameless, empty part
                files.setdefault(name, []).append(value)
            else:
                await value.close()
        else:
            fields.setdefault(name, []).append(value)
    return Form(fields, files)


# ------------------------------------------------------------------------------------------- photos


@dataclass
class CheckedPhotos:
    embeddings: list[Embedding]
    evidence: list[dict[str, object]]  # per photo: sha256, face width, model version (hashes and numbers only)


def check_photos(photos: list[bytes], *, identity: IdentityBackend, landmarks: LandmarkBackend | None,
                 max_bytes: int) -> CheckedPhotos:
    """One face per photo, at least 96 px wide, and the same person in every photo; or :class:`Refused`."""
    if not photos:
        raise Refused(422, "Choose at least one photo of your face (or take one with the camera).", field="photos")
    if len(photos) > MAX_PHOTOS:
        raise Refused(422, f"Give at most {MAX_PHOTOS} photos.", field="photos")
    limits = Limits(max_bytes=min(max_bytes, Limits.image().max_bytes), max_pixels=Limits.image().max_pixels,
                    max_side=Limits.image().max_side, max_duration_s=1.0, max_frames=1)
    embeddings, evidence = [], []
    for number, data in enumerate(photos, 1):
        label = f"photo {number}" if len(photos) > 1 else "the photo"
        Label = label[0].upper() + label[1:]
        if not data:
            raise Refused(422, f"{Label} is an empty file: choose it again.", field="photos")
        try:
            kind = sniff_bytes(data[:4096])
        except MediaError as exc:
            raise Refused(415, f"{Label} is not a JPEG, PNG or WebP image ({exc}).", field="photos") from None
        if not kind.is_image:
            raise Refused(415, f"{Label} is not a JPEG, PNG or WebP image: it is {kind.description}.", field="photos")
        try:
            rgb = SANDBOX.read_image(data, limits=limits)
        except MediaTooLargeError as exc:
            raise Refused(413, f"{Label} is too large ({exc}): use a smaller photo.", field="photos") from None
        except MediaError as exc:
            raise Refused(422, f"{Label} could not be read as an image ({exc}): it may be damaged. Choose or take "
                               "it again.", field="photos") from None
        try:
            face = find_face(rgb, backend=landmarks)
        except NoFaceError:
            raise Refused(422, f"We could not find a face in {label}: use a photo of your face, looking at the "
                               "camera, in good light.", field="photos") from None
        except MultipleFacesError as exc:
            count = int(str(exc).split()[0]) if str(exc).split()[0].isdigit() else 2
            raise Refused(422, f"{Label} shows {_NUMBERS.get(count, str(count))} faces: use a photo of you alone.",
                          field="photos") from None
        except FaceTooSmallError as exc:
            raise Refused(422, f"The face in {label} is too small ({exc}): come closer to the camera or crop the "
                               "photo around your face.", field="photos") from None
        except FaceError as exc:
            raise Refused(422, f"{Label} cannot be used: {exc}.", field="photos") from None
        embeddings.append(embed_face(rgb, backend=identity, face=face))
        evidence.append({"sha256": hashlib.sha256(data).hexdigest(), "face_px": round(float(face.width), 1),
                         "model_version": identity.model_version})
    calibration = require_calibration(identity)
    for number in range(2, len(embeddings) + 1):
        result = match(embeddings[number - 1], reference=[embeddings[0]], calibration=calibration)
        if not result.same_person:
            raise Refused(422, f"Photos 1 and {number} do not seem to show the same person (similarity "
                               f"{result.similarity:.3f}, at least {result.threshold:.3f} is needed): use photos of "
                               "you alone.", field="photos")
    return CheckedPhotos(embeddings, evidence)


# ------------------------------------------------------------------------------------------- statement


@contextmanager
def private_file(data_source: UploadFile, *, name: str) -> Iterator[Path]:
    """The upload copied into a 0700 temporary folder; the folder is deleted when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="likeness-statement-"))
    try:
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            data_source.file.seek(0)
            shutil.copyfileobj(data_source.file, out, 1 << 20)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_recording(path: Path, *, max_seconds: float) -> str:
    """A readable video of at most ``max_seconds`` (its sha256), or :class:`Refused` saying what to redo."""
    if path.stat().st_size == 0:
        raise Refused(422, "The statement recording is an empty file: record the statement again.", field="statement")
    try:
        kind = sniff_file(path)
    except MediaError as exc:
        raise Refused(415, f"The statement recording is not a video ({exc}): record it again, or upload a WebM or "
                           "MP4 video.", field="statement") from None
    if not kind.is_video:
        raise Refused(415, f"The statement recording is not a video: it is {kind.description}. Record it again, or "
                           "upload a WebM or MP4 video of you saying the statement.", field="statement")
    try:
        info = SANDBOX.probe_video(path, limits=Limits.statement())
    except MediaTooLargeError as exc:
        raise Refused(413, f"The statement recording is too large ({exc}): record just the statement, at 1080p "
                           "or less.", field="statement") from None
    except MediaError as exc:
        raise Refused(422, f"The statement recording could not be read as a video ({exc}): it may be damaged or cut "
                           "short. Record the statement again.", field="statement") from None
    if info.duration_s > max_seconds:
        raise Refused(413, f"The statement recording is longer than {max_seconds:.0f} s (it lasts "
                           f"{info.duration_s:.0f} s): record just the statement.", field="statement")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
