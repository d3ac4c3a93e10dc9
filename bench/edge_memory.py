"""Server memory for an unauthenticated 50 MB upload: the peak resident set of a real ``likeness serve``.

    .venv/bin/python bench/edge_memory.py [--source DIR] [--mb 50]

Starts ``likeness serve --no-jobs`` (default settings: 50 MiB uploads) from ``--source`` (default:
this checkout; give an exported older tree to measure the code before the edge), sends
``POST /v1/generations`` without a key whose body is one multipart file part of ``--mb`` MB over
a raw socket, sending while the server has not answered, and reports the status, how much of the
body went out before the answer, and the server's peak resident set (VmHWM) before and after.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "gateway"))

from edge_factories import MIB, RawClient, likeness_serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None, help="the tree to run the server from")
    parser.add_argument("--mb", type=int, default=50, help="size of the upload, MB (10^6 bytes)")
    parser.add_argument("--shape", choices=["file", "field", "urlencoded"], default="file",
                        help="one multipart file part, one multipart text field, or an urlencoded form")
    args = parser.parse_args()
    content_type = "multipart/form-data; boundary=x"
    if args.shape == "file":
        part = (b'--x\r\nContent-Disposition: form-data; name="portrait"; filename="p.jpg"\r\n'
                b"Content-Type: image/jpeg\r\n\r\n")
        end = b"\r\n--x--\r\n"
    elif args.shape == "field":
        part, end = b'--x\r\nContent-Disposition: form-data; name="transcript"\r\n\r\n', b"\r\n--x--\r\n"
    else:
        part, end, content_type = b"transcript=", b"", "application/x-www-form-urlencoded"
    filler = b"a" * MIB
    size = args.mb * 10**6
    with tempfile.TemporaryDirectory() as folder, likeness_serve(Path(folder) / "var", cwd=args.source) as server:
        with RawClient(server.port) as warm:  # one small refused request first, so the baseline is a warm server
            warm.head("GET", "/v1/me", {})
            warm.response()
        before = server.rss_mib(peak=True)
        started = time.perf_counter()
        with RawClient(server.port, timeout=300) as client:
            client.head("POST", "/v1/generations", {"Content-Type": content_type,
                                                    "Content-Length": str(len(part) + size + len(end))})

            def body():  # type: ignore[no-untyped-def]
                yield part
                for _ in range(size // MIB):
                    yield filler
                yield filler[:size % MIB]
                yield end

            client.send_until_answered(body())
            response = client.response()
        seconds = time.perf_counter() - started
        time.sleep(0.5)
        after = server.rss_mib(peak=True)
    print(f"| {args.source or 'this checkout'} | {args.shape} | {args.mb} MB | {response.status} | "
          f"{client.sent_body / 1e6:.1f} MB | {before:.0f} MiB | {after:.0f} MiB | {after - before:+.0f} MiB | "
          f"{seconds:.2f} s |")


if __name__ == "__main__":
    main()
