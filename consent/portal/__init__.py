"""The consent portal (``/consent``): people register, review, revoke and erase their consent in a browser.

>>> import tempfile; from pathlib import Path
>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> from sqlmodel import SQLModel, create_engine
>>> from sqlalchemy.pool import StaticPool
>>> from consent import ConsentKeys, ConsentService, init_consent_keys
>>> from consent.portal import portal_router
>>> from faces import get_identity_backend
>>> engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
>>> SQLModel.metadata.create_all(engine)             # the app runs the migrations
>>> paths = init_consent_keys(Path(tempfile.mkdtemp()) / "keys")
>>> registry = ConsentService(engine, keys=ConsentKeys.from_files(signing_key_file=paths.signing_key,
...                                                               master_key_file=paths.master_key))
>>> app = FastAPI()
>>> app.include_router(portal_router(registry=registry, engine=engine, identity=get_identity_backend("dlib"),
...                                  max_upload_bytes=50 * 2**20, max_media_seconds=60.0, secure_cookies=False))
>>> page = TestClient(app).get("/consent")
>>> page.status_code, page.headers["x-frame-options"], "Give your consent" in page.text
(200, 'DENY', True)

Registration: start → reference photos (uploaded, or taken with the camera) → scope and duration →
the recorded statement (a fresh passcode naming the scope; recorded in the browser with
MediaRecorder, or uploaded) → review → receipt with the consent id and the management token,
shown once. Management (``/consent/manage``): sign in with the consent id and token, see the
consent, its history and every generation of the likeness, revoke, erase. See docs/consent.md.
"""

from consent.portal._refusal import refusal_page, too_large_message
from consent.portal._web import from_this_site
from consent.portal.routes import EventHook, portal_router

__all__ = ["EventHook", "from_this_site", "portal_router", "refusal_page", "too_large_message"]
