// The consent portal's only script: the start form's proof-of-work, camera photos, in-browser statement
// recording, focus on errors. Past the start, everything works without it by uploading files; it never sends
// anything the forms do not.
"use strict";

(function () {
  const canRecord = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder &&
                       window.DataTransfer);

  function focusError() {
    const error = document.querySelector("[data-focus]");
    if (error) { error.focus(); }
  }

  // Adds a file to an <input type=file>, keeping the files already chosen.
  function addFile(input, file, replace) {
    const files = new DataTransfer();
    if (!replace) { for (const f of input.files) { files.items.add(f); } }
    files.items.add(file);
    input.files = files.files;
  }

  function stopStream(stream) {
    if (stream) { stream.getTracks().forEach((track) => track.stop()); }
  }

  function photoCamera() {
    const box = document.getElementById("photo-camera");
    if (!box || !canRecord) { return; }
    box.hidden = false;
    const input = document.getElementById("photos");
    const preview = document.getElementById("photo-preview");
    const on = document.getElementById("camera-on");
    const take = document.getElementById("take-photo");
    const status = document.getElementById("photo-status");
    const thumbs = document.getElementById("thumbs");
    let stream = null;
    on.addEventListener("click", async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: "user", width: {ideal: 1280}}, audio: false});
      } catch (err) {
        status.textContent = "The camera could not be used (" + err.name + "). You can still choose photos above.";
        return;
      }
      preview.srcObject = stream;
      take.disabled = false;
      on.disabled = true;
      status.textContent = "Camera on. Look at the camera and take a photo.";
    });
    take.addEventListener("click", () => {
      if (!stream || !preview.videoWidth) { return; }
      const canvas = document.createElement("canvas");
      canvas.width = preview.videoWidth;
      canvas.height = preview.videoHeight;
      canvas.getContext("2d").drawImage(preview, 0, 0);
      canvas.toBlob((blob) => {
        const count = input.files.length + 1;
        addFile(input, new File([blob], "camera-" + count + ".jpg", {type: "image/jpeg"}), false);
        const img = document.createElement("img");
        img.src = URL.createObjectURL(blob);
        img.alt = "Photo " + count + " taken with the camera";
        thumbs.appendChild(img);
        status.textContent = count + " photo" + (count === 1 ? "" : "s") + " ready. Take another or press “Use these photos”.";
      }, "image/jpeg", 0.92);
    });
    document.getElementById("photos-form").addEventListener("submit", () => stopStream(stream));
  }

  function statementRecorder() {
    const box = document.getElementById("recorder");
    if (!box || !canRecord) { return; }
    box.hidden = false;
    const maxSeconds = parseInt(box.dataset.maxSeconds || "60", 10);
    const preview = document.getElementById("preview");
    const start = document.getElementById("record-start");
    const stop = document.getElementById("record-stop");
    const status = document.getElementById("record-status");
    const form = document.getElementById("statement-form");
    const input = document.getElementById("statement");
    const checking = document.getElementById("checking");
    const types = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm", "video/mp4"];
    let recorder = null, stream = null, timer = null, started = 0;
    const cues = headCues(box);

    start.addEventListener("click", async () => {
      start.disabled = true;
      try {
        // Raw sound: echo cancellation, noise suppression and gain control blur the speech the checks listen to.
        stream = await navigator.mediaDevices.getUserMedia({
          video: {facingMode: "user", width: {ideal: 1280}, height: {ideal: 720}},
          audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false},
        });
      } catch (err) {
        status.textContent = "The camera or microphone could not be used (" + err.name + "). You can upload a video instead.";
        start.disabled = false;
        return;
      }
      preview.srcObject = stream;
      const mimeType = types.find((t) => MediaRecorder.isTypeSupported(t)) || "";
      recorder = new MediaRecorder(stream, mimeType ? {mimeType} : {});
      const chunks = [];
      recorder.addEventListener("dataavailable", (event) => { if (event.data.size) { chunks.push(event.data); } });
      recorder.addEventListener("stop", () => {
        clearInterval(timer);
        stopStream(stream);
        cues.finish();
        const type = recorder.mimeType || "video/webm";
        const blob = new Blob(chunks, {type});
        addFile(input, new File([blob], type.includes("mp4") ? "statement.mp4" : "statement.webm", {type}), true);
        status.textContent = "Recording finished. Sending it for the checks…";
        checking.hidden = false;
        form.submit();
      });
      recorder.addEventListener("start", () => cues.begin(() => {
        stop.disabled = false;
        status.textContent = "The head turns are done. Finish reading the statement, then press “Stop and send”.";
      }));
      recorder.start(1000);
      started = Date.now();
      stop.disabled = !cues.done;
      status.textContent = cues.done ? "Recording. Read the statement aloud, then press “Stop and send”." :
        "Recording. Read the statement aloud, and turn your head when an arrow asks you to.";
      timer = setInterval(() => {
        const seconds = Math.floor((Date.now() - started) / 1000);
        if (seconds >= maxSeconds && recorder.state === "recording") { stop.disabled = true; recorder.stop(); }
      }, 250);
    });
    stop.addEventListener("click", () => {
      if (recorder && recorder.state === "recording") {
        stop.disabled = true;
        recorder.stop();
      }
    });
    form.addEventListener("submit", () => { checking.hidden = false; });
  }

  // The statement's head-turn cues (consent/_cues.py): shown at the moments the server chose, measured from the
  // start of the recording; when each was shown goes back with the server's token in the form's "cues" field.
  function headCues(box) {
    const cue = document.getElementById("cue");
    const answer = document.getElementById("cues-answer");
    let schedule = [];
    try { schedule = JSON.parse(box.dataset.cues || "[]"); } catch (err) { schedule = []; }
    const shown = [];
    const timers = [];
    const state = {done: schedule.length === 0};
    state.begin = (whenDone) => {
      const origin = performance.now();
      let last = 0;
      schedule.forEach((item) => {
        last = Math.max(last, item.at_ms);
        timers.push(setTimeout(() => {
          shown.push(Math.round(performance.now() - origin));
          const left = item.turn === "left";
          cue.textContent = left ? "← Turn your head to your left" : "Turn your head to your right →";
          cue.className = "cue " + (left ? "cue-left" : "cue-right");
          cue.hidden = false;
          timers.push(setTimeout(() => { cue.hidden = true; }, 1500));
        }, item.at_ms));
      });
      if (schedule.length) {
        timers.push(setTimeout(() => { state.done = true; whenDone(); }, last + 2500));
      }
    };
    state.finish = () => {
      timers.forEach(clearTimeout);
      cue.hidden = true;
      answer.value = JSON.stringify({token: box.dataset.cueToken || "", shown_ms: shown});
    };
    return state;
  }

  // The start form's proof-of-work (consent/portal/_pow.py): a counter such that
  // SHA-256("<challenge>:<counter>") starts with `bits` zero bits, found before the form is sent.
  function leadingZeroBits(bytes) {
    let bits = 0;
    for (const byte of bytes) {
      if (byte !== 0) { return bits + Math.clz32(byte) - 24; }
      bits += 8;
    }
    return bits;
  }

  async function solveWork(challenge, bits) {
    const encoder = new TextEncoder();
    const batch = 256;  // digests in flight at once: crypto.subtle is asynchronous
    for (let first = 0; ; first += batch) {
      const pending = [];
      for (let i = first; i < first + batch; i++) {
        pending.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge + ":" + i)));
      }
      const digests = await Promise.all(pending);
      for (let k = 0; k < batch; k++) {
        if (leadingZeroBits(new Uint8Array(digests[k])) >= bits) { return String(first + k); }
      }
    }
  }

  function proofOfWork() {
    const form = document.getElementById("start-form");
    if (!form || !form.dataset.powChallenge) { return; }
    const solution = document.getElementById("pow-solution");
    const status = document.getElementById("pow-status");
    const button = document.getElementById("start");
    let solving = false;
    form.addEventListener("submit", async (event) => {
      if (solution.value) { return; }
      event.preventDefault();
      if (solving) { return; }
      if (!(window.crypto && crypto.subtle)) {
        status.textContent = "Your browser cannot prepare the registration on this connection: open the portal over https.";
        return;
      }
      solving = true;
      button.disabled = true;
      status.textContent = "Preparing your registration…";
      solution.value = await solveWork(form.dataset.powChallenge, parseInt(form.dataset.powBits, 10));
      form.submit();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    focusError();
    proofOfWork();
    photoCamera();
    statementRecorder();
  });
})();
