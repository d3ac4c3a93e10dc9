"""``detect CLIP --html REPORT.html``: the forensic report as one self-contained HTML page.

>>> from detector.html_report import render_html            # doctest: +SKIP
>>> Path("report.html").write_text(render_html(report))     # doctest: +SKIP

Provenance first (C2PA state, signer, generation id, failure codes, hidden boxes), then the
watermark (payload, bit agreement, false-match probability, the manifest recovered by id), then
the companion classifier (calibrated score and band, the per-frame and per-window score plotted
with matplotlib, the frames that drove it beside the aligned face the model saw, the model's
name, version and hash), then the video and the notes; the whole report as JSON at the end.
Everything is inline — styles, the plot and the thumbnails as base64 data — so the page opens
offline, can be attached to a case file, and loads nothing from anywhere (no scripts).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from typing import Any

import cv2
import numpy as np

from detector.report import DetectionReport
from likeness import __version__

_VERDICT_COLOUR = {
    "generated-by-likeness": "#1b7f3b",
    "provenance-conflict": "#b3261e",
    "invalid-manifest": "#b3261e",
    "untrusted-manifest": "#9a6700",
    "likely-synthetic": "#9a6700",
    "no-provenance-found": "#444",
}

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d1f23}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.card{background:#fff;border:1px solid #e2e4e8;border-radius:8px;padding:16px 18px;margin:14px 0}
.verdict{display:inline-block;color:#fff;font-weight:700;padding:6px 12px;border-radius:6px;letter-spacing:.04em}
table{border-collapse:collapse;width:100%}td{padding:3px 8px;vertical-align:top;border-bottom:1px solid #f0f0f0}
td:first-child{color:#555;width:230px;white-space:nowrap}code{font-size:13px;word-break:break-all}
.muted{color:#666}.figs{display:flex;flex-wrap:wrap;gap:12px}.figs figure{margin:0;text-align:center}
.figs img{border:1px solid #ccc;border-radius:4px;display:block}.figs figcaption{font-size:13px;color:#555}
.score{font-size:28px;font-weight:700}pre{background:#f3f3f3;padding:10px;overflow:auto;font-size:12px}
.note{color:#8a5a00}
"""


def _e(value: Any) -> str:
    return html.escape("—" if value is None or value == "" else str(value))


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><td>{_e(k)}</td><td>{v}</td></tr>" for k, v in pairs) + "</table>"


def _png(rgb: np.ndarray) -> str:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode() if ok else ""


def _jpeg(rgb: np.ndarray) -> str:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else ""


def score_plot(report: DetectionReport) -> np.ndarray | None:
    """The per-frame and per-window calibrated scores over time, with the band and threshold (RGB)."""
    cls = report.classifier
    if not cls.frame_scores:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.2, 3.0), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    t = np.array([f["t_s"] for f in cls.frame_scores])
    s = np.array([f["score"] for f in cls.frame_scores])
    axes.scatter(t, s, s=6, color="#8aa4c8", label="frames", zorder=2)
    axes.plot([c["t_s"] for c in cls.curve], [c["score"] for c in cls.curve], "-o", color="#1f4e8c", ms=4,
              label="windows (≈ 1 per second)", zorder=3)
    duration = float(report.video.get("duration_s") or (t.max() if len(t) else 1.0))
    if cls.score is not None:
        axes.axhline(cls.score, color="#b3261e", lw=1.5, label=f"clip score {cls.score:.2f}")
    if cls.band is not None:
        axes.axhspan(cls.band[0], cls.band[1], color="#b3261e", alpha=0.12, label=f"{cls.band_level:.0%} band")
    if cls.threshold is not None:
        axes.axhline(cls.threshold, color="#555", lw=1, ls="--", label=f"likely-synthetic ≥ {cls.threshold:g}")
    axes.set_xlim(0, max(duration, 1e-3))
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("calibrated score")
    axes.grid(alpha=0.3)
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _provenance(report: DetectionReport) -> str:
    c = report.c2pa
    codes = ", ".join(c.get("status_codes") or []) or "none"
    boxes = ", ".join(f"{b['type']} ({b['size']} bytes)" for b in c.get("hidden_boxes") or []) or "none"
    return _rows([
        ("state", f"<b>{_e(c.get('state'))}</b>"),
        ("generation id", f"<code>{_e(c.get('generation_id'))}</code>"),
        ("generator", _e(c.get("claim_generator"))),
        ("signer", _e(c.get("signer"))),
        ("issuer", _e(c.get("signer_issuer"))),
        ("signed at", _e(c.get("signed_at"))),
        ("digital source type", _e(c.get("digital_source_type"))),
        ("failure codes", _e(codes)),
        ("bytes outside the signature", _e(boxes)),
        ("reason", _e(c.get("reason"))),
    ])


def _watermark(report: DetectionReport) -> str:
    w, lookup = report.watermark, report.manifest_lookup
    pairs: list[tuple[str, Any]] = [
        ("found", f"<b>{'yes' if w.found else 'no'}</b>" + ("" if w.checked else " (not checked)")),
        ("generation id", f"<code>{_e(w.generation_id)}</code>"),
        ("code check passed", _e(w.code_check_passed)),
        ("known to the repository", _e(w.known)),
        ("bit agreement", _e(w.bit_agreement)),
        ("false-match probability", _e(f"{w.false_match_probability:.1e}" if w.false_match_probability else None)),
        ("frames read / hypotheses", _e(f"{w.frames_read} / {w.hypotheses}")),
        ("read at scale", _e(w.scale)),
        ("reason", _e(w.reason)),
        ("manifest repository", _e(lookup.repository)),
    ]
    if lookup.found and lookup.record:
        r = lookup.record
        pairs += [("recovered manifest", f"<code>{_e(r.get('manifest_id'))}</code> recorded {_e(r.get('created_at'))}"),
                  ("recorded output sha256", f"<code>{_e(r.get('output_sha256'))}</code>")]
    elif lookup.reason:
        pairs.append(("lookup", _e(lookup.reason)))
    return _rows(pairs)


def _classifier(report: DetectionReport) -> str:
    cls = report.classifier
    model = cls.model or {}
    head = f'<p><span class="score">{_e(f"{cls.score:.2f}" if cls.score is not None else "n/a")}</span> '
    head += f"&nbsp;<b>{_e(cls.verdict)}</b>"
    if cls.band is not None:
        head += f' <span class="muted">({cls.band_level:.0%} band {cls.band[0]:.2f}–{cls.band[1]:.2f})</span>'
    head += "</p>"
    if cls.reason:
        head += f'<p class="muted">{_e(cls.reason)}</p>'
    pairs = [
        ("what the score means", "calibrated probability that the clip was made by this platform's generator; "
                                 "a low score means no traces of it, not that the clip is real"),
        ("windows read / planned", _e(f"{cls.windows} / {cls.windows_planned}")),
        ("frames analysed / with a face", _e(f"{cls.frames_analysed} / {cls.frames_with_face}")),
        ("face size (px between the eyes)", _e(cls.face_px)),
        ("CNN logit (face and mouth crops)", _e(cls.cnn_logit)),
        ("frozen-texture cue (background renewal, log; lower = more frozen, as a still animated by warping)",
         _e(cls.frozen_texture if cls.frozen_texture is not None else
            None if cls.score is None else
            "not used by this model (the CNN alone)" if model and model.get("combined") is False else
            "not measured (no background to read)")),
        ("likely-synthetic threshold", _e(cls.threshold)),
        ("model", _e(f"{model.get('name')} {model.get('version')}" if model else None)),
        ("model sha256", f"<code>{_e(model.get('sha256'))}</code>"),
        ("temperature", _e(model.get("temperature"))),
    ]
    body = head + _rows(pairs)
    plot = score_plot(report)
    if plot is not None:
        body += f'<p><img alt="score over time" src="{_png(plot)}" style="max-width:100%"></p>'
    if cls.drivers:
        body += ("<h3>The frames that drove it</h3><p class='muted'>The windows with the highest scores: "
                 "the middle frame, and the aligned face the model saw there.</p><div class='figs'>")
        for d in cls.drivers:
            images = [cls.thumbnails.get(f"frame:{d['frame']}"), cls.thumbnails.get(f"face:{d['frame']}")]
            tags = "".join(f'<img alt="frame {d["frame"]}" src="{_jpeg(image)}" height="150">'
                           for image in images if image is not None)
            body += (f"<figure><div style='display:flex;gap:4px'>{tags}</div><figcaption>frame {d['frame']} · "
                     f"{d['t_s']:.2f} s · window score {d['score']:.2f}</figcaption></figure>")
        body += "</div>"
    return body


def _glance(report: DetectionReport) -> str:
    """One line per signal, in the order that decides."""
    c, w, cls = report.c2pa, report.watermark, report.classifier
    c2pa = c.get("state", "absent") + (f" · {c['generation_id']}" if c.get("generation_id") else "")
    mark = ("found · " + str(w.generation_id)) if w.found else ("not checked" if not w.checked else "none found")
    score = f"{cls.score:.2f} · " if cls.score is not None else ""
    return _rows([("C2PA manifest", f"<b>{_e(c2pa)}</b>"), ("Watermark", f"<b>{_e(mark)}</b>"),
                  ("Companion classifier", f"<b>{_e(score + cls.verdict)}</b>")])


def render_html(report: DetectionReport) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    colour = _VERDICT_COLOUR.get(report.verdict, "#444")
    v = report.video
    video = _rows([
        ("file", _e(report.file)),
        ("sha256", f"<code>{_e(report.sha256)}</code>"),
        ("size", _e(f"{v.get('width')}×{v.get('height')}, {v.get('fps', 0):.2f} fps, {v.get('frames')} frames, "
                    f"{v.get('duration_s', 0):.2f} s")),
        ("codecs / container", _e(f"{v.get('video_codec')} / {v.get('audio_codec') or 'no audio'} / "
                                  f"{v.get('container')}")),
        ("analysis time", _e(f"{report.elapsed_s:.2f} s")),
    ])
    notes = "".join(f'<p class="note">note: {_e(n)}</p>' for n in report.notes)
    raw = html.escape(json.dumps(report.to_dict(), indent=1, default=str))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>detect: {_e(report.file.rsplit('/', 1)[-1])}</title><style>{_CSS}</style></head>
<body><main>
<h1>Forensic report</h1>
<p class="muted">{_e(report.file)} · analysed {stamp} · Likeness {_e(__version__)}</p>
<div class="card"><span class="verdict" id="verdict" style="background:{colour}">
{_e(report.verdict.upper().replace('-', ' '))}</span>
<p>{_e(report.summary)}</p>{_glance(report)}{notes}</div>
<div class="card" id="provenance"><h2>1. Provenance: C2PA manifest</h2>{_provenance(report)}</div>
<div class="card" id="watermark"><h2>2. Watermark and manifest recovery</h2>{_watermark(report)}</div>
<div class="card" id="classifier"><h2>3. Companion classifier</h2>{_classifier(report)}</div>
<div class="card" id="video"><h2>4. The file</h2>{video}</div>
<div class="card"><details><summary>The report as JSON</summary><pre>{raw}</pre></details></div>
</main></body></html>
"""
