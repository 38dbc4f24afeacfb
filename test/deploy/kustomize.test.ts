import { readFileSync, readdirSync } from 'node:fs';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadJobs } from '../../src/config/loadJobs.js';
import { requireTool } from '../helpers/tools.js';
import {
  find,
  findKustomize,
  one,
  parseYamlFile,
  render,
  validateObject,
  type K8sObject,
} from './support/manifests.js';
import { repoPath } from './support/tools.js';

/*
 * k8s/: every variant renders with kustomize (`kubectl kustomize` from kubectl 1.21+, else a
 * standalone `kustomize build` 4+), every object validates, and the safety fields the deployment
 * relies on are there. KUBECTL=/path/to/kubectl or KUSTOMIZE=/path/to/kustomize tests another one.
 * Without a usable kustomize the rendering tests fail under CI=true and skip (saying why) elsewhere.
 */

const kustomize = findKustomize();

/**
 * The objects `dir` renders to (filled in before the tests of the enclosing describe block run),
 * and every test of that block needs kustomize.
 */
function rendered(dir: string): K8sObject[] {
  const objects: K8sObject[] = [];
  beforeAll(() => {
    if (kustomize.path) objects.push(...render(kustomize, repoPath(dir)));
  });
  beforeEach((context) => {
    requireTool(kustomize, context);
  });
  return objects;
}

const JOB_SECRET = 'status-reconciler-database';
const SCHEDULE_SECONDS = 300; // "*/5 * * * *"

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: Record<string, Record<string, unknown>> }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  restartPolicy?: string;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string }; emptyDir?: Record<string, unknown> }[];
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: PodSpec;
}

function podTemplate(workload: K8sObject): PodTemplate {
  const spec = workload.spec as Record<string, unknown>;
  if (workload.kind === 'CronJob') {
    const jobSpec = (spec.jobTemplate as { spec: Record<string, unknown> }).spec;
    return jobSpec.template as PodTemplate;
  }
  return spec.template as PodTemplate;
}

function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The safety fields every pod of the reconciler must have, CronJob or Deployment. */
function expectSafePod(objects: K8sObject[], workload: K8sObject, command: 'run' | 'serve'): void {
  const template = podTemplate(workload);
  const pod = template.spec;
  const what = `${workload.kind}/${workload.metadata.name}`;

  // Identity: a ServiceAccount of its own, no API token in the pod.
  expect(pod.automountServiceAccountToken, `${what}: automountServiceAccountToken`).toBe(false);
  const account = one(objects, 'ServiceAccount', pod.serviceAccountName);
  expect(account.automountServiceAccountToken, 'ServiceAccount automountServiceAccountToken').toBe(false);
  expect(pod.hostNetwork ?? false).toBe(false);
  expect(pod.hostPID ?? false).toBe(false);
  expect(pod.hostIPC ?? false).toBe(false);

  // SIGTERM: the batch in hand finishes (serve waits 20 s at most for runs in flight).
  expect(pod.terminationGracePeriodSeconds, `${what}: terminationGracePeriodSeconds`).toBeGreaterThanOrEqual(
    25,
  );
  expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(120);

  expect(pod.containers).toHaveLength(1);
  const container = pod.containers[0]!;
  const podSecurity = pod.securityContext ?? {};
  const security = container.securityContext ?? {};
  const effective = (field: string): unknown => security[field] ?? podSecurity[field];
  expect(effective('runAsNonRoot'), `${what}: runAsNonRoot`).toBe(true);
  const uid = effective('runAsUser');
  if (uid !== undefined) expect(uid).not.toBe(0);
  expect(security.readOnlyRootFilesystem, `${what}: readOnlyRootFilesystem`).toBe(true);
  expect(security.allowPrivilegeEscalation, `${what}: allowPrivilegeEscalation`).toBe(false);
  expect(security.privileged ?? false).toBe(false);
  expect(
    (security.capabilities as { drop?: string[] } | undefined)?.drop,
    `${what}: capabilities.drop`,
  ).toContain('ALL');
  expect((security.capabilities as { add?: string[] } | undefined)?.add ?? []).toEqual([]);
  expect(effective('seccompProfile'), `${what}: seccompProfile`).toEqual({ type: 'RuntimeDefault' });

  // The image is pinned by the kustomization's images: entry, never :latest.
  expect(container.image).toMatch(/^[^:@]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/);
  expect(container.image).not.toMatch(/:latest$/);
  expect(container.args).toEqual([command, '--jobs', '/jobs']);

  // Requests and limits for CPU and memory.
  for (const kind of ['requests', 'limits'] as const) {
    for (const resource of ['cpu', 'memory']) {
      expect(container.resources?.[kind]?.[resource], `${what}: resources.${kind}.${resource}`).toBeTruthy();
    }
  }

  // Volumes: /tmp is an emptyDir (the only writable path), /jobs the generated ConfigMap, read-only.
  const mount = (path: string) => container.volumeMounts?.find((m) => m.mountPath === path);
  const volume = (name: string | undefined) => pod.volumes?.find((v) => v.name === name);
  expect(volume(mount('/tmp')?.name)?.emptyDir, `${what}: /tmp from an emptyDir`).toBeDefined();
  expect(mount('/tmp')?.readOnly ?? false).toBe(false);
  expect(mount('/jobs')?.readOnly, `${what}: /jobs read-only`).toBe(true);
  const jobsMap = volume(mount('/jobs')?.name)?.configMap?.name;
  expect(jobsMap, `${what}: /jobs from a ConfigMap`).toMatch(/^status-reconciler-jobs-[a-z0-9]+$/);
  one(objects, 'ConfigMap', jobsMap);

  // DATABASE_URL only from the existing Secret; nothing secret is rendered.
  const databaseUrl = container.env?.find((e) => e.name === 'DATABASE_URL');
  expect(databaseUrl?.value, 'DATABASE_URL must not be a literal').toBeUndefined();
  expect(databaseUrl?.valueFrom?.secretKeyRef).toEqual({ name: JOB_SECRET, key: 'DATABASE_URL' });
  expect(find(objects, 'Secret')).toEqual([]);

  // PUSHGATEWAY_URL and the rest of the settings from the generated config ConfigMap.
  const configRefs = (container.envFrom ?? []).map((e) => e.configMapRef?.name);
  const config = objects.find((o) => o.kind === 'ConfigMap' && configRefs.includes(o.metadata.name));
  expect(config, `${what}: envFrom a rendered ConfigMap`).toBeDefined();
  const data = config!.data as Record<string, string>;
  expect(new URL(data.PUSHGATEWAY_URL!).protocol).toBe('http:');
  expect(data.LOG_LEVEL).toBeDefined();

  // The NetworkPolicy covers these pods.
  const policy = one(objects, 'NetworkPolicy', 'status-reconciler');
  const podSelector = (policy.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector;
  expect(
    selects(podSelector.matchLabels, template.metadata?.labels),
    `${what}: selected by the NetworkPolicy`,
  ).toBe(true);
}

interface PolicyPort {
  protocol?: string;
  port?: number | string;
}
interface PolicyRule {
  to?: unknown[];
  from?: unknown[];
  ports?: PolicyPort[];
}

function policyPorts(rules: PolicyRule[] | undefined): string[] {
  return (rules ?? [])
    .flatMap((rule) => (rule.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`))
    .sort();
}

/** Egress only to DNS, PostgreSQL and the Pushgateway; every rule restricted by port. */
function expectEgressPolicy(objects: K8sObject[]): PolicyRule[] {
  const policy = one(objects, 'NetworkPolicy', 'status-reconciler');
  const spec = policy.spec as { policyTypes: string[]; egress?: PolicyRule[]; ingress?: PolicyRule[] };
  expect(spec.policyTypes).toEqual(expect.arrayContaining(['Ingress', 'Egress']));
  for (const rule of spec.egress ?? [])
    expect(rule.ports?.length, 'an egress rule without ports allows all').toBeGreaterThan(0);
  expect(policyPorts(spec.egress)).toEqual(['53/UDP', '53/TCP', '5432/TCP', '9091/TCP'].sort());
  // The Pushgateway of PUSHGATEWAY_URL is the one the policy lets through.
  const config = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('status-reconciler-config-'),
  );
  const url = new URL((config!.data as Record<string, string>).PUSHGATEWAY_URL!);
  expect(url.port).toBe('9091');
  return spec.ingress ?? [];
}

describe('k8s/base (CronJob)', () => {
  it('keeps k8s/base/jobs/ identical to jobs/ and lists every file in the configMapGenerator', () => {
    const jsonIn = (dir: string) =>
      readdirSync(repoPath(dir))
        .filter((f) => f.endsWith('.json'))
        .sort();
    const files = jsonIn('jobs');
    expect(files.length).toBeGreaterThan(0);
    expect(
      jsonIn('k8s/base/jobs'),
      'k8s/base/jobs/ holds the same files as jobs/ (cp jobs/*.json k8s/base/jobs/)',
    ).toEqual(files);
    for (const file of files) {
      expect(
        readFileSync(repoPath('k8s/base/jobs', file), 'utf8'),
        `k8s/base/jobs/${file} differs from jobs/${file}`,
      ).toBe(readFileSync(repoPath('jobs', file), 'utf8'));
    }
    const kustomization = parseYamlFile(repoPath('k8s/base/kustomization.yaml')) as {
      configMapGenerator: { name: string; files?: string[] }[];
    };
    const generator = kustomization.configMapGenerator.find((g) => g.name === 'status-reconciler-jobs');
    expect(generator?.files?.slice().sort()).toEqual(files.map((f) => `jobs/${f}`));
    // And they load as the CLI loads /jobs in the pod.
    expect(loadJobs(repoPath('k8s/base/jobs')).map((j) => j.name)).toEqual(
      loadJobs(repoPath('jobs')).map((j) => j.name),
    );
  });

  describe('rendered with kustomize', () => {
    const objects = rendered('k8s/base');

    it('renders a CronJob, its ServiceAccount, ConfigMaps and NetworkPolicy, each valid', () => {
      expect(objects.map((o) => o.kind).sort()).toEqual(
        ['ConfigMap', 'ConfigMap', 'CronJob', 'NetworkPolicy', 'ServiceAccount'].sort(),
      );
      for (const object of objects) validateObject(object);
    });

    it('generates the jobs ConfigMap with exactly the content of jobs/', () => {
      const map = objects.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('status-reconciler-jobs-'),
      );
      const expected = Object.fromEntries(
        readdirSync(repoPath('jobs'))
          .filter((f) => f.endsWith('.json'))
          .map((f) => [f, readFileSync(repoPath('jobs', f), 'utf8')]),
      );
      expect(map?.data).toEqual(expected);
    });

    it('schedules safely: Forbid, deadlines, retries and cleanup', () => {
      const cron = one(objects, 'CronJob', 'status-reconciler');
      const spec = cron.spec as Record<string, unknown>;
      expect(spec.schedule).toBe('*/5 * * * *');
      expect(spec.concurrencyPolicy).toBe('Forbid');
      const startingDeadline = spec.startingDeadlineSeconds as number;
      expect(startingDeadline).toBeGreaterThan(0);
      expect(startingDeadline, 'a missed start is dropped before the next one is due').toBeLessThan(
        SCHEDULE_SECONDS,
      );
      const job = (spec.jobTemplate as { spec: Record<string, unknown> }).spec;
      expect(job.activeDeadlineSeconds).toBeGreaterThan(SCHEDULE_SECONDS);
      expect(job.backoffLimit).toBeGreaterThanOrEqual(0);
      expect(job.backoffLimit).toBeLessThanOrEqual(3);
      expect(job.ttlSecondsAfterFinished).toBeGreaterThan(0);
      // Bad configuration (exit 2) is not retried.
      const rules = (
        job.podFailurePolicy as { rules: { action: string; onExitCodes?: { values: number[] } }[] }
      ).rules;
      expect(rules.find((r) => r.action === 'FailJob')?.onExitCodes?.values).toEqual([2]);
      expect(podTemplate(cron).spec.restartPolicy).toBe('Never');
    });

    it('runs the pod with every safety field', () => {
      expectSafePod(objects, one(objects, 'CronJob', 'status-reconciler'), 'run');
    });

    it('allows egress only to DNS, PostgreSQL and the Pushgateway, and no ingress', () => {
      expect(expectEgressPolicy(objects)).toEqual([]);
    });
  });
});

describe('k8s/variants/serve (Deployment)', () => {
  const objects = rendered('k8s/variants/serve');

  it('renders a Deployment, Service and ServiceMonitor instead of the CronJob, each valid', () => {
    expect(find(objects, 'CronJob')).toEqual([]);
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        'ConfigMap',
        'ConfigMap',
        'Deployment',
        'NetworkPolicy',
        'Service',
        'ServiceAccount',
        'ServiceMonitor',
      ].sort(),
    );
    for (const object of objects) validateObject(object);
  });

  it('runs the pod with every safety field, one replica at a time', () => {
    const deployment = one(objects, 'Deployment', 'status-reconciler');
    expectSafePod(objects, deployment, 'serve');
    const spec = deployment.spec as { replicas: number; strategy: { type: string } };
    expect(spec.replicas).toBe(1);
    expect(spec.strategy.type).toBe('Recreate');
  });

  it('wires Deployment, Service and ServiceMonitor to the metrics port', () => {
    const deployment = one(objects, 'Deployment', 'status-reconciler');
    const template = podTemplate(deployment);
    const container = template.spec.containers[0]!;
    const metricsPort = container.ports?.find((p) => p.name === 'metrics');
    const env = container.env?.find((e) => e.name === 'METRICS_PORT')?.value ?? '9464';
    expect(metricsPort?.containerPort).toBe(Number(env));

    const service = one(objects, 'Service', 'status-reconciler');
    const serviceSpec = service.spec as {
      selector: Record<string, string>;
      ports: { name: string; port: number; targetPort: string | number }[];
    };
    expect(selects(serviceSpec.selector, template.metadata?.labels)).toBe(true);
    const servicePort = serviceSpec.ports.find(
      (p) => p.targetPort === 'metrics' || p.targetPort === metricsPort?.containerPort,
    );
    expect(servicePort).toBeDefined();

    const monitor = one(objects, 'ServiceMonitor', 'status-reconciler');
    const monitorSpec = monitor.spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string }[];
    };
    expect(selects(monitorSpec.selector.matchLabels, service.metadata.labels)).toBe(true);
    expect(monitorSpec.endpoints).toEqual([
      expect.objectContaining({ port: servicePort!.name, path: '/metrics' }),
    ]);
  });

  it('runs the same image as k8s/base', () => {
    const image = (o: K8sObject) => podTemplate(o).spec.containers[0]!.image;
    const base = render(kustomize, repoPath('k8s/base'));
    expect(image(one(objects, 'Deployment', 'status-reconciler'))).toBe(
      image(one(base, 'CronJob', 'status-reconciler')),
    );
  });

  it('keeps the egress policy and lets in only the metrics port', () => {
    const ingress = expectEgressPolicy(objects);
    expect(policyPorts(ingress)).toEqual(['9464/TCP']);
    for (const rule of ingress)
      expect(rule.from?.length, 'an ingress rule without from allows everyone').toBeGreaterThan(0);
  });
});

describe('k8s/monitoring', () => {
  const objects = rendered('k8s/monitoring');

  it('renders a PrometheusRule and the dashboard ConfigMap, each valid', () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'PrometheusRule']);
    for (const object of objects) validateObject(object);
  });

  it('ships the dashboard unchanged, labelled for the Grafana sidecar', () => {
    const map = one(objects, 'ConfigMap', 'status-reconciler-dashboard');
    expect(map.metadata.labels?.grafana_dashboard).toBe('1');
    expect(map.data).toEqual({
      'status-reconciler.json': readFileSync(
        repoPath('k8s/monitoring/dashboards/status-reconciler.json'),
        'utf8',
      ),
    });
  });

  it('ships the rules of the promtool-tested rules file', () => {
    const rule = one(objects, 'PrometheusRule', 'status-reconciler');
    const plain = parseYamlFile(repoPath('k8s/monitoring/rules/status-reconciler.rules.yml')) as {
      groups: unknown;
    };
    expect((rule.spec as { groups: unknown }).groups).toEqual(plain.groups);
  });
});

describe('k8s/variants/sharded (Indexed Job)', () => {
  const objects = rendered('k8s/variants/sharded');

  it('renders the base with its CronJob as an Indexed Job, each object valid', () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(
      ['ConfigMap', 'ConfigMap', 'CronJob', 'NetworkPolicy', 'ServiceAccount'].sort(),
    );
    for (const object of objects) validateObject(object);
    expectSafePod(objects, one(objects, 'CronJob', 'status-reconciler'), 'run');
  });

  it('one pod per shard at once, SHARD_COUNT equal to completions, retries per shard', () => {
    const cronJob = one(objects, 'CronJob', 'status-reconciler');
    const spec = (
      cronJob.spec as { concurrencyPolicy: string; jobTemplate: { spec: Record<string, unknown> } }
    ).jobTemplate.spec;
    expect((cronJob.spec as { concurrencyPolicy: string }).concurrencyPolicy).toBe('Forbid');
    expect(spec.completionMode).toBe('Indexed');
    expect(spec.parallelism).toBe(spec.completions);
    expect(spec.backoffLimitPerIndex).toBe(1);
    expect(spec.backoffLimit).toBeUndefined();
    const container = podTemplate(cronJob).spec.containers[0]!;
    const count = container.env?.find((e) => e.name === 'SHARD_COUNT')?.value;
    expect(Number(count)).toBe(spec.completions);
    // The index comes from JOB_COMPLETION_INDEX, which Kubernetes sets: nothing overrides it.
    expect(container.env?.find((e) => e.name === 'SHARD_INDEX')).toBeUndefined();
    expect(container.args).toEqual(['run', '--jobs', '/jobs']);
  });
});
