import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseYamlFile } from './support/manifests.js';
import { exposedMetricNames, metricNamesIn } from './support/metricNames.js';
import { repoPath } from './support/tools.js';

/* The Grafana dashboard shipped by k8s/monitoring as a ConfigMap. */

const DASHBOARD = repoPath('k8s/monitoring/dashboards/status-reconciler.json');

interface Target {
  expr: string;
  format?: string;
}
interface Panel {
  id: number;
  title: string;
  type: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const exprs = (panel: Panel) => (panel.targets ?? []).map((t) => t.expr.replace(/\s+/g, ' '));
const panelWith = (pattern: RegExp, type?: string) =>
  dashboard.panels.filter((p) => (!type || p.type === type) && exprs(p).some((e) => pattern.test(e)));

describe('Grafana dashboard', () => {
  it('is a dashboard with a fixed uid, unique panel ids and the data source as a variable', () => {
    expect(dashboard.uid).toBe('status-reconciler');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'reconcile_job']);
  });

  it('queries only metrics that src/metrics/registry.ts exposes', async () => {
    const exposed = await exposedMetricNames();
    const queries = [
      ...dashboard.panels.flatMap((p) => exprs(p).map((expr) => ({ where: p.title, expr }))),
      // label_values(METRIC, LABEL): the metric is the first argument.
      ...dashboard.templating.list
        .filter((v) => v.type === 'query')
        .map((v) => ({
          where: `variable ${v.name}`,
          expr: /^label_values\(([^,]+),/.exec(v.definition ?? '')?.[1] ?? `unparsed: ${v.definition}`,
        })),
    ];
    for (const { where, expr } of queries) {
      const names = metricNamesIn(expr);
      expect(names.length, `${where}: ${expr} reads no metric`).toBeGreaterThan(0);
      for (const name of names) expect(exposed, `${where}: ${name}`).toContain(name);
    }
  });

  it('has the panels the runbook refers to', () => {
    expect(
      panelWith(
        /rate\(status_reconciler_duplicates_found_total.*\/.*rate\(status_reconciler_rows_examined_total/,
        'timeseries',
      ),
      'collision rate over time',
    ).not.toHaveLength(0);
    expect(
      panelWith(/increase\(status_reconciler_duplicates_removed_total/),
      'duplicates removed',
    ).not.toHaveLength(0);
    expect(panelWith(/status_reconciler_run_duration_seconds/), 'run duration').not.toHaveLength(0);
    expect(
      panelWith(/time\(\) - .*status_reconciler_last_success_timestamp_seconds/),
      'last success age',
    ).not.toHaveLength(0);
    expect(panelWith(/status_reconciler_horizon_lag_seconds/), 'horizon lag').not.toHaveLength(0);
    const heatmap = panelWith(/status_reconciler_duplicate_gap_seconds_bucket/, 'heatmap');
    expect(heatmap, 'duplicate-gap heatmap').toHaveLength(1);
    expect(heatmap[0]!.targets![0]!.format).toBe('heatmap');
    expect(exprs(heatmap[0]!)[0]).toMatch(/sum by \(le\)/);
  });

  it('is shipped by k8s/monitoring as a ConfigMap labelled grafana_dashboard: "1"', () => {
    const kustomization = parseYamlFile(repoPath('k8s/monitoring/kustomization.yaml')) as {
      configMapGenerator: { name: string; files: string[] }[];
      generatorOptions: { disableNameSuffixHash: boolean; labels: Record<string, string> };
    };
    expect(kustomization.configMapGenerator).toEqual([
      { name: 'status-reconciler-dashboard', files: ['dashboards/status-reconciler.json'] },
    ]);
    expect(kustomization.generatorOptions.labels.grafana_dashboard).toBe('1');
    expect(kustomization.generatorOptions.disableNameSuffixHash).toBe(true);
  });
});
