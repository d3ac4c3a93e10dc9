// The playground's microphone tap (an AudioWorklet module, loaded by playground.js): it mixes the input to mono
// and posts it to the page in blocks of 1,024 samples at the context's rate; the page resamples to 16 kHz.
"use strict";

class PlaygroundTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(1024);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (input && input.length > 0) {
      const frames = input[0].length;
      for (let i = 0; i < frames; i++) {
        let sum = 0;
        for (let c = 0; c < input.length; c++) sum += input[c][i];
        this.block[this.filled++] = sum / input.length;
        if (this.filled === this.block.length) {
          this.port.postMessage(this.block, [this.block.buffer]);
          this.block = new Float32Array(1024);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("playground-tap", PlaygroundTap);
