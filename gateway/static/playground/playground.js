// The partner playground (/playground): one live session in the browser (docs/sessions.md).
//
// The session token is read from its field when Start is pressed, handed to the WebSocket as a subprotocol
// ("token." + token) and cleared from the field: it never goes into a URL, a cookie or web storage.
// Speech (the microphone through an AudioWorklet, or a decoded file paced at real time) goes out as 16 kHz mono
// signed 16-bit little-endian PCM in 40 ms messages. Each segment (a JSON "segment" message, then its bytes: a
// self-contained signed fMP4) is hashed with SubtleCrypto and compared with the announced SHA-256, and appended
// in order to a Media Source Extensions SourceBuffer in "sequence" mode. Server data is only ever written with
// textContent. No inline script or style: the page's CSP allows neither.
"use strict";

(() => {
  const PROTOCOL = "likeness.live.v1";
  const RATE = 16000;
  const CHUNK = 640; // samples per message: 40 ms
  const WORKLET = "/playground/static/playground-worklet.js";
  const SESSION_ID = /^gen_[0-9a-f]{16}$/;
  const STREAM_PATH = /^\/v1\/sessions\/gen_[0-9a-f]{16}\/stream$/;
  const ROWS = 50; // segments listed
  const LIVE_EDGE_S = 3; // the player jumps forward when it falls this far behind the newest segment
  const KEEP_S = 30; // media kept behind the playhead

  const CLOSES = {
    1000: "The session closed normally.",
    1001: "The server is shutting down; what was rendered is released.",
    1006: "The connection was lost.",
    1011: "The server failed (internal error); no unmarked frame left it.",
    4400: "The server refused a message from this page (bad message).",
    4403: "What allowed this session no longer holds (consent withdrawn, partner suspended or removed, or " +
      "policy): nothing more is sent and no recording is kept.",
    4408: "The session timed out: no message within the idle timeout, or the page did not read the segments.",
    4413: "A message from this page was too large.",
    4429: "The partner's quota is exhausted.",
  };
  const REFUSED = "The server refused the connection: the token may be wrong, expired (it is valid for about two " +
    "minutes) or already used, the session may no longer be open, or the server may be at capacity. Open a new " +
    "session for a new token.";
  const REASONS = {
    client_ended: "you ended the session",
    ended_by_partner: "the partner's backend ended the session",
    max_length: "the session reached its length limit",
    client_disconnected: "the page went away",
    server_shutdown: "the server is shutting down",
    bad_message: "the server refused a message (bad message)",
    consent_withdrawn: "the person depicted withdrew their consent",
    partner_suspended: "the partner was suspended",
    partner_removed: "the partner was removed",
    policy_denied: "the policy no longer allows this session",
    idle: "no message within the idle timeout",
    client_not_reading: "the page did not read the segments",
    message_too_large: "a message was too large",
    quota_exhausted: "the partner's quota is exhausted",
    internal_error: "the server failed",
  };
  const STATUSES = {
    released: "the recording is a normal generation, at the address below",
    cancelled: "no recording is kept",
    failed: "no recording",
  };

  const $ = (id) => document.getElementById(id);
  let run = null;

  function say(text) {
    $("status").textContent = text;
  }

  function setConnection(text) {
    $("connection").textContent = text;
  }

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = !text;
  }

  function streamURL(text) {
    const value = text.trim();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    if (SESSION_ID.test(value)) return `${scheme}//${location.host}/v1/sessions/${value}/stream`;
    let url;
    try {
      url = new URL(value, location.href);
    } catch (_) {
      throw new Error("The session id is not a gen_… id nor a stream URL.");
    }
    if (!["ws:", "wss:", "http:", "https:"].includes(url.protocol) || !STREAM_PATH.test(url.pathname)) {
      throw new Error("The session id is not a gen_… id (16 hex digits) nor a /v1/sessions/gen_…/stream URL.");
    }
    if (url.host !== location.host) {
      throw new Error(`The playground connects only to the gateway that serves it (${location.host}), ` +
        `not to ${url.host}.`);
    }
    if (url.search || url.hash) throw new Error("The stream URL takes no query: the token goes in its own field.");
    return `${scheme}//${location.host}${url.pathname}`;
  }

  // ------------------------------------------------------------------------------------------------ speech out

  function pcm(samples, start, end) {
    const view = new DataView(new ArrayBuffer(2 * (end - start)));
    for (let i = start; i < end; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(2 * (i - start), Math.round(s * 32767), true);
    }
    return view.buffer;
  }

  function sendSpeech(current, samples, start, end) {
    if (current.ws.readyState !== WebSocket.OPEN || end <= start) return;
    current.ws.send(pcm(samples, start, end));
    current.sentSamples += end - start;
    current.sends.push([current.sentSamples, performance.now()]);
    $("sent").textContent = `${(current.sentSamples / RATE).toFixed(1)} s`;
  }

  class Resampler {
    // linear interpolation from the context's rate to 16 kHz (after a 7 kHz low-pass in the audio graph)
    constructor(rate) {
      this.step = rate / RATE;
      this.pos = 0;
      this.prev = 0;
    }

    push(block) {
      if (this.step === 1) return block;
      const out = [];
      while (this.pos < block.length - 1) {
        const i = Math.floor(this.pos);
        const f = this.pos - i;
        const a = i < 0 ? this.prev : block[i];
        out.push(a + f * (block[i + 1] - a));
        this.pos += this.step;
      }
      this.pos -= block.length;
      this.prev = block[block.length - 1];
      return out;
    }
  }

  async function openMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error("This browser gives no microphone to this page: the microphone needs HTTPS (or localhost). " +
        "Choose an audio file instead.");
    }
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
    let ctx;
    let source;
    try {
      ctx = new AudioContext({ sampleRate: RATE });
      source = ctx.createMediaStreamSource(stream);
    } catch (_) { // a browser that cannot connect a microphone to a 16 kHz context: resample here
      if (ctx) ctx.close();
      ctx = new AudioContext();
      source = ctx.createMediaStreamSource(stream);
    }
    let input = source;
    if (ctx.sampleRate !== RATE) {
      const lowpass = ctx.createBiquadFilter();
      lowpass.type = "lowpass";
      lowpass.frequency.value = 7000;
      source.connect(lowpass);
      input = lowpass;
    }
    const resampler = new Resampler(ctx.sampleRate);
    const capture = { stream, ctx, buffer: new Float32Array(CHUNK), filled: 0 };
    const onBlock = (block) => {
      if (!run || run.capture !== capture || !run.sending) return;
      for (const sample of resampler.push(block)) {
        capture.buffer[capture.filled++] = sample;
        if (capture.filled === CHUNK) {
          sendSpeech(run, capture.buffer, 0, CHUNK);
          capture.filled = 0;
        }
      }
    };
    let node;
    if (ctx.audioWorklet && typeof AudioWorkletNode === "function") {
      await ctx.audioWorklet.addModule(WORKLET);
      node = new AudioWorkletNode(ctx, "playground-tap", { numberOfOutputs: 1, outputChannelCount: [1] });
      node.port.onmessage = (event) => onBlock(event.data);
    } else { // older browsers: the deprecated ScriptProcessorNode
      node = ctx.createScriptProcessor(2048, 1, 1);
      node.onaudioprocess = (event) => onBlock(new Float32Array(event.inputBuffer.getChannelData(0)));
    }
    input.connect(node);
    node.connect(ctx.destination); // silent: the tap writes nothing to its output
    await ctx.resume();
    capture.node = node;
    return capture;
  }

  async function decodeFile(file) {
    // decodeAudioData resamples to the context's rate: a 16 kHz context gives 16 kHz samples
    const decoder = new OfflineAudioContext(1, 1, RATE);
    let buffer;
    try {
      buffer = await decoder.decodeAudioData(await file.arrayBuffer());
    } catch (_) {
      throw new Error(`This browser cannot decode ${file.name} as audio.`);
    }
    const mono = new Float32Array(buffer.length);
    for (let c = 0; c < buffer.numberOfChannels; c++) {
      const channel = buffer.getChannelData(c);
      for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / buffer.numberOfChannels;
    }
    return mono;
  }

  function startFile(current) {
    const samples = current.file;
    current.fileOffset = 0;
    const started = performance.now();
    const tick = () => {
      const due = Math.min(samples.length, Math.floor((performance.now() - started) / 1000 * RATE));
      while (due - current.fileOffset >= CHUNK || (due === samples.length && current.fileOffset < due)) {
        const end = Math.min(current.fileOffset + CHUNK, due);
        sendSpeech(current, samples, current.fileOffset, end);
        current.fileOffset = end;
      }
      if (current.fileOffset >= samples.length) {
        stopFile(current);
        say("The file has been sent. Press End to finish the session (or send text).");
      }
    };
    current.fileTimer = setInterval(tick, 20);
  }

  function stopFile(current) {
    if (current.fileTimer !== undefined) clearInterval(current.fileTimer);
    current.fileTimer = undefined;
  }

  function stopCapture(current) {
    current.sending = false;
    stopFile(current);
    const capture = current.capture;
    if (capture) {
      current.capture = null;
      capture.stream.getTracks().forEach((track) => track.stop());
      capture.ctx.close();
    }
  }

  // ------------------------------------------------------------------------------------------------ video in

  function openMedia(current) {
    const Source = window.MediaSource || window.ManagedMediaSource;
    if (!Source) return;
    const video = $("video");
    video.disableRemotePlayback = true; // ManagedMediaSource needs it
    current.mediaSource = new Source();
    current.mediaOpen = new Promise((resolve) => {
      current.mediaSource.addEventListener("sourceopen", resolve, { once: true });
    });
    current.objectURL = URL.createObjectURL(current.mediaSource);
    video.src = current.objectURL;
    video.muted = current.source === "microphone";
  }

  async function addSourceBuffer(current, mime) {
    const Source = window.MediaSource || window.ManagedMediaSource;
    if (!current.mediaSource || !Source.isTypeSupported(mime)) {
      showError(`This browser cannot play ${mime} with Media Source Extensions: segments are still counted ` +
        "and checked, but not shown.");
      return;
    }
    await current.mediaOpen;
    const buffer = current.mediaSource.addSourceBuffer(mime);
    buffer.mode = "sequence"; // each segment's timestamps start at 0: played one after the other
    buffer.addEventListener("updateend", () => afterAppend(current));
    buffer.addEventListener("error", () => showError("The browser could not decode a segment."));
    current.sourceBuffer = buffer;
    pump(current);
  }

  function pump(current) {
    const buffer = current.sourceBuffer;
    if (!buffer || buffer.updating || current.mediaSource.readyState !== "open") return;
    if (current.appends.length === 0) {
      if (current.closed && !current.endedStream) {
        current.endedStream = true;
        current.mediaSource.endOfStream();
      }
      return;
    }
    try {
      buffer.appendBuffer(current.appends[0]);
      current.appends.shift();
    } catch (error) {
      if (error.name === "QuotaExceededError" && $("video").currentTime > 1) {
        buffer.remove(0, $("video").currentTime - 1); // updateend pumps again
      } else {
        showError(`The browser refused a segment: ${error.message}`);
      }
    }
  }

  function afterAppend(current) {
    const video = $("video");
    const buffered = video.buffered;
    if (buffered.length > 0) {
      const end = buffered.end(buffered.length - 1);
      if (end - video.currentTime > LIVE_EDGE_S) video.currentTime = end - 0.5;
      if (video.paused && !current.played) {
        current.played = true;
        video.play().catch(() => {
          video.muted = true; // autoplay with sound refused: play muted, the controls can unmute
          video.play().catch(() => say("Press play on the video to watch."));
        });
      }
      const start = buffered.start(0);
      if (video.currentTime - start > 2 * KEEP_S && !current.sourceBuffer.updating) {
        current.sourceBuffer.remove(start, video.currentTime - KEEP_S);
        return;
      }
    }
    pump(current);
  }

  // ------------------------------------------------------------------------------------------------ segments

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function provenanceProblems(meta, bytes) {
    const problems = [];
    if (!meta.manifest_id) problems.push("no C2PA manifest id announced");
    if (!meta.sha256) problems.push("no SHA-256 announced");
    if (typeof meta.bytes === "number" && meta.bytes !== bytes.byteLength) {
      problems.push(`${bytes.byteLength} bytes received, ${meta.bytes} announced`);
    }
    if (!window.crypto || !crypto.subtle) {
      problems.push("the bytes could not be hashed (the page needs HTTPS or localhost)");
    } else if (meta.sha256) {
      const digest = hex(await crypto.subtle.digest("SHA-256", bytes));
      if (digest !== String(meta.sha256).toLowerCase()) problems.push("the bytes' SHA-256 differs from the announced one");
    }
    return problems;
  }

  function latencyOf(current, meta, received) {
    if (!current.timelineExact) return null; // text or an interrupt moved the video off the speech sent
    const end = Number(meta.start_s) + Number(meta.duration_s);
    const needed = Math.round(end * RATE);
    const sends = current.sends;
    let lo = 0;
    let hi = sends.length;
    while (lo < hi) { // the first message whose speech reaches the segment's end
      const mid = (lo + hi) >> 1;
      if (sends[mid][0] >= needed) hi = mid; else lo = mid + 1;
    }
    return lo < sends.length ? received - sends[lo][1] : null;
  }

  function median(values) {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function onSegment(current, meta, bytes) {
    const received = performance.now();
    current.segments += 1;
    current.frames += Number(meta.frames) || 0;
    current.appends.push(bytes);
    pump(current);
    const latency = latencyOf(current, meta, received);
    if (latency !== null) current.latencies.push(latency);
    $("segments").textContent = String(current.segments);
    $("frames").textContent = String(current.frames);
    $("latency").textContent = current.latencies.length
      ? `${Math.round(latency ?? current.latencies[current.latencies.length - 1])} ms / ` +
        `${Math.round(median(current.latencies))} ms`
      : current.timelineExact ? "—" : "— (not measurable after text or an interrupt)";
    const row = document.createElement("tr");
    cell(row, String(meta.sequence));
    cell(row, String(meta.frames));
    cell(row, `${Number(meta.start_s).toFixed(2)} s`);
    cell(row, String(bytes.byteLength));
    cell(row, `${Math.round(Number(meta.render_ms) || 0)} ms`);
    cell(row, latency === null ? "—" : `${Math.round(latency)} ms`);
    const state = cell(row, "checking…");
    const rows = $("segment-rows");
    rows.insertBefore(row, rows.firstChild);
    while (rows.children.length > ROWS) rows.removeChild(rows.lastChild);
    provenanceProblems(meta, bytes).then((problems) => {
      if (problems.length === 0) {
        current.verified += 1;
        state.textContent = "signed · watermarked";
        state.className = "ok";
      } else {
        current.unverified += 1;
        state.textContent = `⚠ not verified: ${problems.join("; ")}`;
        state.className = "bad";
        $("provenance-alert").className = "alert warning";
        $("provenance-alert").textContent = `Warning: segment ${meta.sequence} is not verified: ` +
          `${problems.join("; ")}. Do not treat it as a signed, watermarked segment.`;
      }
      const summary = $("provenance");
      if (current.unverified === 0) {
        summary.textContent = `signed · watermarked (${current.verified} of ${current.segments} segments checked)`;
        summary.className = "ok";
      } else {
        summary.textContent = `⚠ ${current.unverified} of ${current.segments} segments not verified`;
        summary.className = "bad";
      }
    });
  }

  // ------------------------------------------------------------------------------------------------ the socket

  function onText(current, data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch (_) {
      showError("The server sent a message this page cannot read.");
      return;
    }
    switch (message.type) {
      case "ready":
        current.ready = message;
        current.sending = true;
        setConnection("streaming");
        say(`Connected: streaming speech from the ${current.source}. Segments of ${message.segment_seconds} s ` +
          `at ${message.fps} frames/s; at most ${message.max_seconds} s of speech; the session ends after ` +
          `${message.idle_timeout_s} s without a message.`);
        if (current.source === "file") {
          if (current.file.length / RATE > message.max_seconds) {
            say(`The file is longer than the session's ${message.max_seconds} s: it ends at the limit.`);
          }
          startFile(current);
        }
        setRunning(true);
        addSourceBuffer(current, message.mime).catch((error) => showError(`The player failed: ${error.message}`));
        break;
      case "segment":
        if (current.pending) showError("The server announced a segment twice without its bytes.");
        current.pending = message;
        break;
      case "error":
        showError(`The server refused: ${message.message} (${message.code}).`);
        break;
      case "ended":
        showEnded(message);
        break;
      case "pong":
        break;
      default:
        break;
    }
  }

  function showEnded(message) {
    $("ended").hidden = false;
    const known = REASONS[message.reason];
    $("ended-reason").textContent = `${known || message.message || message.reason} (${message.reason})`;
    $("ended-status").textContent = message.status;
    $("ended-status").title = STATUSES[message.status] || "";
    $("ended-status").className = message.status === "released" ? "ok" : "bad";
    $("ended-video").textContent = message.video_url
      ? `${message.video_url} (download it with your API key)` : "none";
    $("ended-counts").textContent = `${message.segments} · ${message.frames} · ` +
      `${Number(message.audio_seconds).toFixed(1)} s`;
    $("ended-chain").textContent = message.chain_head || "—";
    say(`The session ended: ${known || message.reason}. Status: ${message.status}` +
      (STATUSES[message.status] ? ` (${STATUSES[message.status]})` : "") + ".");
  }

  function onClose(current, event) {
    current.closed = true;
    stopCapture(current);
    const known = CLOSES[event.code] || `The connection closed (code ${event.code}).`;
    const text = !current.opened ? REFUSED : event.code === 1000 ? known
      : `${known}${event.reason ? ` (${event.reason})` : ""}`;
    setConnection(`closed (${event.code})`);
    if (!current.opened || (event.code !== 1000 && event.code !== 1001)) showError(text);
    if (!$("ended").hidden && event.code === 1000) {
      say(`${$("status").textContent} ${text}`);
    } else {
      say(text);
    }
    setRunning(false);
    pump(current);
  }

  function setRunning(running) {
    $("start").disabled = running;
    $("interrupt").disabled = !running;
    $("end").disabled = !running;
    $("say-text").disabled = !running;
    $("say-send").disabled = !running;
    $("session").disabled = running;
    $("token").disabled = running;
  }

  async function start(event) {
    event.preventDefault();
    showError("");
    if (run && !run.closed) return;
    let url;
    try {
      url = streamURL($("session").value);
    } catch (error) {
      showError(error.message);
      $("session").focus();
      return;
    }
    const token = $("token").value.trim();
    if (!token) {
      showError("Paste the session token.");
      $("token").focus();
      return;
    }
    const source = $("source-file").checked ? "file" : "microphone";
    const current = {
      source, sentSamples: 0, sends: [], segments: 0, frames: 0, latencies: [], verified: 0, unverified: 0,
      appends: [], pending: null, timelineExact: true, sending: false, opened: false, closed: false,
    };
    $("start").disabled = true;
    try { // the microphone or the file first: the token opens the stream once, so nothing may fail after that
      if (source === "file") {
        const file = $("file").files[0];
        if (!file) throw new Error("Choose an audio file.");
        say(`Decoding ${file.name}…`);
        current.file = await decodeFile(file);
      } else {
        say("Asking for the microphone…");
        current.capture = await openMicrophone();
      }
    } catch (error) {
      $("start").disabled = false;
      showError(error.name === "NotAllowedError" ? "The microphone was not allowed." : error.message);
      say("Not connected.");
      return;
    }
    resetView();
    run = current;
    openMedia(current);
    setConnection("connecting");
    say("Connecting…");
    let ws;
    try {
      ws = new WebSocket(url, [PROTOCOL, `token.${token}`]);
    } catch (error) {
      stopCapture(current);
      $("start").disabled = false;
      showError(`The connection could not be opened: ${error.message}`);
      return;
    }
    $("token").value = ""; // spent when the stream opens: nothing keeps it
    current.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      current.opened = true;
      if (ws.protocol !== PROTOCOL) showError(`The server answered with the subprotocol "${ws.protocol}".`);
      setConnection("open, waiting for the session");
    };
    ws.onmessage = (message) => {
      if (typeof message.data === "string") {
        onText(current, message.data);
      } else if (!current.pending) {
        showError("The server sent segment bytes without announcing them.");
      } else {
        const meta = current.pending;
        current.pending = null;
        onSegment(current, meta, message.data);
      }
    };
    ws.onclose = (closeEvent) => onClose(current, closeEvent);
  }

  function resetView() {
    for (const [id, text] of [["sent", "0.0 s"], ["segments", "0"], ["frames", "0"], ["latency", "—"],
      ["provenance", "—"]]) {
      $(id).textContent = text;
      $(id).className = "";
    }
    $("provenance-alert").textContent = "";
    $("provenance-alert").className = "";
    $("segment-rows").textContent = "";
    $("ended").hidden = true;
    if (run && run.objectURL) URL.revokeObjectURL(run.objectURL);
  }

  function send(message) {
    if (run && run.ws && run.ws.readyState === WebSocket.OPEN) run.ws.send(JSON.stringify(message));
  }

  function end() {
    if (!run) return;
    const capture = run.capture;
    if (capture && run.sending && capture.filled > 0) sendSpeech(run, capture.buffer, 0, capture.filled);
    stopCapture(run);
    send({ type: "end" });
    setConnection("ending");
    say("Ending: the rest is rendered, the last segment sent and the recording released…");
    $("interrupt").disabled = true;
    $("end").disabled = true;
    $("say-send").disabled = true;
    $("say-text").disabled = true;
  }

  function interrupt() {
    if (!run) return;
    if (run.source === "file" && run.fileTimer !== undefined) {
      stopFile(run);
      say("Interrupted: the rest of the file is not sent.");
    } else {
      say("Interrupted: the speech not yet rendered is dropped.");
    }
    run.timelineExact = false;
    send({ type: "interrupt" });
  }

  function sayText(event) {
    event.preventDefault();
    const text = $("say-text").value.trim();
    if (!text || !run) return;
    run.timelineExact = false;
    send({ type: "text", text });
    $("say-text").value = "";
    say(`Sent text (${text.length} characters).`);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("connect").addEventListener("submit", start);
    $("say").addEventListener("submit", sayText);
    $("end").addEventListener("click", end);
    $("interrupt").addEventListener("click", interrupt);
    for (const radio of document.querySelectorAll("input[name=source]")) {
      radio.addEventListener("change", () => { $("file").disabled = !$("source-file").checked; });
    }
    $("file").disabled = !$("source-file").checked;
    window.addEventListener("pagehide", () => {
      if (run && run.ws && run.ws.readyState === WebSocket.OPEN) run.ws.close(1000);
    });
  });
})();
