/**
 * SIGTERM/SIGINT, registered once: the first asks for a graceful stop (the batch in hand
 * commits or rolls back, nothing new starts), a second exits at once. Returns the signal
 * the pass watches and a function that removes the handlers.
 */
export function installSignalHandlers(onFirst: (signal: NodeJS.Signals) => void): {
  signal: AbortSignal;
  remove: () => void;
} {
  const controller = new AbortController();
  const handler = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    controller.abort();
    onFirst(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return {
    signal: controller.signal,
    remove: () => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    },
  };
}
