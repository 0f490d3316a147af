/**
 * The Grafana dashboards (issue 15). Grafana itself is not run here, so the dashboards are checked as
 * data: their structure (unique uids and panel ids, the provisioned datasource's uid, a query in every
 * panel, variables that exist), and every PromQL expression taken apart by a small tokenizer into the
 * metric names and labels it uses. Those must be what a real broker exports: a two-node cluster is
 * started (two, so that the replication series of a leader with a follower exist), given some
 * traffic (a replicated topic produced to, read, and a consumer group), and its /metrics read. Each
 * metric must be a family there (a `# TYPE` line, or a histogram's `_bucket`, `_sum`, `_count`), each
 * label a dashboard matches on or groups by must be one the series carry (or Prometheus's own `job`
 * and `instance`), and each `method` a query names must be a gRPC method or a Kafka API. A failure
 * names the dashboard, the panel and the metric.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { BrokerClient } from '../../src/client/index.ts';
import { API_KEYS } from '../../src/protocol/kafka/apis/index.ts';
import { type RunningCluster, startCluster } from '../../src/start-cluster.ts';

const root = new URL('../../', import.meta.url).pathname;
const grafana = path.join(root, 'deploy/grafana');
const dashboardsDir = path.join(grafana, 'dashboards');

// biome-ignore lint/suspicious/noExplicitAny: dashboards are free-form JSON, checked field by field.
type Obj = Record<string, any>;

// ------------------------------------------------------------------ PromQL

interface Matcher {
  label: string;
  op: string;
  value: string;
}
interface MetricUse {
  name: string;
  matchers: Matcher[];
}
interface Query {
  metrics: MetricUse[];
  /** Labels named in by (...), without (...), on (...), ignoring (...), group_left/right (...). */
  grouping: string[];
}

type Token =
  | { kind: 'ident'; text: string }
  | { kind: 'matchers'; matchers: Matcher[] }
  | { kind: 'punct'; text: string }
  | { kind: 'other'; text: string };

/** Keywords that are followed by a list of label names. */
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
/** Aggregation operators: a call, though `by (...)` may come between the name and its parenthesis. */
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
/** Keywords that stand alone: binary operators spelled as words, modifiers. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);

function readString(s: string, i: number): [string, number] {
  const quote = s[i];
  let out = '';
  let j = i + 1;
  for (; j < s.length && s[j] !== quote; j++) {
    if (s[j] === '\\' && quote !== '`') j++;
    out += s[j];
  }
  assert.ok(j < s.length, `unterminated string in ${s}`);
  return [out, j + 1];
}

/** PromQL's lexical structure, as far as finding metric names and labels needs it. */
export function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    const rest = expr.slice(i);
    if (/\s/.test(c)) i++;
    else if (c === '"' || c === "'" || c === '`') {
      const [text, next] = readString(expr, i);
      tokens.push({ kind: 'other', text });
      i = next;
    } else if (c === '{') {
      // Label matchers: name op "value", separated by commas.
      const matchers: Matcher[] = [];
      i++;
      for (;;) {
        while (/[\s,]/.test(expr[i])) i++;
        if (expr[i] === '}') break;
        const m = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*/.exec(expr.slice(i));
        assert.ok(m, `a label matcher at ${expr.slice(i, i + 20)} in ${expr}`);
        i += m[0].length;
        const [value, next] = readString(expr, i);
        matchers.push({ label: m[1], op: m[2], value });
        i = next;
      }
      tokens.push({ kind: 'matchers', matchers });
      i++;
    } else if (c === '[') {
      // A range or subquery's duration: [5m], [$__rate_interval], [1h:1m].
      const end = expr.indexOf(']', i);
      assert.ok(end > i, `unterminated range in ${expr}`);
      tokens.push({ kind: 'other', text: expr.slice(i, end + 1) });
      i = end + 1;
    } else if (c === '$') {
      const m = /^\$\{?[a-zA-Z0-9_]+\}?/.exec(rest)!;
      tokens.push({ kind: 'other', text: m[0] });
      i += m[0].length;
    } else if (/[0-9.]/.test(c)) {
      // Numbers and durations (offset 5m): 0.99, 1e3, 10m.
      const m = /^(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?([smhdwy]|ms)?)/.exec(rest)!;
      tokens.push({ kind: 'other', text: m[0] });
      i += m[0].length;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rest)!;
      tokens.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    } else {
      const m = /^(==|!=|<=|>=|=~|!~|[-+*/%^<>(),=])/.exec(rest);
      assert.ok(m, `unexpected ${c} in ${expr}`);
      tokens.push({ kind: 'punct', text: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

/** The metrics (with their matchers) and grouping labels an expression uses. */
export function analyse(expr: string): Query {
  const tokens = tokenize(expr);
  const q: Query = { metrics: [], grouping: [] };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    if (t.kind === 'matchers') {
      // A bare selector: {__name__="x", ...}.
      const name = t.matchers.find((m) => m.label === '__name__' && m.op === '=');
      assert.ok(name, `a selector without a metric name in ${expr}`);
      q.metrics.push({ name: name.value, matchers: t.matchers.filter((m) => m !== name) });
    }
    if (t.kind !== 'ident') continue;
    const call = next?.kind === 'punct' && next.text === '(';
    if (GROUPING.has(t.text)) {
      if (!call) continue; // group_left without labels
      for (
        i += 2;
        i < tokens.length && !(tokens[i].kind === 'punct' && (tokens[i] as { text: string }).text === ')');
        i++
      ) {
        const l = tokens[i];
        if (l.kind === 'ident') q.grouping.push(l.text);
      }
    } else if (KEYWORDS.has(t.text.toLowerCase()) || AGGREGATIONS.has(t.text) || call) {
      // An operator word, or a function or aggregation: not a metric.
    } else {
      q.metrics.push({ name: t.text, matchers: next?.kind === 'matchers' ? next.matchers : [] });
      if (next?.kind === 'matchers') i++;
    }
  }
  return q;
}

// ------------------------------------------------------------------ what the broker exports

interface Exported {
  /** Family name -> type, from `# TYPE` lines. */
  types: Map<string, string>;
  /** Sample name (a family, or a histogram's _bucket/_sum/_count) -> the labels its samples carry. */
  labels: Map<string, Set<string>>;
  /** Label values seen, per sample name and label. */
  values: Map<string, Set<string>>;
}

function parseExposition(texts: string[]): Exported {
  const e: Exported = { types: new Map(), labels: new Map(), values: new Map() };
  for (const text of texts)
    for (const line of text.split('\n')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) e.types.set(type[1], type[2]);
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? \S+$/.exec(line);
      assert.ok(m, `an exposition line: ${line}`);
      const labels = e.labels.get(m[1]) ?? new Set<string>();
      for (const [, l, v] of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels.add(l);
        const key = `${m[1]}/${l}`;
        e.values.set(key, (e.values.get(key) ?? new Set()).add(v));
      }
      e.labels.set(m[1], labels);
    }
  return e;
}

/** Series Prometheus makes itself for each target. */
const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

/** The family a sample name belongs to, or null when the broker exports no such family. */
function familyOf(name: string, e: Exported): string | null {
  const type = e.types.get(name);
  if (type !== undefined) return type === 'histogram' || type === 'summary' ? null : name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return null;
  const base = e.types.get(m[1]);
  if (base === 'histogram' || (base === 'summary' && m[2] !== 'bucket')) return m[1];
  return null;
}

/** gRPC methods (every rpc of proto/) and Kafka API names: the values of the `method` label. */
function knownMethods(): Set<string> {
  const methods = new Set<string>(Object.keys(API_KEYS));
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, f.name);
      if (f.isDirectory()) walk(p);
      else if (f.name.endsWith('.proto'))
        for (const [, m] of readFileSync(p, 'utf8').matchAll(/^\s*rpc\s+(\w+)/gm)) methods.add(m);
    }
  };
  walk(path.join(root, 'proto'));
  return methods;
}

// ------------------------------------------------------------------ the dashboards

interface Dashboard {
  file: string;
  json: Obj;
}

const dashboards: Dashboard[] = readdirSync(dashboardsDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, json: JSON.parse(readFileSync(path.join(dashboardsDir, file), 'utf8')) as Obj }));

/**
 * Counters a dashboard shows as they are: the skipped __consumer_offsets records are counted once,
 * as the broker loads the topic at start, so the first scrape already holds the whole count and
 * increase() would show nothing.
 */
const COUNTERS_READ_RAW = new Set(['consumer_offsets_records_skipped_total']);

/** Every panel, rows' nested panels included. */
function panelsOf(d: Obj): Obj[] {
  return (d.panels ?? []).flatMap((p: Obj) => [p, ...(p.panels ?? [])]);
}

interface Expression {
  where: string;
  expr: string;
}

/** Every PromQL expression of a dashboard: panel targets and query variables (label_values' selector). */
function expressionsOf({ file, json }: Dashboard): Expression[] {
  const out: Expression[] = [];
  for (const p of panelsOf(json))
    for (const t of p.targets ?? [])
      out.push({ where: `${file} (${json.title}), panel "${p.title}" ${t.refId}`, expr: t.expr });
  for (const v of json.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(q);
    assert.ok(m, `${file}: variable ${v.name}: a label_values(selector, label) query, not ${q}`);
    // The label asked for must be one the selector's series carry: check it as a grouping label.
    out.push({ where: `${file} (${json.title}), variable $${v.name}`, expr: `count by (${m[2]}) (${m[1]})` });
  }
  return out;
}

const datasourceUid = (() => {
  const ds = parse(
    readFileSync(path.join(grafana, 'provisioning/datasources/prometheus.yml'), 'utf8'),
  ) as Obj;
  assert.equal(ds.datasources.length, 1);
  const [prometheus] = ds.datasources;
  assert.equal(prometheus.type, 'prometheus');
  assert.equal(prometheus.url, 'http://prometheus:9090');
  assert.ok(prometheus.uid, 'the datasource has a fixed uid');
  return prometheus.uid as string;
})();

test('provisioning: the dashboards provider reads /etc/grafana/dashboards', () => {
  const p = parse(readFileSync(path.join(grafana, 'provisioning/dashboards/dashboards.yml'), 'utf8')) as Obj;
  assert.equal(p.apiVersion, 1);
  assert.equal(p.providers.length, 1);
  assert.equal(p.providers[0].type, 'file');
  assert.equal(p.providers[0].options.path, '/etc/grafana/dashboards');
});

test("the seed's four dashboards, well formed, on the provisioned datasource", () => {
  assert.deepEqual(dashboards.map((d) => d.json.title).sort(), [
    'Broker Overview',
    'Cluster Health',
    'Consumer Groups',
    'Storage Metrics',
  ]);
  const uids = dashboards.map((d) => d.json.uid);
  assert.equal(new Set(uids).size, uids.length, `unique dashboard uids: ${uids}`);
  for (const { file, json } of dashboards) {
    assert.match(json.uid, /^[a-zA-Z0-9_-]{1,40}$/, `${file}: uid`);
    assert.ok(json.schemaVersion >= 36, `${file}: schemaVersion ${json.schemaVersion}`);
    assert.equal(json.id, null, `${file}: no database id in a provisioned dashboard`);
    const variables = new Set<string>((json.templating?.list ?? []).map((v: Obj) => v.name));
    assert.ok(variables.has('instance'), `${file}: an instance variable`);
    for (const v of json.templating.list)
      if (v.type === 'query')
        assert.equal(v.datasource?.uid, datasourceUid, `${file}: variable ${v.name}'s datasource`);
    const ids = panelsOf(json).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${file}: unique panel ids`);
    for (const p of panelsOf(json)) {
      const where = `${file}, panel "${p.title}"`;
      assert.ok(p.title, `${file}: panel ${p.id} has a title`);
      const g = p.gridPos;
      assert.ok(
        g && g.w > 0 && g.h > 0 && g.x >= 0 && g.x + g.w <= 24,
        `${where}: gridPos within 24 columns`,
      );
      if (p.type === 'row') continue;
      assert.equal(p.datasource?.uid, datasourceUid, `${where}: datasource`);
      assert.ok(p.fieldConfig?.defaults?.unit, `${where}: a unit`);
      assert.ok(Array.isArray(p.targets) && p.targets.length > 0, `${where}: has targets`);
      const refIds = p.targets.map((t: Obj) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${where}: unique refIds`);
      for (const t of p.targets) {
        assert.equal(t.datasource?.uid, datasourceUid, `${where} ${t.refId}: datasource`);
        assert.ok(typeof t.expr === 'string' && t.expr.trim() !== '', `${where} ${t.refId}: an expression`);
        for (const [, name] of t.expr.matchAll(/\$\{?([a-zA-Z0-9_]+)/g))
          assert.ok(
            name.startsWith('__') || variables.has(name),
            `${where}: $${name} is a variable of the dashboard`,
          );
      }
    }
  }
});

test('the PromQL tokenizer finds metrics, matchers and grouping labels', () => {
  const q = analyse(
    'histogram_quantile(0.99, sum by (le, api) (rate(broker_request_duration_seconds_bucket{job=~"$job", method=~"Produce|Fetch"}[$__rate_interval]))) / on (instance) group_left scalar(max(up)) or vector(0) > bool 1',
  );
  assert.deepEqual(
    q.metrics.map((m) => m.name),
    ['broker_request_duration_seconds_bucket', 'up'],
  );
  assert.deepEqual(q.metrics[0].matchers, [
    { label: 'job', op: '=~', value: '$job' },
    { label: 'method', op: '=~', value: 'Produce|Fetch' },
  ]);
  assert.deepEqual(q.grouping, ['le', 'api', 'instance']);
  assert.deepEqual(analyse('{__name__="storage_total_bytes", node="a"} offset 5m').metrics, [
    { name: 'storage_total_bytes', matchers: [{ label: 'node', op: '=', value: 'a' }] },
  ]);
  assert.deepEqual(analyse('sum(x) without (topic, partition)').grouping, ['topic', 'partition']);
});

// ------------------------------------------------------------------ against a live broker

let cluster: RunningCluster;
let exported: Exported;

before(async () => {
  cluster = await startCluster({ nodes: 2 });
  const client = await BrokerClient.connect(cluster.nodes.map((n) => n.grpcAddress));
  try {
    await client.createTopic('dashboards', { partitions: 2, replicationFactor: 2 });
    for (let i = 0; i < 10; i++) await client.produce('dashboards', `record ${i}`, { partition: i % 2 });
    await client.consume('dashboards', 0, { partition: 0 });
    const consumer = client.consumer({
      groupId: 'dashboards-group',
      topics: 'dashboards',
      fromBeginning: true,
    });
    let seen = 0;
    for await (const _ of consumer) if (++seen === 10) break;
  } finally {
    client.close();
  }
  exported = parseExposition(
    await Promise.all(cluster.nodes.map(async (n) => (await fetch(`${n.metricsUrl}/metrics`)).text())),
  );
});

after(async () => {
  await cluster?.close();
});

test('every metric, label and method the dashboards query is one a running broker exports', (t) => {
  const methods = knownMethods();
  const failures: string[] = [];
  const used = new Set<string>();
  const unsampled = new Set<string>();
  for (const d of dashboards)
    for (const { where, expr } of expressionsOf(d)) {
      const q = analyse(expr);
      const labelsHere = new Set<string>(TARGET_LABELS);
      for (const m of q.metrics) {
        if (PROMETHEUS_SERIES.has(m.name)) continue;
        const family = familyOf(m.name, exported);
        if (family === null) {
          failures.push(`${where}: ${m.name} is not a metric the broker exports`);
          continue;
        }
        used.add(family);
        // A counter (a histogram's buckets, sum and count too) is read through rate() or increase(),
        // not as a raw total, which a restart resets.
        const counter = exported.types.get(family) !== 'gauge' && !COUNTERS_READ_RAW.has(m.name);
        if (counter && !new RegExp(`\\b(rate|increase|irate)\\(${m.name}\\b`).test(expr))
          failures.push(`${where}: ${m.name} is a counter, read without rate() or increase()`);
        const labels = exported.labels.get(m.name);
        if (labels === undefined || labels.size === 0) {
          unsampled.add(m.name);
          continue;
        }
        for (const l of labels) labelsHere.add(l);
        for (const matcher of m.matchers) {
          if (!TARGET_LABELS.includes(matcher.label) && !labels.has(matcher.label))
            failures.push(
              `${where}: ${m.name} has no label ${matcher.label} (it has ${[...labels].join(', ')})`,
            );
          if (matcher.label === 'method')
            for (const v of matcher.value.split('|'))
              if (!methods.has(v))
                failures.push(`${where}: method "${v}" is neither a gRPC method nor a Kafka API`);
        }
      }
      for (const l of q.grouping)
        if (!labelsHere.has(l) && q.metrics.every((m) => !unsampled.has(m.name)))
          failures.push(`${where}: groups by ${l}, a label none of its series carry`);
    }
  assert.deepEqual(failures, []);
  t.diagnostic(`dashboards use ${used.size} of ${exported.types.size} exported families`);
  if (unsampled.size > 0)
    t.diagnostic(`no samples yet (labels not checked): ${[...unsampled].sort().join(', ')}`);
  // The traffic made the lazily created series: the group and replication gauges at least.
  for (const name of ['consumer_group_lag', 'broker_replica_lag_offsets', 'broker_partition_isr_size'])
    assert.ok(!unsampled.has(name), `${name} has samples`);
});

test('the Prometheus scrape config, where present, scrapes /metrics on the metrics port', (t) => {
  const file = path.join(root, 'deploy/prometheus/prometheus.yml');
  if (!existsSync(file)) {
    t.skip('deploy/prometheus/prometheus.yml is not in this checkout');
    return;
  }
  const config = parse(readFileSync(file, 'utf8')) as Obj;
  const brokerJobs = (config.scrape_configs ?? []).filter((s: Obj) =>
    (s.static_configs ?? []).some((c: Obj) => (c.targets ?? []).some((x: string) => /:9090$/.test(x))),
  );
  assert.ok(brokerJobs.length > 0, 'a scrape config with broker targets on the metrics port 9090');
  for (const s of brokerJobs)
    assert.equal(s.metrics_path ?? '/metrics', '/metrics', `${s.job_name}: metrics_path`);
});
