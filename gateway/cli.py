"""The command-line interfaces: ``likeness`` for operators and ``detect`` for analysts.

Results go to stdout, logs and progress to stderr. One place (:func:`_run`) turns a
:class:`~likeness.errors.LikenessError` into a one-line message and its exit code.

    $ likeness keys init
    $ likeness selftest
    $ detect var/outputs/selftest-gen_….mp4 --json
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, TypeVar

import click
import typer
from rich.console import Console

from gateway.audit_cli import audit_app
from gateway.consents_cli import consents_app
from gateway.generator_cli import generator_app
from gateway.partners_cli import register as register_partner_commands
from gateway.serve_cli import register as register_serve_commands
from likeness import LikenessError, __version__

if TYPE_CHECKING:
    from detector import Classifier, DetectionReport
    from gateway.settings import Settings

_T = TypeVar("_T")

app = typer.Typer(
    name="likeness", help="Likeness: responsible release of talking-face video.", no_args_is_help=True,
    add_completion=False, pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="The signing identity and watermark key.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(consents_app, name="consents")
app.add_typer(generator_app, name="generator")  # likeness generator prepare
register_partner_commands(app)  # likeness partners …, likeness admin …
register_serve_commands(app)  # likeness serve, likeness worker

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # one-line errors stay one line


def _settings():  # imported lazily so `detect --help` stays fast
    from gateway.settings import get_settings

    return get_settings()


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, help="More log output on stderr.")] = 0,
) -> None:
    _configure_logging(verbose)


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


@keys_app.command("init")
def keys_init() -> None:
    """Create the development PKI, watermark key and consent keys under <data dir>/keys (only what is absent)."""
    from audit import init_audit_key
    from consent import init_consent_keys
    from gateway.runtime import secure_data_dir_of
    from provenance import init_identity

    settings = _settings()
    if settings.environment == "production":
        raise LikenessError("`keys init` makes development keys; production brings its own certificate chain")
    secure_data_dir_of(settings)  # 0700, and an existing data dir open to others is tightened (with a warning)
    paths = init_identity(settings.keys_dir)
    init_consent_keys(settings.keys_dir)
    init_audit_key(settings.resolved_audit_signing_key_file)
    out.print(str(paths.root_cert.resolve()))


@keys_app.command("show")
def keys_show() -> None:
    """Describe the signing identity (never prints key material)."""
    from gateway.deps import provenance_identity
    from provenance import describe_certificate, key_id

    settings = _settings()
    identity = provenance_identity(settings)
    info = describe_certificate(identity.signer.certificate_chain_pem)
    info["watermark_key_id"] = key_id(identity.watermark_key)
    info["development"] = identity.is_development
    out.print_json(json.dumps(info, default=str))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    from gateway.deps import open_engine

    open_engine(_settings(), migrate=True)
    out.print("database at head")


@app.command()
def selftest(
    out_path: Annotated[Path | None, typer.Option("--out", help="Where to write the clip.")] = None,
    seconds: Annotated[float, typer.Option(min=1.0, max=60.0, help="Clip length.")] = 10.0,
) -> None:
    """Release a synthetic test clip through the release path, then run `detect` on it.

    Checks the whole provenance stack on this machine: keys, watermark, encode, C2PA, repository.
    """
    from gateway.selftest import run_selftest

    settings = _settings()
    report, released = run_selftest(settings, out=out_path, seconds=seconds, console=err)
    out.print(str(released.path))
    _print_report(report)
    if report.verdict != "generated-by-likeness":
        raise LikenessError(f"self-test failed: detect says {report.verdict}")


@app.command()
def demo(
    portrait: Annotated[Path | None, typer.Option(help="Portrait (jpg, png, webp); default: a bundled photo.")] = None,
    audio: Annotated[Path | None, typer.Option(help="Speech (wav, mp3, m4a, flac); default: synthesised.")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Where to write the MP4.")] = None,
    backend: Annotated[str | None, typer.Option(
        help="Generator backend: default or learned; default: LIKENESS_GENERATOR_BACKEND (else default).")] = None,
    transcript: Annotated[str | None, typer.Option(help="What the audio says (better lip-sync).")] = None,
    emotion: Annotated[str, typer.Option(help="neutral, happy, sad, surprised or angry.")] = "neutral",
    gaze: Annotated[str, typer.Option(help="camera or free.")] = "camera",
    intensity: Annotated[float, typer.Option(help="Head and expression motion, 0 to 2.")] = 1.0,
    zoom: Annotated[float, typer.Option(help="Head size in the frame, 0.8 to 1.25.")] = 1.0,
    still_head: Annotated[bool, typer.Option("--still-head", help="No head motion.")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed of the motion (same seed, same motion).")] = None,
    live: Annotated[bool, typer.Option(
        "--live", help="A live session instead: a local server, the speech streamed over a WebSocket in real time, "
        "signed segments back (docs/sessions.md).")] = False,
    segments: Annotated[Path | None, typer.Option("--segments", help="With --live: keep the segments received "
                                                  "in this folder.", file_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Generate a talking-face video on the embedded defaults, marked and signed, then `detect` it.

    With --live, stream it as a partner's client would and print what the client measured (first
    frame, latency p50/p95). The demo consent is self-attested by the operator (the manifest says
    so); refused in production.
    """
    from gateway.demo import run_demo
    from generator import Controls
    from generator.motion import EMOTION_NAMES, GAZES

    for given in (portrait, audio):
        if given is not None and not given.is_file():
            raise LikenessError(f"no such file: {given}")
    settings = _settings()
    if live:
        _demo_live(settings, portrait=portrait, audio=audio, out_path=out_path, segments=segments, as_json=as_json)
        return
    if segments is not None:
        raise LikenessError("--segments needs --live")
    controls = Controls(intensity=intensity, gaze=_choice(gaze, GAZES, what="--gaze"),
                        emotion=_choice(emotion, EMOTION_NAMES, what="--emotion"), zoom=zoom,
                        still_head=still_head, seed=seed)
    report, released = run_demo(settings, portrait=portrait, audio=audio, out=out_path, backend=backend,
                                controls=controls, transcript=transcript, console=err)
    if as_json:
        out.print_json(json.dumps({"output": str(released.path), "generation_id": released.generation_id,
                                   "verdict": report.verdict}))
        return
    out.print(str(released.path))
    _print_report(report)


def _demo_live(settings: Any, *, portrait: Path | None, audio: Path | None, out_path: Path | None,
               segments: Path | None, as_json: bool) -> None:
    from gateway.demo_live import run_live_demo

    with err.status("a local server, a live session streamed in real time, the recording released"):
        result = run_live_demo(settings, portrait=portrait, audio=audio, out=out_path, segments_dir=segments)
    if as_json:
        out.print_json(json.dumps({"output": str(result.output), "generation_id": result.generation_id,
                                   "live": result.live()}))
        return
    out.print(str(result.output))
    measured = result.live()
    out.print(f"generation: {result.generation_id} ({result.status}; {result.segments} signed segments, "
              f"{result.frames} frames, {result.audio_seconds:.2f} s of speech in {result.wall_seconds:.2f} s)")
    out.print(f"first frame: {measured['first_frame_ms']:.0f} ms after the first audio; latency of a frame p50 "
              f"{measured['latency_p50_ms']:.0f} ms, p95 {measured['latency_p95_ms']:.0f} ms")
    if segments is not None:
        out.print(f"segments kept in {segments} (each reads trusted in `likeness detect`)")


# --- faces ----------------------------------------------------------------------------------

faces_app = typer.Typer(help="Faces: identity similarity with the calibrated decision.", no_args_is_help=True)
app.add_typer(faces_app, name="faces")


@faces_app.command("compare")
def faces_compare(
    first: Annotated[Path, typer.Argument(help="The first image (JPEG, PNG or WebP).", dir_okay=False)],
    second: Annotated[Path, typer.Argument(help="The second image.", dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Is the face in FIRST the same person as the face in SECOND? Similarity and the calibrated decision.

    Each image must show exactly one face. Exit 0 when compared (whatever the decision), 2 when an
    image is refused (unreadable, no face, several faces, face too small). The backend comes from
    LIKENESS_IDENTITY_BACKEND (default dlib; docs/identity.md).
    """
    from faces import compare_faces, get_identity_backend
    from media import read_image

    settings = _settings()
    images = []
    for path in (first, second):
        if not path.is_file():
            raise LikenessError(f"no such file: {path}")
        try:
            images.append(read_image(path))
        except LikenessError as exc:
            raise type(exc)(f"{path}: {exc.message}") from None
    backend = get_identity_backend(settings.identity_backend, model_dir=settings.insightface_model_dir,
                                   providers=settings.identity_providers)
    result = compare_faces(images[0], images[1], backend=backend, labels=(str(first), str(second)))
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    out.print(f"same person: {'yes' if result.same_person else 'no'}")
    out.print(f"similarity: {result.similarity:.4f} (threshold {result.threshold:.3f}, "
              f"{result.margin_to_threshold:+.4f})")
    out.print(f"backend: {result.backend} ({result.model_version}), {result.elapsed_ms:.0f} ms")


def _print_report(report: DetectionReport) -> None:
    from detector import render_text

    render_text(report, console=out)


def _choice(value: str, choices: tuple[_T, ...], *, what: str) -> _T:
    """``value`` as one of ``choices`` (typed as the choice), or a one-line error naming them."""
    for choice in choices:
        if value == choice:
            return choice
    raise LikenessError(f"{what} must be one of {', '.join(map(str, choices))}, not {value!r}")


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


class _Command(Protocol):
    """What :func:`_run` needs of a command: typer ≥ 0.26 builds them with its own copy of click."""

    name: str | None

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True) -> Any: ...


def _run(command: _Command, argv: list[str] | None) -> int:
    """Run a click/typer command; usage errors and :class:`LikenessError` become one line and an exit code.

    typer ≥ 0.26 carries its own copy of click, so its exceptions are caught by typer's classes as well
    as click's (a usage error must never print a traceback).
    """
    try:
        command.main(args=argv, prog_name=command.name, standalone_mode=False)
    except (click.exceptions.Exit, typer.Exit) as exc:
        return int(getattr(exc, "exit_code", getattr(exc, "code", 0)) or 0)
    except (click.exceptions.Abort, typer.Abort):
        err.print("aborted")
        return 1
    except (click.ClickException, typer.exceptions.TyperException) as exc:
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {exc}", markup=False)
        return 2
    except LikenessError as exc:
        err.print(f"error: {exc.message}", markup=False)
        return exc.exit_code
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``likeness``."""
    sys.exit(_run(typer.main.get_command(app), argv))


# --- detect ---------------------------------------------------------------------------------

detect_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@detect_app.command()
def detect(
    clip: Annotated[Path, typer.Argument(help="The video to analyse.", dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the report as a self-contained HTML page.",
                                              dir_okay=False, metavar="REPORT.html")] = None,
    max_frames: Annotated[int, typer.Option(min=1, help="Frames to read for the watermark.")] = 250,
    model: Annotated[Path | None, typer.Option("--model", help="Another classifier (its JSON model card), e.g. one "
                                               "made by `likeness detector train`.", dir_okay=False,
                                               metavar="CARD.json")] = None,
    audit: Annotated[bool, typer.Option("--audit", help="Record this run in the audit log (clip hash, verdict, "
                                        "generation id found; never the clip).")] = False,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True)] = 0,
) -> None:
    """Analyse CLIP: C2PA manifest, watermark, manifest recovery, companion classifier.

    Exit 0 when analysed (whatever the verdict), 2 when the clip cannot be read.
    """
    _configure_logging(verbose)
    import threading

    from media import Sandbox

    # the clip is decoded in the media sandbox: start its forkserver while the detector's modules load
    threading.Thread(target=Sandbox().warm_up, name="sandbox-warm-up", daemon=True).start()
    from detector import Classifier, analyse, render_html
    from gateway.deps import existing_repository, verifier_material

    settings = _settings()
    if not clip.exists():
        raise LikenessError(f"no such file: {clip}")
    classifier: Classifier | Literal["default"] = Classifier.load(model) if model is not None else "default"
    anchors, key, notes = verifier_material(settings)
    repository, repo_note = existing_repository(settings)
    if repo_note:
        notes.append(repo_note)
    with _detect_progress(enabled=err.is_terminal) as progress:
        report = analyse(clip, trust_anchors_pem=anchors, watermark_key=key, repository=repository,
                         max_frames=max_frames, progress=progress, classifier=classifier)
    if notes:
        report.notes.extend(notes)
    if audit:
        _audit_detector_run(settings, report)
    if html is not None:
        try:
            html.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            raise LikenessError(f"cannot write {html}: {exc.strerror or exc}") from exc
        err.print(f"HTML report: {html}", markup=False)
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=str))
    else:
        _print_report(report)


def _audit_detector_run(settings: Settings, report: DetectionReport) -> None:
    """A ``detector.run`` entry: what was analysed (by hash) and what was found."""
    import getpass

    from audit import AuditKey, AuditKind, AuditLog
    from gateway.deps import open_engine

    log = AuditLog(open_engine(settings), signing_key=AuditKey.from_file(settings.resolved_audit_signing_key_file))
    found = report.watermark.generation_id or report.c2pa.get("generation_id")
    entry = log.append(AuditKind.DETECTOR_RUN, actor=f"analyst:{getpass.getuser()}", generation_id=found, data={
        "clip_sha256": report.sha256, "verdict": report.verdict, "c2pa_state": report.c2pa.get("state"),
        "watermark_found": bool(report.watermark.found), "classifier_score": report.classifier.score,
        "classifier_verdict": report.classifier.verdict,
        "classifier_model": (report.classifier.model or {}).get("version")})
    err.print(f"recorded in the audit log as entry {entry.index}", markup=False)


@contextlib.contextmanager
def _detect_progress(*, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A transient rich progress bar on stderr fed by ``progress(done, total)``; None when not a terminal."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("decoding frames"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("frames", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# --- likeness detector ----------------------------------------------------------------------

detector_app = typer.Typer(help="The companion classifier of `detect`.", no_args_is_help=True)
app.add_typer(detector_app, name="detector")


@detector_app.command("train")
def detector_train(
    data: Annotated[Path, typer.Option(help="A folder of real talking-face clips.", file_okay=False)] = Path(
        "../shared/data/clips"),
    out_dir: Annotated[Path | None, typer.Option("--out", help="Work folder (default <data dir>/detector).",
                                                 file_okay=False)] = None,
    seconds: Annotated[float, typer.Option(min=1.0, help="Seconds of each clip to use.")] = 12.0,
    steps: Annotated[int, typer.Option(min=1, help="Training steps per model.")] = 250,
    folds: Annotated[int | None, typer.Option(help="Cross-validation folds (0: none; default one per clip).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the twins, augmentations and training.")] = 0,
    stills: Annotated[Path | None, typer.Option(help="Portraits to generate extra synthetic clips from.",
                                                file_okay=False)] = None,
    speech: Annotated[Path | None, typer.Option(help="Speech files for --stills (default: the same folder).",
                                                file_okay=False)] = None,
) -> None:
    """Build the dataset (real clips + generator twins), cross-validate, calibrate, train, export ONNX,
    then fit the combination with the frozen-texture cue out of fold.

    Prints the new model card; use it with `detect CLIP --model CARD.json`.
    """
    from detector.train import TrainConfig, train
    from training.detector import build_dataset, stack_model

    if not data.is_dir():
        raise LikenessError(f"no such folder: {data}")
    work = out_dir or _settings().data_dir / "detector"
    dataset = work / "dataset"
    if not (dataset / "index.json").exists():
        build_dataset(data, out=dataset, seconds=seconds, seed=seed, stills=stills, speech=speech,
                      progress=lambda what: err.print(what))
    else:
        err.print(f"reusing the dataset in {dataset}")
    card = train(dataset, out=work / "model", config=TrainConfig(steps=steps, seed=seed), folds=folds,
                 data_description=f"{data.resolve()} (first {seconds:g} s of each clip) and two generator twins "
                                  "per clip" + (f"; clips generated from the portraits in {stills.resolve()}"
                                                if stills else ""),
                 log=lambda line: err.print(line, markup=False))
    if folds != 0:  # the combination with the frozen-texture cue is fitted out of fold (docs/detector.md)
        card = stack_model(work / "model", data=data, seconds=seconds, seed=seed,
                           progress=lambda what: err.print(what, markup=False))
    out.print(str(card))


@detector_app.command("stack")
def detector_stack(
    model: Annotated[Path, typer.Option(help="The --out/model folder of `likeness detector train`.",
                                        file_okay=False)],
    data: Annotated[Path, typer.Option(help="The real clips the model was trained on.", file_okay=False)],
    seconds: Annotated[float, typer.Option(min=1.0, help="Seconds of each clip to use.")] = 12.0,
    seed: Annotated[int, typer.Option(help="Seed of the twins and the wild variants.")] = 0,
    work: Annotated[Path | None, typer.Option(help="Keep (and reuse) the scored rows here.", file_okay=False)] = None,
    form: Annotated[str, typer.Option(help="tied (equal weight on the standardised cues) or free.")] = "tied",
    cue: Annotated[str, typer.Option(help="always, auto (only if it beats the CNN alone) or never.")] = "always",
) -> None:
    """Fit the combined model (CNN + frozen-texture cue) of a trained model folder out of fold; prints the card."""
    from training.detector import stack_model

    if form not in ("tied", "free") or cue not in ("always", "auto", "never"):
        raise LikenessError("--form is tied or free; --cue is always, auto or never")
    out.print(str(stack_model(model, data=data, seconds=seconds, seed=seed, work=work, form=form, cue=cue,
                              progress=lambda what: err.print(what, markup=False))))


def detect_main(argv: list[str] | None = None) -> None:
    """Entry point of ``detect``."""
    command = typer.main.get_command(detect_app)
    command.name = "detect"
    sys.exit(_run(command, argv))
