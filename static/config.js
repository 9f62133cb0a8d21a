// Tunable constants of the page, in one place.

// Below this confidence the page says "not sure" instead of announcing a digit.
// Measured on drawn ink (issue 5); change it here and nowhere else.
export const NOT_SURE_BELOW = 0.6;

// Reconnect backoff: first retry after about BASE ms, doubling up to MAX ms,
// each delay drawn uniformly from its upper half so many pages do not retry in step.
export const RECONNECT_BASE_MS = 300;
export const RECONNECT_MAX_MS = 8000;

// How long a teach may stay unanswered before the page gives up waiting for it.
export const TEACH_TIMEOUT_MS = 20000;

// How many model versions the accuracy chart keeps.
export const HISTORY_LENGTH = 60;
