"""The watermark's channel code: a K=7, rate-1/2 convolutional code with soft Viterbi decoding.

The industry-standard code (generators 171 and 133 octal, free distance 10) protects the
96-bit message (64-bit watermark id + 32-bit keyed tag). It is terminated with six zero bits, so
the 96 message bits become 204 code bits. Decoding takes soft values (positive means 1, the
magnitude is the confidence) and returns the most likely message.

>>> import numpy as np
>>> from provenance._ecc import encode, viterbi_decode, CODE_BITS
>>> message = np.random.default_rng(1).integers(0, 2, 96).astype(np.uint8)
>>> code = encode(message)
>>> len(code) == CODE_BITS
True
>>> soft = 2.0 * code - 1.0
>>> soft[::7] *= -1                                   # flip every 7th code bit
>>> bool((viterbi_decode(soft) == message).all())
True
"""

from __future__ import annotations

import numpy as np

CONSTRAINT = 7
GENERATORS = (0o171, 0o133)
MESSAGE_BITS = 96
TAIL_BITS = CONSTRAINT - 1
CODE_BITS = (MESSAGE_BITS + TAIL_BITS) * len(GENERATORS)

_STATES = 1 << (CONSTRAINT - 1)


def _parity(value: np.ndarray) -> np.ndarray:
    value = value.copy()
    out = np.zeros_like(value)
    while value.any():
        out ^= value & 1
        value >>= 1
    return out


def _trellis() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each next state: its two predecessor states, the input bit, and the branch outputs (±1)."""
    states = np.arange(_STATES)
    bits = states & 1  # the newest input bit is the low bit of the next state
    previous = np.stack([states >> 1, (states >> 1) | (1 << (CONSTRAINT - 2))], axis=1)  # (64, 2)
    register = (previous << 1) | bits[:, None]  # 7-bit shift register: old state, then the new bit
    outputs = np.stack([_parity(register & g) for g in GENERATORS], axis=-1)  # (64, 2, 2) in {0, 1}
    return previous, bits, 2.0 * outputs - 1.0


_PREVIOUS, _INPUT_BIT, _BRANCH = _trellis()


def encode(message: np.ndarray) -> np.ndarray:
    """Message bits (0/1, length :data:`MESSAGE_BITS`) → code bits (0/1, length :data:`CODE_BITS`)."""
    message = np.asarray(message, dtype=np.uint8).ravel()
    if message.size != MESSAGE_BITS:
        raise ValueError(f"the message is {MESSAGE_BITS} bits, got {message.size}")
    padded = np.concatenate([message, np.zeros(TAIL_BITS, np.uint8)])
    state = 0
    out = np.empty((padded.size, len(GENERATORS)), np.uint8)
    for index, bit in enumerate(padded):
        register = (state << 1) | int(bit)
        out[index] = [bin(register & g).count("1") & 1 for g in GENERATORS]
        state = register & (_STATES - 1)
    return out.ravel()


def viterbi_decode(soft: np.ndarray) -> np.ndarray:
    """Soft code values (length :data:`CODE_BITS`, positive = 1) → the most likely message bits.

    Maximises the correlation between the soft values and the code word; the path must start and
    end in the zero state (the code is terminated).
    """
    soft = np.asarray(soft, dtype=np.float64).ravel()
    if soft.size != CODE_BITS:
        raise ValueError(f"expected {CODE_BITS} soft values, got {soft.size}")
    steps = soft.reshape(-1, len(GENERATORS))
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choices = np.empty((steps.shape[0], _STATES), np.uint8)
    for index, received in enumerate(steps):
        candidates = metric[_PREVIOUS] + _BRANCH @ received  # (64, 2)
        best = np.argmax(candidates, axis=1)
        choices[index] = best
        metric = candidates[np.arange(_STATES), best]
    state = 0  # terminated: the tail drives the encoder back to state 0
    decoded = np.empty(steps.shape[0], np.uint8)
    for index in range(steps.shape[0] - 1, -1, -1):
        decoded[index] = _INPUT_BIT[state]
        state = _PREVIOUS[state, choices[index, state]]
    return decoded[:MESSAGE_BITS]
