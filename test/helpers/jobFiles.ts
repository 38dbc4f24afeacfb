import { writeJobFile } from './cli.js';

/** Temporary job files for one test file: `write` returns each one's path, `cleanup` removes them all. */
export function jobFiles(): { write(jobs: unknown): string; cleanup(): void } {
  const cleanups: (() => void)[] = [];
  return {
    write(jobs) {
      const { path, cleanup } = writeJobFile(jobs);
      cleanups.push(cleanup);
      return path;
    },
    cleanup() {
      for (const cleanup of cleanups.splice(0)) cleanup();
    },
  };
}
