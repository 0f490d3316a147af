/**
 * The Kubernetes manifests (issue 15), checked without a cluster. Each object that deploy/kubernetes
 * renders is validated against the Kubernetes OpenAPI schemas as the `kubernetes-models` package
 * compiles them (types, required fields, enums, formats) and strictly (no field the API does not
 * define, read from the models' declarations, as `kubectl --validate=strict` would refuse); the
 * ServiceMonitor the same way against the Prometheus Operator's CRD schema
 * (`@kubernetes-models/prometheus-operator`). The kustomization is rendered as
 * it is and with what a user changes (5 replicas, another image, another volume size) by a small
 * renderer here that knows the fields kustomization.yaml uses; where `kubectl` is on the PATH its
 * `kubectl kustomize` renders the same directories and must give the same objects, which keeps the
 * renderer honest. Then the entrypoint script of the StatefulSet runs in a real shell for several pod
 * ordinals, to check the node id, advertised name and join address it hands the broker.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Service } from 'kubernetes-models/v1/Service';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';

const root = new URL('../../', import.meta.url).pathname;
const k8sDir = path.join(root, 'deploy/kubernetes');
const scratch = mkdtempSync(path.join(tmpdir(), 'tsbroker-k8s-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML, checked field by field.
type Obj = Record<string, any>;

// ------------------------------------------------------------------ rendering

/** The objects of a YAML file, in order. */
function readObjects(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      assert.equal(d.errors.length, 0, `${file}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as Obj | null;
    })
    .filter((o): o is Obj => o !== null);
}

/** The fields of kustomization.yaml this renderer knows; anything else fails the test, not silently. */
const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'images', 'replicas', 'patches']);

/** A JSON pointer's segments (RFC 6901). */
const pointer = (p: string) =>
  p
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));

/** Applies JSON6902 operations (add, replace, remove: what a user writes for these objects). */
function applyJsonPatch(target: Obj, ops: Obj[]): void {
  for (const op of ops) {
    const keys = pointer(op.path);
    const last = keys.pop()!;
    let at: Obj = target;
    for (const k of keys) {
      assert.ok(at[k] !== undefined, `patch ${op.op} ${op.path}: no ${k}`);
      at = at[k];
    }
    if (op.op === 'replace') {
      assert.ok(last in at, `patch replace ${op.path}: nothing there to replace`);
      at[last] = op.value;
    } else if (op.op === 'add') {
      if (Array.isArray(at)) at.splice(last === '-' ? at.length : Number(last), 0, op.value);
      else at[last] = op.value;
    } else if (op.op === 'remove') {
      if (Array.isArray(at)) at.splice(Number(last), 1);
      else delete at[last];
    } else assert.fail(`patch op ${op.op} is not one this renderer knows`);
  }
}

/** The image reference `ref` becomes under kustomize's `images` entries. */
function retag(ref: string, images: Obj[]): string {
  const m = /^(.*?)(?::([^:/@]+))?(@sha256:[0-9a-f]+)?$/.exec(ref)!;
  const image = images.find((i) => i.name === m[1]);
  if (!image) return ref;
  const name = image.newName ?? m[1];
  if (image.digest) return `${name}@${image.digest}`;
  const tag = image.newTag ?? m[2];
  return tag === undefined ? name : `${name}:${tag}`;
}

/** Renders a kustomization directory: its resources (files or directories), then its transformers. */
function renderKustomization(dir: string): Obj[] {
  const k = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Obj;
  for (const field of Object.keys(k))
    assert.ok(
      KUSTOMIZATION_FIELDS.has(field),
      `${dir}/kustomization.yaml: field ${field} is not rendered here`,
    );
  const objects: Obj[] = [];
  for (const r of k.resources ?? []) {
    const p = path.join(dir, r);
    objects.push(...(r.endsWith('.yaml') ? readObjects(p) : renderKustomization(p)));
  }
  for (const o of objects) {
    const pod = o.spec?.template?.spec;
    for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])])
      c.image = retag(c.image, k.images ?? []);
    const replicas = (k.replicas ?? []).find((r: Obj) => r.name === o.metadata.name);
    if (replicas && 'replicas' in (o.spec ?? {})) o.spec.replicas = replicas.count;
    for (const p of k.patches ?? []) {
      const t = p.target ?? {};
      if ((t.kind && t.kind !== o.kind) || (t.name && t.name !== o.metadata.name)) continue;
      applyJsonPatch(o, parse(p.patch) as Obj[]);
    }
  }
  return objects;
}

/**
 * Whether a kubectl with kustomize 4 or later runs here. Debian's kubernetes-client (1.20) carries
 * kustomize 2.0.3, which predates the `replicas` and `patches` fields: no cross-check with that one.
 */
const kubectlRenders = (() => {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  const major = /Kustomize Version: v(\d+)/.exec(r.stdout ?? '')?.[1];
  return !r.error && r.status === 0 && Number(major) >= 4;
})();

/** `kubectl kustomize dir`, or null when no kubectl with a recent kustomize runs here. */
function kubectlKustomize(dir: string): Obj[] | null {
  if (!kubectlRenders) return null;
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `kubectl kustomize ${dir}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
}

const byKindName = (objects: Obj[]) =>
  Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]));

/** Renders `dir` here and, where kubectl runs, with kubectl too; both must agree. */
function render(dir: string): Obj[] {
  const objects = renderKustomization(dir);
  const theirs = kubectlKustomize(dir);
  if (theirs)
    assert.deepEqual(byKindName(objects), byKindName(theirs), `${dir}: kubectl kustomize renders otherwise`);
  return objects;
}

/**
 * A copy of deploy/kubernetes with an overlay beside it that changes what a user changes; with
 * `serviceMonitor`, the copy's kustomization.yaml has its servicemonitor.yaml line uncommented, as its
 * comment tells Prometheus Operator users to do.
 */
function overlay(kustomization: Obj, serviceMonitor: boolean): string {
  const dir = mkdtempSync(path.join(scratch, 'overlay-'));
  cpSync(k8sDir, path.join(dir, 'base'), { recursive: true });
  if (serviceMonitor) {
    const file = path.join(dir, 'base', 'kustomization.yaml');
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^ {2}# - servicemonitor\.yaml$/m);
    writeFileSync(file, text.replace(/^ {2}# - servicemonitor\.yaml$/m, '  - servicemonitor.yaml'));
  }
  mkdirSync(path.join(dir, 'overlay'));
  writeFileSync(
    path.join(dir, 'overlay', 'kustomization.yaml'),
    JSON.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      ...kustomization,
    }),
  );
  return path.join(dir, 'overlay');
}

// ------------------------------------------------------------------ validation

const MODELS: Record<string, { validate(): void } & (new (data: Obj) => { validate(): void })> = {
  'v1/Service': Service,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
} as never;

/** Each kind's model module, whose declaration file lists its fields. */
const MODEL_MODULES: Record<string, string> = {
  'v1/Service': 'kubernetes-models/v1/Service',
  'apps/v1/StatefulSet': 'kubernetes-models/apps/v1/StatefulSet',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
  'monitoring.coreos.com/v1/ServiceMonitor':
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
};

interface Shape {
  /** Field name -> its TypeScript type, as written. */
  fields: Map<string, string>;
  /** Imported type name -> the declaration file that defines it. */
  imports: Map<string, string>;
}

const shapes = new Map<string, Shape | null>();

/** The declaration file (.d.ts) of a module specifier, from `from` when it is relative. */
function declarationOf(spec: string, from?: string): string {
  const js =
    spec.startsWith('.') && from
      ? path.resolve(path.dirname(from), spec)
      : fileURLToPath(import.meta.resolve(spec));
  return `${js.replace(/\.js$/, '')}.d.ts`;
}

/**
 * The fields of the interface a kubernetes-models declaration file defines (null for a type alias
 * such as Quantity or IntOrString, which has no fields). The generated files hold one interface each,
 * with one `"name"?: Type;` per field of the OpenAPI definition.
 */
function shapeOf(file: string): Shape | null {
  if (shapes.has(file)) return shapes.get(file) ?? null;
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const imports = new Map<string, string>();
  for (const [, names, spec] of text.matchAll(/import \{([^}]+)\} from "([^"]+)"/g))
    for (const n of names.split(','))
      imports.set(
        n
          .trim()
          .split(/\s+as\s+/)
          .pop()!,
        spec,
      );
  const start = /export interface \w+(?: extends [\w, ]+)? \{/.exec(text);
  let shape: Shape | null = null;
  if (start) {
    const fields = new Map<string, string>();
    let i = start.index + start[0].length;
    for (;;) {
      const field = /^\s*"([^"]+)"\??:\s*/.exec(text.slice(i));
      if (!field) break;
      i += field[0].length;
      let depth = 0;
      let j = i;
      for (; j < text.length && !(depth === 0 && text[j] === ';'); j++) {
        if ('{<('.includes(text[j])) depth++;
        else if ('}>)'.includes(text[j])) depth--;
      }
      fields.set(field[1], text.slice(i, j).trim());
      i = j + 1;
    }
    assert.ok(fields.size > 0, `${file}: no fields read`);
    shape = { fields, imports: new Map([...imports].map(([n, spec]) => [n, declarationOf(spec, file)])) };
  }
  shapes.set(file, shape);
  return shape;
}

/**
 * Fields the Kubernetes API does not define: what `kubectl --validate=strict` refuses and the
 * OpenAPI validators let through (the API server drops them, so a misspelt probe or volume field
 * would be lost without a word). Walks the value along the model's declared types.
 */
function unknownFields(
  value: unknown,
  type: string,
  imports: Map<string, string>,
  at: string,
  out: string[],
) {
  const t = type.trim();
  const array = /^Array<(.+)>$/s.exec(t);
  const map = /^\{\s*\[key: string\]:\s*(.+?);?\s*\}$/s.exec(t);
  if (array && Array.isArray(value)) {
    for (const [i, v] of value.entries()) unknownFields(v, array[1], imports, `${at}[${i}]`, out);
  } else if (map && value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], imports, `${at}.${k}`, out);
  else if (imports.has(t) && value && typeof value === 'object' && !Array.isArray(value)) {
    const shape = shapeOf(imports.get(t)!);
    if (!shape) return;
    for (const [k, v] of Object.entries(value)) {
      const fieldType = shape.fields.get(k);
      if (fieldType === undefined)
        out.push(`${at}.${k} is not a field of ${path.basename(imports.get(t)!, '.d.ts')}`);
      else unknownFields(v, fieldType, shape.imports, `${at}.${k}`, out);
    }
  }
}

/** Validates each object against its schema, strictly; an object of a kind not known here fails. */
function validate(objects: Obj[], where: string): void {
  for (const o of objects) {
    const key = `${o.apiVersion}/${o.kind}`;
    const Model = MODELS[key];
    assert.ok(Model, `${where}: ${key} ${o.metadata?.name}: no schema for this kind here`);
    try {
      new Model(structuredClone(o)).validate();
    } catch (err) {
      assert.fail(
        `${where}: ${key} ${o.metadata?.name} does not match its schema: ${(err as Error).message}`,
      );
    }
    const unknown: string[] = [];
    unknownFields(o, 'Root', new Map([['Root', declarationOf(MODEL_MODULES[key])]]), o.kind, unknown);
    assert.deepEqual(unknown, [], `${where}: ${key} ${o.metadata?.name}: fields Kubernetes does not define`);
  }
}

/** The checks that must hold whatever a user changes. */
function checkCluster(objects: Obj[], want: { replicas: number; image: string; storage: string }) {
  const all = byKindName(objects);
  const sts = all['StatefulSet/tsbroker'];
  assert.ok(sts, 'a StatefulSet tsbroker');
  const pod = sts.spec.template.spec;
  const [broker] = pod.containers;
  assert.equal(sts.spec.replicas, want.replicas);
  assert.equal(broker.image, want.image);
  assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, want.storage);
  assert.equal(sts.spec.podManagementPolicy, 'Parallel');

  // The selector picks the template's pods, and the headless Service gives them their stable names.
  const labels = sts.spec.template.metadata.labels;
  const selects = (selector: Obj) =>
    Object.entries(selector).every(([k, v]) => labels[k] === v) && Object.keys(selector).length > 0;
  assert.ok(selects(sts.spec.selector.matchLabels), 'the StatefulSet selector matches its pods');
  const headless = all[`Service/${sts.spec.serviceName}`];
  assert.ok(headless, `the StatefulSet's serviceName ${sts.spec.serviceName} is a Service here`);
  assert.equal(headless.spec.clusterIP, 'None');
  assert.equal(headless.spec.publishNotReadyAddresses, true);
  assert.ok(selects(headless.spec.selector));
  const env = Object.fromEntries(broker.env.map((e: Obj) => [e.name, e.value]));
  assert.equal(env.HEADLESS_SERVICE, sts.spec.serviceName, 'the entrypoint names the headless Service');
  const client = all[`Service/${env.CLIENT_SERVICE}`];
  assert.ok(client && client.spec.clusterIP !== 'None', 'the entrypoint names the client Service');
  assert.ok(selects(client.spec.selector));

  // Every port a probe or a Service names is a port of the container.
  const ports = new Map(broker.ports.map((p: Obj) => [p.name, p.containerPort]));
  for (const [name, value] of Object.entries(env).filter(([n]) => /^BROKER_\w+_PORT$/.test(n)))
    assert.ok([...ports.values()].includes(Number(value)), `${name}=${value} is a container port`);
  for (const s of [headless, client])
    for (const p of s.spec.ports)
      assert.ok(ports.has(p.targetPort), `Service ${s.metadata.name} port ${p.name}`);
  const probes = { startupProbe: '/health', livenessProbe: '/health', readinessProbe: '/ready' };
  for (const [probe, p] of Object.entries(probes)) {
    assert.equal(broker[probe]?.httpGet?.path, p, `${probe} on ${p}`);
    assert.equal(ports.get(broker[probe].httpGet.port), Number(env.BROKER_METRICS_PORT), `${probe} port`);
  }

  // Shutdown: preStop waits for the broker's controlled shutdown, within the grace period.
  assert.match(broker.lifecycle.preStop.exec.command.join(' '), /kill -TERM 1; while kill -0 1/);
  const shutdownS = Number(/^(\d+)s$/.exec(env.BROKER_REPLICATION_CONTROLLED_SHUTDOWN_TIMEOUT)?.[1]);
  assert.ok(pod.terminationGracePeriodSeconds >= shutdownS + 30, 'the grace period covers the shutdown');

  // Non-root, with a fixed uid, writing only its volume and /tmp.
  assert.equal(pod.securityContext.runAsUser, 10001);
  assert.equal(pod.securityContext.fsGroup, 10001);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(broker.securityContext.readOnlyRootFilesystem, true);
  assert.equal(broker.securityContext.allowPrivilegeEscalation, false);
  const mounts = broker.volumeMounts.map((m: Obj) => m.mountPath);
  assert.ok(env.BROKER_DATA_DIR.startsWith(`${mounts[0]}/`), 'the data directory is on the volume');
  assert.ok(mounts.includes('/tmp'));
  assert.ok(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution.length > 0);
  assert.ok(broker.resources.requests.cpu && broker.resources.limits.memory);

  const pdb = all['PodDisruptionBudget/tsbroker'];
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.ok(selects(pdb.spec.selector.matchLabels));
  return { sts, broker, headless, env };
}

// ------------------------------------------------------------------ the entrypoint

interface Started {
  env: Record<string, string>;
  /** The URLs the script's readiness checks asked for. */
  asked: string[];
}

/**
 * Runs the StatefulSet's entrypoint as the pod `podName` would: a real `sh`, the container's env, a
 * data directory with or without a previous run's meta.properties, and in place of the broker a
 * command that prints the environment it was given. `node` (the readiness check) is a stand-in that
 * records the URL and answers ready or not as `peersReady` says.
 */
function runEntrypoint(
  broker: Obj,
  podName: string,
  opts: { restarted: boolean; peersReady: boolean },
): Started {
  const dir = mkdtempSync(path.join(scratch, 'pod-'));
  const dataDir = path.join(dir, 'data');
  if (opts.restarted) {
    mkdirSync(path.join(dataDir, 'meta'), { recursive: true });
    writeFileSync(path.join(dataDir, 'meta', 'meta.properties'), 'node.id=1\n');
  }
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const asked = path.join(dir, 'asked');
  writeFileSync(asked, '');
  writeFileSync(
    path.join(bin, 'node'),
    `#!/bin/sh\nfor a; do last="$a"; done\necho "$last" >> ${asked}\n${opts.peersReady ? 'exit 0' : 'exit 1'}\n`,
    { mode: 0o755 },
  );
  const env: Record<string, string> = { PATH: `${bin}:/usr/bin:/bin` };
  for (const e of broker.env) env[e.name] = e.value ?? '';
  env.POD_NAME = podName;
  env.POD_NAMESPACE = 'streaming';
  env.BROKER_DATA_DIR = dataDir;
  const [shell, flags, script, name] = broker.command;
  const out = execFileSync(shell, [flags, script, name, 'env'], { env, encoding: 'utf8', timeout: 10_000 });
  return {
    env: Object.fromEntries(
      out
        .split('\n')
        .filter((l) => l.startsWith('BROKER_'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    ),
    asked: readFileSync(asked, 'utf8').split('\n').filter(Boolean),
  };
}

function checkEntrypoint(broker: Obj, replicas: number): void {
  const peers = 'tsbroker-headless.streaming.svc.cluster.local';
  const join = `tsbroker-0.${peers}:8080`;
  for (let ordinal = 0; ordinal < replicas; ordinal++) {
    const pod = `tsbroker-${ordinal}`;
    for (const restarted of [false, true]) {
      const { env, asked } = runEntrypoint(broker, pod, { restarted, peersReady: ordinal > 0 && !restarted });
      const what = `${pod} (${restarted ? 'restarted' : 'first start'})`;
      // The broker reads this environment as meant: no unknown BROKER_* variable, every value valid.
      const { config, warnings } = loadConfig([], env);
      assert.deepEqual(warnings, [], `${what}: the broker warns of nothing in its environment`);
      assert.equal(config.numericNodeId, ordinal + 1);
      assert.equal(config.controlledShutdownTimeoutMs, 15_000);
      assert.equal(config.metricsPort, 9090);
      assert.equal(env.BROKER_NODE_ID, `node-${ordinal + 1}`, `${what}: node id from the ordinal`);
      assert.equal(env.BROKER_ADVERTISE_ADDR, `${pod}.${peers}`, `${what}: advertises its stable name`);
      // Pod 0 starts the cluster or rejoins from its data: it never joins itself.
      assert.equal(env.BROKER_JOIN_ADDR, ordinal === 0 ? undefined : join, `${what}: join address`);
      // A first start of a pod > 0 waits until pod 0 is ready; pod 0 looks for a running cluster.
      const wanted = restarted
        ? []
        : ordinal === 0
          ? ['http://tsbroker.streaming.svc.cluster.local:9090/ready']
          : [`http://tsbroker-0.${peers}:9090/ready`];
      assert.deepEqual(asked, wanted, `${what}: readiness checks`);
    }
  }
  // Pod 0 with an empty volume while the cluster runs (its volume was lost) joins through the client
  // Service instead of starting a second cluster.
  const lost = runEntrypoint(broker, 'tsbroker-0', { restarted: false, peersReady: true });
  assert.equal(lost.env.BROKER_JOIN_ADDR, 'tsbroker.streaming.svc.cluster.local:8080');
}

// ------------------------------------------------------------------ tests

test('every manifest matches the Kubernetes (and Prometheus Operator) schemas', () => {
  for (const f of ['broker.yaml', 'servicemonitor.yaml']) validate(readObjects(path.join(k8sDir, f)), f);
});

test('kustomization.yaml renders the three-node cluster; the entrypoint gives each pod its id and join address', (t) => {
  t.diagnostic(
    kubectlRenders
      ? 'rendered here and by kubectl kustomize: the same'
      : 'no kubectl with kustomize 4+: rendered here only',
  );
  const objects = render(k8sDir);
  validate(objects, 'kustomize deploy/kubernetes');
  const { broker } = checkCluster(objects, { replicas: 3, image: 'tsbroker:latest', storage: '10Gi' });
  // As it is (kubectl apply -f broker.yaml), the same objects as the default kustomization.
  assert.deepEqual(byKindName(readObjects(path.join(k8sDir, 'broker.yaml'))), byKindName(objects));
  checkEntrypoint(broker, 3);
});

test('with what a user changes (5 replicas, another image, 50Gi, the ServiceMonitor) the cluster is still right', () => {
  const dir = overlay(
    {
      resources: ['../base'],
      images: [{ name: 'tsbroker', newName: 'registry.example.com/streaming/tsbroker', newTag: '1.4.2' }],
      replicas: [{ name: 'tsbroker', count: 5 }],
      patches: [
        {
          target: { kind: 'StatefulSet', name: 'tsbroker' },
          patch: JSON.stringify([
            {
              op: 'replace',
              path: '/spec/volumeClaimTemplates/0/spec/resources/requests/storage',
              value: '50Gi',
            },
          ]),
        },
      ],
    },
    true,
  );
  const objects = render(dir);
  validate(objects, 'the overlay');
  const { broker, headless } = checkCluster(objects, {
    replicas: 5,
    image: 'registry.example.com/streaming/tsbroker:1.4.2',
    storage: '50Gi',
  });
  checkEntrypoint(broker, 5);
  // The ServiceMonitor scrapes the headless Service's metrics port, naming instances by pod.
  const sm = byKindName(objects)['ServiceMonitor/tsbroker'];
  assert.ok(
    Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => headless.metadata.labels[k] === v),
  );
  const endpoint = sm.spec.endpoints[0];
  assert.ok(headless.spec.ports.some((p: Obj) => p.name === endpoint.port));
  assert.equal(endpoint.path, '/metrics');
  assert.equal(endpoint.relabelings[0].targetLabel, 'instance');
});

test("the entrypoint's readiness check is 0 only for a 200 answer", async () => {
  const sts = readObjects(path.join(k8sDir, 'broker.yaml')).find((o) => o.kind === 'StatefulSet')!;
  const script: string = sts.spec.template.spec.containers[0].command[2];
  const js = /node -e '([^']+)'/.exec(script)?.[1];
  assert.ok(js, 'the script checks readiness with node -e');
  let status = 503;
  const server = createServer((_req, res) =>
    res.writeHead(status).end(status === 200 ? 'FOLLOWER' : 'NOT_READY'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/ready`;
  // Not spawnSync: the server answers from this process's event loop.
  const check = async (u = url) => (await once(spawn(process.execPath, ['-e', js, u]), 'exit'))[0];
  try {
    assert.equal(await check(), 1, 'NOT_READY is not ready');
    status = 200;
    assert.equal(await check(), 0, 'FOLLOWER is ready');
  } finally {
    server.close();
  }
  assert.equal(await check('http://127.0.0.1:1/ready'), 1, 'no answer');
});
