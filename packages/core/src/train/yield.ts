/**
 * Lets pending macrotasks run (a SIGINT handler, a progress-bar timer, browser events). A loop of
 * synchronous tfjs steps inside an async function otherwise starves them: awaiting resolved promises
 * only runs microtasks.
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (cb: () => void) => unknown };
  return new Promise((resolve) => {
    if (typeof g.setImmediate === 'function') g.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
