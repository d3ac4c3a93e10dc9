"""`detect CLIP --html REPORT.html`: a self-contained page that headless chromium renders.

The screenshot is kept in ``test-artifacts/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

DETECT = str(Path(sys.executable).parent / "detect")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def html_report(generated_clip, tmp_path_factory):  # type: ignore[no-untyped-def]
    work = tmp_path_factory.mktemp("html")
    page = work / "report.html"
    env = {**os.environ, "LIKENESS_DATA_DIR": str(work / "var")}
    done = subprocess.run([DETECT, str(generated_clip), "--json", "--html", str(page)], capture_output=True,
                          text=True, env=env, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return page, json.loads(done.stdout)


def test_the_page_is_self_contained(html_report):
    page, report = html_report
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>")
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, flags=re.I)
    assert text.count("data:image/png;base64,") >= 1  # the score plot
    assert text.count("data:image/jpeg;base64,") >= 2  # frames that drove the score, and their face crops
    for section in ('id="provenance"', 'id="watermark"', 'id="classifier"', 'id="video"'):
        assert section in text
    assert text.index('id="provenance"') < text.index('id="watermark"') < text.index('id="classifier"')
    assert report["classifier"]["model"]["sha256"] in text
    assert report["verdict"].upper().replace("-", " ") in text
    # The evidence behind the score is shown, with the values the JSON holds: the CNN's logit, and the
    # frozen-texture cue when the card combines it (otherwise the page says the model does not use it).
    assert report["classifier"]["cnn_logit"] is not None and str(report["classifier"]["cnn_logit"]) in text
    assert "frozen-texture cue" in text
    if report["classifier"]["model"]["combined"]:
        assert report["classifier"]["frozen_texture"] is not None
        assert str(report["classifier"]["frozen_texture"]) in text
    else:
        assert report["classifier"]["frozen_texture"] is None and "not used by this model" in text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_chromium_renders_the_report(html_report):
    sync_api = pytest.importorskip("playwright.sync_api")
    page_path, report = html_report
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "detect-report.png"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            assert page.inner_text("#verdict").strip() == report["verdict"].upper().replace("-", " ")
            loaded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
            assert loaded and all(loaded)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 900 and image.shape[1] >= 1000
    assert shot.stat().st_size > 50_000
    assert float(image.std()) > 20  # not a blank page: text, plot and thumbnails
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 500
