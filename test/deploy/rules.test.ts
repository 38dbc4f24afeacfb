import { describe, expect, it } from 'vitest';
import { parseYamlFile, prometheusRuleProblems, type K8sObject } from './support/manifests.js';
import { exposedMetricNames, metricNamesIn } from './support/metricNames.js';
import { lookupTool, requireTool } from '../helpers/tools.js';
import { repoPath, runOk } from './support/tools.js';

/*
 * The alerts: one plain rules file that promtool checks and unit-tests, and the PrometheusRule
 * that carries the same groups to the Prometheus Operator.
 */

const RULES = repoPath('k8s/monitoring/rules/status-reconciler.rules.yml');
const RULE_TESTS = repoPath('k8s/monitoring/rules/status-reconciler.rules.test.yml');
const PROMETHEUS_RULE = repoPath('k8s/monitoring/prometheusrule.yaml');

const promtool = lookupTool('promtool');

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
}
interface RulesFile {
  groups: { name: string; rules: Rule[] }[];
}
interface RuleTests {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const plain = parseYamlFile(RULES) as RulesFile;
const alerts = plain.groups.flatMap((g) => g.rules).filter((r) => r.alert);
const byName = (name: string): Rule => {
  const rule = alerts.find((r) => r.alert === name);
  if (!rule) throw new Error(`no alert ${name} in ${RULES}`);
  return rule;
};

describe('alerting rules', () => {
  it('carries the same groups in the PrometheusRule as in the plain rules file', () => {
    const wrapped = parseYamlFile(PROMETHEUS_RULE) as K8sObject;
    expect(wrapped.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(wrapped.kind).toBe('PrometheusRule');
    expect(prometheusRuleProblems(wrapped)).toEqual([]);
    expect((wrapped.spec as RulesFile).groups).toEqual(plain.groups);
  });

  it('alerts on the four conditions, from the metrics the brief names', () => {
    const compact = (expr: string) => expr.replace(/\s+/g, ' ');
    expect(compact(byName('StatusReconcilerNoRecentSuccess').expr)).toMatch(
      /time\(\) - .*status_reconciler_last_success_timestamp_seconds.* > \d+/,
    );
    expect(compact(byName('StatusReconcilerRunsFailing').expr)).toMatch(
      /increase\(status_reconciler_runs_total\{outcome="failure"\}\[\w+\]\)/,
    );
    expect(compact(byName('StatusReconcilerCollisionRatioHigh').expr)).toMatch(
      /rate\(status_reconciler_duplicates_found_total\[\w+\]\)\) \/ sum by \(reconcile_job\) \(rate\(status_reconciler_rows_examined_total\[\w+\]\)\) > 0\.\d+/,
    );
    expect(compact(byName('StatusReconcilerHorizonLagHigh').expr)).toMatch(
      /status_reconciler_horizon_lag_seconds\) > \d+/,
    );
    for (const rule of alerts) {
      expect(rule.labels?.severity, `${rule.alert}: severity label`).toMatch(/^(critical|warning|info)$/);
      // Series come from the Pushgateway (CronJob) or from scraping serve: aggregate the
      // job/instance labels away so both give one alert per reconcile_job.
      expect(rule.expr, `${rule.alert}: aggregates by reconcile_job`).toMatch(/by \(reconcile_job\)/);
    }
  });

  it('reads only metrics the reconciler exposes', async () => {
    const exposed = await exposedMetricNames();
    for (const rule of alerts) {
      const names = metricNamesIn(rule.expr);
      expect(names.length, `${rule.alert} reads no metric`).toBeGreaterThan(0);
      for (const name of names) expect(exposed, `${rule.alert}: ${name}`).toContain(name);
    }
  });

  it('has a unit test for every alert, both firing and quiet', () => {
    const tests = parseYamlFile(RULE_TESTS) as RuleTests;
    expect(tests.rule_files).toEqual(['status-reconciler.rules.yml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of alerts) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${rule.alert}: a case where it fires`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${rule.alert}: a case where it stays quiet`,
      ).toBe(true);
    }
  });

  it('passes promtool check rules', (context) => {
    const bin = requireTool(promtool, context);
    expect(runOk(bin, ['check', 'rules', RULES])).toMatch(/SUCCESS: 4 rules found/);
  });

  it('passes promtool test rules', (context) => {
    const bin = requireTool(promtool, context);
    expect(runOk(bin, ['test', 'rules', RULE_TESTS])).toMatch(/SUCCESS/);
  });
});
