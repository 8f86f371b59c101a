// node:timers in a browser: setImmediate as a zero-delay task.
export function setImmediate(callback, ...args) {
  return setTimeout(callback, 0, ...args);
}
