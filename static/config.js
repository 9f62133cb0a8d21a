// Tunable constants of the page, in one place.

// Below this confidence the page says "not sure" instead of announcing a digit.
// The server's value (network.pretrained.NOT_SURE_BELOW, measured on drawn ink by
// benchmarks/ink.py) arrives in hello and replaces this fallback.
export let NOT_SURE_BELOW = 0.5;

/** Adopt the server's threshold (hello.not_sure_below) when it is a sane number. */
export function setNotSureBelow(value) {
  if (typeof value === 'number' && value > 0 && value < 1) NOT_SURE_BELOW = value;
}

// After the pen is lifted, more strokes may follow (a 4's stem, a 7's crossbar): for
// this long an unsure answer says "Keep drawing…"; after it, "not sure" means the
// drawing may not be a digit.
export const STILL_DRAWING_MS = 1200;

// While the ink is still growing, a digit is named only this sure (the unfinished-ink
// model's confidence is calibrated on ink cut part-way: 64% sure of a 2 from the top
// arc of a 3 is honest, and still a guess); below it the page says "Keep drawing…".
export const GROWING_SURE = 0.8;

// A close call: the runner-up has at least this share of the answer's probability
// (51% against 43% is one; 70% against 25% is not). The page then shows both digits.
export const CLOSE_CALL_RATIO = 0.5;

// How many drawings a writer teaches before the page shows how often it read theirs
// right before the teach: with fewer, that share jumps by big steps (one drawing can
// only be 0% or 100%) and says little.
export const WRITER_SHARE_FROM = 10;

// Reconnect backoff: first retry after about BASE ms, doubling up to MAX ms,
// each delay drawn uniformly from its upper half so many pages do not retry in step.
export const RECONNECT_BASE_MS = 300;
export const RECONNECT_MAX_MS = 8000;

// How long a teach may stay unanswered before the page gives up waiting for it.
export const TEACH_TIMEOUT_MS = 20000;

// How many model versions the accuracy chart keeps.
export const HISTORY_LENGTH = 60;
