"""Human-readable rendering of a detection report (rich), readable at a glance.

Verdict and summary first; then one row each for the C2PA manifest, the watermark, the manifest
repository, the companion classifier (score, band, a per-second sparkline, the frames that
drove it, the model) and the video; then the notes. ``detect CLIP`` prints it; ``--json`` and
``--html`` (:mod:`detector.html_report`) are the other two forms.

>>> from rich.console import Console
>>> from detector import render_text
>>> render_text(report, console=Console())      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from detector.report import DetectionReport

_VERDICT_STYLE = {
    "generated-by-likeness": "bold green",
    "provenance-conflict": "bold red",
    "invalid-manifest": "bold red",
    "untrusted-manifest": "bold yellow",
    "likely-synthetic": "bold yellow",
    "no-provenance-found": "bold",
}
_CLASSIFIER_STYLE = {"likely-synthetic": "bold yellow", "inconclusive": "yellow", "not-detected": "",
                     "undetermined": "dim", "unavailable": "dim"}
_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """Scores in 0–1 as a row of block characters (one per window)."""
    return "".join(_BARS[min(len(_BARS) - 1, max(0, int(v * len(_BARS))))] for v in values)


def classifier_lines(report: DetectionReport) -> Text:
    """The classifier's row: verdict, calibrated score and band, per-second curve, the frames that drove it."""
    cls = report.classifier
    line = Text(cls.verdict, style=_CLASSIFIER_STYLE.get(cls.verdict, ""))
    if cls.score is not None:
        line.append(f"  score {cls.score:.2f}")
        if cls.band is not None and cls.band_level is not None:
            line.append(f" ({cls.band_level:.0%} band {cls.band[0]:.2f}–{cls.band[1]:.2f}")
            line.append(f"; likely-synthetic ≥ {cls.threshold:g})" if cls.threshold is not None else ")")
        line.append(f"  {cls.windows}/{cls.windows_planned} windows, face {cls.face_px:.0f} px between the eyes")
    if cls.reason:
        line.append(f"\n{cls.reason}")
    if cls.curve:
        line.append(f"\nper second  {sparkline([c['score'] for c in cls.curve])}  "
                    f"(0 … {report.video.get('duration_s', 0):.0f} s)")
    if cls.drivers:
        line.append("\ndrove it    " + ", ".join(f"frame {d['frame']} ({d['t_s']:.1f} s, {d['score']:.2f})"
                                                for d in cls.drivers))
    if cls.model:
        line.append(f"\nmodel       {cls.model.get('name')} {cls.model.get('version')} "
                    f"(sha256 {str(cls.model.get('sha256'))[:12]}…)", style="dim")
    return line


def _agent(generator: dict[str, Any]) -> str:
    """``name version`` of a claim generator (ours: ``likeness-generator-<backend>``)."""
    return " ".join(str(part) for part in (generator.get("name"), generator.get("version")) if part)


def render_text(report: DetectionReport, *, console: Console) -> None:
    console.print(Text(f"detect {report.file}", style="dim"))
    verdict = Text(report.verdict.upper().replace("-", " "), style=_VERDICT_STYLE.get(report.verdict, "bold"))
    console.print(Text.assemble("Verdict: ", verdict))
    console.print(Text(report.summary))
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    c2pa = report.c2pa
    c2pa_line = f"{c2pa['state']}"
    if c2pa.get("generation_id"):
        c2pa_line += f"  generation {c2pa['generation_id']}"
    if c2pa.get("signer"):
        c2pa_line += f"  signer {c2pa['signer']}"
    if c2pa.get("digital_source_type"):
        c2pa_line += f"  source {c2pa['digital_source_type'].rsplit('/', 1)[-1]}"
    if c2pa.get("generator"):
        c2pa_line += f"\ngenerator {_agent(c2pa['generator'])}"
    if c2pa.get("status_codes"):
        c2pa_line += f"\nfailure codes: {', '.join(c2pa['status_codes'])}"
    if c2pa.get("reason"):
        c2pa_line += f"\n{c2pa['reason']}"
    table.add_row("C2PA", c2pa_line)
    wm = report.watermark
    if not wm.checked:
        wm_line = f"not checked: {wm.reason}"
    elif wm.found:
        wm_line = (
            f"found  generation {wm.generation_id}  bit agreement {wm.bit_agreement:.3f}  "
            f"false-match probability {wm.false_match_probability:.1e}  frames read {wm.frames_read}"
        )
        if wm.scale and wm.scale != 1.0:
            wm_line += f"\nread after rescaling ×{wm.scale:g} (the clip was resized after release)"
        if wm.known is None:
            wm_line += "\nthe manifest repository could not confirm the id (code check only)"
    else:
        wm_line = (
            f"none  ({wm.reason}; frames read {wm.frames_read}; the chance that a random clip passes "
            f"the check is {wm.false_match_probability:.1e})"
        )
    table.add_row("Watermark", wm_line)
    lookup = report.manifest_lookup
    if lookup.found and lookup.record:
        made_by = f"  generator {_agent(lookup.record['generator'])}" if lookup.record.get("generator") else ""
        table.add_row("Repository", f"manifest {lookup.record['manifest_id']} recorded {lookup.record['created_at']}"
                      + made_by)
    else:
        table.add_row("Repository", f"{lookup.repository}" + (f": {lookup.reason}" if lookup.reason else ""))
    table.add_row("Classifier", classifier_lines(report))
    video = report.video
    table.add_row(
        "Video",
        f"{video['width']}x{video['height']} {video['fps']:.2f} fps, {video['frames']} frames, "
        f"{video['duration_s']:.2f} s, {video['video_codec']}/{video['audio_codec'] or 'no audio'}",
    )
    console.print(table)
    for note in report.notes:
        console.print(Text(f"note: {note}", style="yellow"))


__all__ = ["render_text"]
