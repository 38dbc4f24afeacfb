import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RESULT_PREFIX, type ChildResult, type ChildSpec } from './protocol.js';

const PEER = fileURLToPath(new URL('./peer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * Runs one contender in a process of its own (node + the tsx loader, no wrapper process) and
 * returns its result line. Its stderr is passed through.
 */
export function runChild(spec: ChildSpec, killAfterSeconds: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', PEER, JSON.stringify(spec)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterSeconds * 1000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (!line) {
        reject(
          new Error(
            `${spec.kind} exited (${signal ?? code}) without a result; its output: ${out.slice(-2000)}`,
          ),
        );
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult);
    });
  });
}
