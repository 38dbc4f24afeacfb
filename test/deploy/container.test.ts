import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { repoPath, run } from './support/tools.js';

/*
 * The Dockerfile, statically: dockerfilelint, then the container contract (pinned Node LTS slim
 * base, multi-stage, production dependencies + dist/ + migrations/ only, non-root numeric user,
 * exec-form ENTRYPOINT). test/container/smoke.sh (npm run test:container) builds and runs it.
 */

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const args: Instruction[] = [];
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: rest.replace(/\s+/g, ' ') };
    if (instruction.keyword === 'FROM') {
      const [, from = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args) ?? [];
      stages.push({ from, name, instructions: [] });
    } else if (stages.length === 0) {
      args.push(instruction);
    } else {
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  return { args, stages };
}

const text = readFileSync(repoPath('Dockerfile'), 'utf8');
const { args, stages } = parseDockerfile(text);
const final = stages[stages.length - 1]!;
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

describe('Dockerfile', () => {
  it('passes dockerfilelint', () => {
    const bin = createRequire(import.meta.url).resolve('dockerfilelint/bin/dockerfilelint');
    const result = run(process.execPath, [bin, '-o', 'json', repoPath('Dockerfile')]);
    const report = JSON.parse(result.stdout) as { totalIssues: number; files: { issues: unknown[] }[] };
    expect(report.files.flatMap((f) => f.issues)).toEqual([]);
    expect(result.status).toBe(0);
  });

  it('builds every stage on the same pinned official Node LTS slim image', () => {
    const version = args.find((a) => a.keyword === 'ARG' && a.args.startsWith('NODE_VERSION='))?.args;
    const [, major] = /^NODE_VERSION=(\d+)\.\d+\.\d+$/.exec(version ?? '') ?? [];
    expect(major, 'ARG NODE_VERSION=MAJOR.MINOR.PATCH').toBeDefined();
    expect(Number(major) % 2, 'an LTS line (even major)').toBe(0);
    expect(Number(major)).toBeGreaterThanOrEqual(20);
    expect(stages.length, 'multi-stage').toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.from).toBe('node:${NODE_VERSION}-bookworm-slim');
  });

  it('compiles with dev dependencies and installs production dependencies apart', () => {
    const runs = (stage: Stage) => all(stage, 'RUN').map((i) => i.args);
    const build = stages.find((s) => runs(s).some((r) => r.includes('npm run build')));
    expect(build, 'a stage runs npm run build').toBeDefined();
    expect(runs(build!).some((r) => /npm ci(?!.*--omit=dev)/.test(r))).toBe(true);
    const deps = stages.find((s) => runs(s).some((r) => /npm ci .*--omit=dev/.test(r)));
    expect(deps, 'a stage runs npm ci --omit=dev').toBeDefined();
    expect(final).not.toBe(build);
    expect(runs(final), 'the final stage installs nothing').toEqual([]);
  });

  it('copies only package.json, production node_modules, dist/ and migrations/ into the final stage', () => {
    const copies = all(final, 'COPY').map((i) => i.args);
    const buildName = stages.find((s) => all(s, 'RUN').some((r) => r.args.includes('npm run build')))?.name;
    const depsName = stages.find((s) => all(s, 'RUN').some((r) => r.args.includes('--omit=dev')))?.name;
    expect(copies.sort()).toEqual(
      [
        'package.json ./',
        `--from=${depsName} /app/node_modules ./node_modules`,
        `--from=${buildName} /build/dist ./dist`,
        'migrations ./migrations',
      ].sort(),
    );
    expect(all(final, 'ADD')).toEqual([]);
    expect(all(final, 'WORKDIR').at(-1)?.args).toBe('/app');
  });

  it('runs as a numeric non-root user with the CLI as exec-form ENTRYPOINT', () => {
    const user = all(final, 'USER').at(-1)?.args ?? '';
    expect(user, 'numeric, so runAsNonRoot can verify it').toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    const entrypoints = all(final, 'ENTRYPOINT');
    expect(entrypoints).toHaveLength(1);
    expect(JSON.parse(entrypoints[0]!.args)).toEqual(['node', '/app/dist/cli.js']);
    const cmd = all(final, 'CMD').at(-1);
    if (cmd) expect(Array.isArray(JSON.parse(cmd.args)), 'CMD in exec form').toBe(true);
    expect(text).not.toMatch(/^\s*(ENTRYPOINT|CMD)\s.*\bnpm\b/m);
    expect(all(final, 'VOLUME'), 'nothing to write outside /tmp').toEqual([]);
  });

  it('builds from an allow-listed context (.dockerignore)', () => {
    const lines = readFileSync(repoPath('.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(lines[0]).toBe('*');
    const allowed = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    const fromContext = stages
      .flatMap((s) => all(s, 'COPY'))
      .filter((i) => !i.args.startsWith('--from='))
      .flatMap((i) => i.args.split(' ').slice(0, -1))
      .map((p) => p.replace(/\/$/, ''));
    expect(allowed.sort()).toEqual([...new Set(fromContext)].sort());
  });
});

describe('container smoke test script', () => {
  it('is wired as npm run test:container and parses', () => {
    const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['test:container']).toBe('bash test/container/smoke.sh');
    const syntax = run('bash', ['-n', repoPath('test/container/smoke.sh')]);
    expect(syntax.stderr).toBe('');
    expect(syntax.status).toBe(0);
  });
});
