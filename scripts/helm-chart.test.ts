// Renders deploy/helm/fleet-hub without helm (not installable here: not in Debian 12, no npm
// package) and checks every manifest, so the chart cannot rot. The renderer accepts exactly the
// Go-template subset documented in the chart's README and refuses anything else, so a template
// that uses more fails here instead of rendering differently from helm.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml, stringify as toYamlText } from 'yaml';
import { configFromEnv } from '../hub/src/config/hub-config.js';
import { mqttSettingsFromEnv } from '../hub/src/mqtt/mqtt-settings.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const chartDir = join(repo, 'deploy/helm/fleet-hub');

// ---------------------------------------------------------------- the template subset renderer

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
interface Context {
  Values: Obj;
  Release: { Name: string; Namespace: string; Service: string };
  Chart: { Name: string; Version: string; AppVersion: string };
}
type Node =
  | { t: 'text'; s: string }
  | { t: 'out'; pipe: string }
  | { t: 'if'; cond: string; then: Node[]; else: Node[] };
interface Template {
  file: string;
  nodes: Node[];
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses a template file; returns its body and adds its `define`s to `defines`. */
function parseTemplate(file: string, src: string, defines: Map<string, Node[]>): Node[] {
  const root: Node[] = [];
  type Frame = {
    kind: 'root' | 'define' | 'if';
    nodes: Node[];
    node?: Extract<Node, { t: 'if' }>;
    name?: string;
  };
  const stack: Frame[] = [{ kind: 'root', nodes: root }];
  const top = () => stack[stack.length - 1]!;
  const action = /\{\{(-\s)?\s*([\s\S]*?)\s*(\s-)?\}\}/g;
  let last = 0;
  let trimNext = false;
  const pushText = (s: string, trimRight: boolean) => {
    let text = trimNext ? s.replace(/^\s+/, '') : s;
    if (trimRight) text = text.replace(/\s+$/, '');
    if (text) top().nodes.push({ t: 'text', s: text });
  };
  for (let m = action.exec(src); m; m = action.exec(src)) {
    pushText(src.slice(last, m.index), m[1] !== undefined);
    last = m.index + m[0].length;
    trimNext = m[3] !== undefined;
    const body = m[2]!;
    const where = `${file}:${src.slice(0, m.index).split('\n').length}`;
    const kw = /^(define|if|else|end|range|with|template|block|define|\/\*)\b/.exec(body)?.[1];
    if (kw === 'define') {
      const name = /^define "([^"]+)"$/.exec(body)?.[1];
      if (!name || stack.length !== 1) throw new Error(`${where}: bad or nested define: {{ ${body} }}`);
      stack.push({ kind: 'define', nodes: [], name });
    } else if (kw === 'if') {
      const cond = body.slice(2).trim();
      parsePipeline(cond, where);
      const node: Extract<Node, { t: 'if' }> = { t: 'if', cond: `${where}\0${cond}`, then: [], else: [] };
      top().nodes.push(node);
      stack.push({ kind: 'if', nodes: node.then, node });
    } else if (kw === 'else') {
      const f = top();
      if (body !== 'else' || f.kind !== 'if' || f.nodes !== f.node!.then)
        throw new Error(`${where}: unsupported or misplaced {{ ${body} }} (only a plain else inside if)`);
      f.nodes = f.node!.else;
    } else if (kw === 'end') {
      if (body !== 'end' || stack.length === 1) throw new Error(`${where}: unbalanced {{ end }}`);
      const f = stack.pop()!;
      if (f.kind === 'define') defines.set(f.name!, f.nodes);
    } else if (kw !== undefined) {
      throw new Error(
        `${where}: "${kw}" is outside the chart's template subset (see deploy/helm/fleet-hub/README.md)`,
      );
    } else {
      parsePipeline(body, where); // refuse unknown syntax even in branches the test does not take
      top().nodes.push({ t: 'out', pipe: `${where}\0${body}` });
    }
  }
  pushText(src.slice(last), false);
  if (stack.length !== 1) throw new Error(`${file}: ${stack.length - 1} unclosed block(s)`);
  return root;
}

type Cmd = string[]; // words; string literals keep their quotes
function parsePipeline(body: string, where: string): Cmd[] {
  const words = body.match(/"(?:[^"\\]|\\.)*"|\||[^\s|]+/g) ?? [];
  const cmds: Cmd[] = [[]];
  for (const w of words) {
    if (w === '|') cmds.push([]);
    else cmds[cmds.length - 1]!.push(w);
  }
  const arg =
    /^(\.Values(\.[A-Za-z_][A-Za-z0-9_]*)+|\.Release\.(Name|Namespace|Service)|\.Chart\.(Name|Version|AppVersion))$/;
  const str = /^"(?:[^"\\]|\\.)*"$/;
  cmds.forEach((c, i) => {
    const ok =
      i === 0
        ? (c.length === 1 && arg.test(c[0]!)) ||
          (c.length === 3 && c[0] === 'include' && str.test(c[1]!) && c[2] === '.') ||
          (c.length === 3 && c[0] === 'required' && str.test(c[1]!) && arg.test(c[2]!)) ||
          (c.length === 2 && ['toYaml', 'quote', 'not'].includes(c[0]!) && arg.test(c[1]!))
        : (c.length === 1 && c[0] === 'quote') ||
          (c.length === 2 && c[0] === 'nindent' && /^\d+$/.test(c[1]!));
    if (!ok)
      throw new Error(`${where}: "${c.join(' ')}" in {{ ${body} }} is outside the chart's template subset`);
  });
  return cmds;
}

function lookup(path: string, ctx: Context, where: string): Json {
  const [, root, ...keys] = path.split('.');
  let v: unknown = (ctx as unknown as Record<string, unknown>)[root!];
  for (const [i, k] of keys.entries()) {
    if (!isObj(v) || !(k in v))
      throw new Error(`${where}: ${path} does not exist (at .${[root, ...keys.slice(0, i + 1)].join('.')})`);
    v = v[k];
  }
  return v as Json;
}

const truthy = (v: Json): boolean =>
  v === null ? false : Array.isArray(v) ? v.length > 0 : isObj(v) ? Object.keys(v).length > 0 : Boolean(v);

function text(v: Json, where: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  // Helm reads values as float64: integers from 1e6 up print as 1e+06. Refuse instead of guessing.
  if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  throw new Error(
    `${where}: cannot print ${JSON.stringify(v)} as text (use toYaml for maps/lists, a string for big numbers)`,
  );
}

function evalPipeline(encoded: string, ctx: Context, defines: Map<string, Node[]>): Json {
  const [where, body] = encoded.split('\0') as [string, string];
  const [head, ...rest] = parsePipeline(body, where);
  let v: Json;
  const h = head!;
  if (h[0] === 'include') {
    const nodes = defines.get(JSON.parse(h[1]!) as string);
    if (!nodes) throw new Error(`${where}: include of undefined template ${h[1]}`);
    v = renderNodes(nodes, ctx, defines);
  } else if (h[0] === 'required') {
    v = lookup(h[2]!, ctx, where);
    if (v === null || v === '') throw new Error(`${where}: ${JSON.parse(h[1]!) as string}`);
  } else if (h[0] === 'toYaml') {
    v = toYamlText(lookup(h[1]!, ctx, where), { lineWidth: 0 }).replace(/\n$/, '');
  } else if (h[0] === 'quote') {
    v = JSON.stringify(text(lookup(h[1]!, ctx, where), where));
  } else if (h[0] === 'not') {
    v = !truthy(lookup(h[1]!, ctx, where));
  } else {
    v = lookup(h[0]!, ctx, where);
  }
  for (const c of rest) {
    if (c[0] === 'quote') v = JSON.stringify(text(v, where));
    else {
      const pad = ' '.repeat(Number(c[1]));
      v =
        '\n' +
        text(v, where)
          .split('\n')
          .map((l) => pad + l)
          .join('\n');
    }
  }
  return v;
}

function renderNodes(nodes: Node[], ctx: Context, defines: Map<string, Node[]>): string {
  let out = '';
  for (const n of nodes) {
    if (n.t === 'text') out += n.s;
    else if (n.t === 'out') out += text(evalPipeline(n.pipe, ctx, defines), n.pipe.split('\0')[0]!);
    else out += renderNodes(truthy(evalPipeline(n.cond, ctx, defines)) ? n.then : n.else, ctx, defines);
  }
  return out;
}

/** Helm's values merge: maps merge key by key, everything else replaces. */
function merge(base: Json, over: Json): Json {
  if (!isObj(base) || !isObj(over)) return over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? merge(base[k]!, v) : v;
  return out;
}

interface Rendered {
  file: string;
  doc: Obj;
}
function renderChart(overrides: Obj = {}, releaseName = 'prod'): Rendered[] {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Obj;
  const values = merge(
    parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Json,
    overrides,
  ) as Obj;
  const schemaErrors = validate(valuesSchema(), values, '$');
  if (schemaErrors.length)
    throw new Error(`values do not match values.schema.json:\n${schemaErrors.join('\n')}`);
  const ctx: Context = {
    Values: values,
    Release: { Name: releaseName, Namespace: 'fleet', Service: 'Helm' },
    Chart: { Name: String(chart.name), Version: String(chart.version), AppVersion: String(chart.appVersion) },
  };
  const defines = new Map<string, Node[]>();
  const dir = join(chartDir, 'templates');
  const files = readdirSync(dir).sort();
  const templates: Template[] = [];
  for (const f of files) {
    if (!/\.(yaml|tpl)$/.test(f)) throw new Error(`templates/${f}: unexpected file`);
    const nodes = parseTemplate(`templates/${f}`, readFileSync(join(dir, f), 'utf8'), defines);
    if (f.endsWith('.yaml')) templates.push({ file: f, nodes });
  }
  const out: Rendered[] = [];
  for (const t of templates) {
    const src = renderNodes(t.nodes, ctx, defines);
    for (const d of parseAllDocuments(src, { uniqueKeys: true })) {
      if (d.errors.length)
        throw new Error(`templates/${t.file}: ${d.errors.map((e) => e.message).join('; ')}\n${src}`);
      const doc = d.toJS() as Json;
      if (doc === null) continue; // an empty document (a disabled template, comments only)
      if (!isObj(doc)) throw new Error(`templates/${t.file}: a document is not a map`);
      out.push({ file: t.file, doc });
    }
  }
  return out;
}

// ---------------------------------------------------------------- a JSON-schema subset check

type Schema = { [k: string]: unknown };
const keywords = new Set([
  '$schema',
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'minItems',
]);
function validate(schema: Schema, v: unknown, path: string): string[] {
  for (const k of Object.keys(schema))
    if (!keywords.has(k)) throw new Error(`schema keyword "${k}" at ${path} is not supported`);
  const errs: string[] = [];
  const type = schema.type as string | undefined;
  const actual =
    v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;
  if (type && !(type === actual || (type === 'number' && actual === 'integer')))
    return [`${path}: expected ${type}, got ${actual}`];
  if (schema.enum && !(schema.enum as unknown[]).includes(v))
    errs.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof v === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern as string, 'u').test(v))
      errs.push(`${path}: "${v}" does not match ${String(schema.pattern)}`);
    if (typeof schema.minLength === 'number' && v.length < schema.minLength)
      errs.push(`${path}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && v.length > schema.maxLength)
      errs.push(`${path}: longer than ${schema.maxLength}`);
  }
  if (typeof v === 'number') {
    if (typeof schema.minimum === 'number' && v < schema.minimum)
      errs.push(`${path}: ${v} < ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && v > schema.maximum)
      errs.push(`${path}: ${v} > ${schema.maximum}`);
  }
  if (Array.isArray(v)) {
    if (typeof schema.minItems === 'number' && v.length < schema.minItems)
      errs.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.items) v.forEach((x, i) => errs.push(...validate(schema.items as Schema, x, `${path}[${i}]`)));
  }
  if (isObj(v)) {
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in v)) errs.push(`${path}.${r}: required`);
    for (const [k, x] of Object.entries(v)) {
      if (props[k]) errs.push(...validate(props[k], x, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}.${k}: unknown field`);
      else if (isObj(schema.additionalProperties))
        errs.push(...validate(schema.additionalProperties, x, `${path}.${k}`));
    }
  }
  return errs;
}

const valuesSchema = () => JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Schema;

// ---------------------------------------------------------------- Kubernetes fields the chart uses

const obj = (
  properties: Record<string, Schema>,
  required: string[] = [],
  additionalProperties: unknown = false,
): Schema => ({
  type: 'object',
  properties,
  required,
  additionalProperties,
});
const str: Schema = { type: 'string', minLength: 1 };
const int: Schema = { type: 'integer', minimum: 0 };
const list = (items: Schema, minItems = 0): Schema => ({ type: 'array', items, minItems });
const dnsLabel: Schema = { type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
const dnsSubdomain: Schema = {
  type: 'string',
  maxLength: 253,
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
};
const labels: Schema = {
  type: 'object',
  additionalProperties: {
    type: 'string',
    maxLength: 63,
    pattern: '^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$',
  },
};
// Annotation values must be strings: an unquoted `8080` would be refused by the API server.
const annotations: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const metadata = (name: Schema) => obj({ name, labels, annotations }, ['name', 'labels']);
const any: Schema = {};
const httpProbe = obj(
  {
    httpGet: obj({ path: { type: 'string', pattern: '^/' }, port: str }, ['path', 'port']),
    initialDelaySeconds: int,
    periodSeconds: int,
    timeoutSeconds: int,
    failureThreshold: int,
  },
  ['httpGet'],
);
const envVar = obj(
  {
    name: { type: 'string', pattern: '^[A-Z_][A-Z0-9_]*$' },
    value: { type: 'string' },
    valueFrom: obj({
      fieldRef: obj({ fieldPath: str }, ['fieldPath']),
      secretKeyRef: obj({ name: str, key: str }, ['name', 'key']),
    }),
  },
  ['name'],
);
const securityContext = obj(
  {
    allowPrivilegeEscalation: { type: 'boolean', enum: [false] },
    readOnlyRootFilesystem: { type: 'boolean' },
    runAsNonRoot: { type: 'boolean', enum: [true] },
    capabilities: obj({ drop: list(str), add: list(str) }),
  },
  ['allowPrivilegeEscalation'],
);
const container = obj(
  {
    name: dnsLabel,
    image: { type: 'string', pattern: '^[^\\s:]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$' },
    imagePullPolicy: { type: 'string', enum: ['Always', 'IfNotPresent', 'Never'] },
    command: list({ type: 'string' }, 1),
    ports: list(
      obj(
        {
          name: { type: 'string', maxLength: 15, pattern: '^[a-z0-9-]+$' },
          containerPort: { type: 'integer', minimum: 1, maximum: 65535 },
          protocol: { type: 'string', enum: ['TCP', 'UDP'] },
        },
        ['containerPort'],
      ),
    ),
    env: list(envVar),
    envFrom: list(obj({ secretRef: obj({ name: dnsSubdomain }, ['name']) }, ['secretRef'])),
    readinessProbe: httpProbe,
    livenessProbe: httpProbe,
    startupProbe: httpProbe,
    securityContext,
    resources: obj({ requests: labels, limits: labels }),
    volumeMounts: list(
      obj({ name: dnsLabel, mountPath: { type: 'string', pattern: '^/' } }, ['name', 'mountPath']),
    ),
  },
  ['name', 'image', 'securityContext', 'resources'],
);
const podSpec = obj(
  {
    restartPolicy: { type: 'string', enum: ['Always', 'OnFailure', 'Never'] },
    imagePullSecrets: list(obj({ name: str }, ['name'])),
    terminationGracePeriodSeconds: int,
    securityContext: obj(
      {
        runAsNonRoot: { type: 'boolean', enum: [true] },
        runAsUser: { type: 'integer', minimum: 1 },
        runAsGroup: int,
        fsGroup: int,
        seccompProfile: any,
      },
      ['runAsNonRoot'],
    ),
    nodeSelector: labels,
    tolerations: list(any),
    affinity: any,
    containers: list(container, 1),
    volumes: list(
      obj(
        {
          name: dnsLabel,
          persistentVolumeClaim: obj({ claimName: dnsSubdomain }, ['claimName']),
          emptyDir: any,
        },
        ['name'],
      ),
    ),
  },
  ['containers', 'securityContext'],
);
const podTemplate = obj({ metadata: obj({ labels, annotations }, ['labels']), spec: podSpec }, [
  'metadata',
  'spec',
]);
const selector = obj({ matchLabels: labels }, ['matchLabels']);

const kinds: Record<string, { apiVersion: string; spec: Schema; nameSchema?: Schema }> = {
  Deployment: {
    apiVersion: 'apps/v1',
    spec: obj(
      {
        replicas: { type: 'integer', minimum: 1 },
        revisionHistoryLimit: int,
        strategy: obj({
          type: { type: 'string', enum: ['RollingUpdate'] },
          rollingUpdate: obj({ maxUnavailable: int, maxSurge: int }),
        }),
        selector,
        template: podTemplate,
      },
      ['replicas', 'selector', 'template'],
    ),
  },
  Job: {
    apiVersion: 'batch/v1',
    spec: obj({ backoffLimit: int, activeDeadlineSeconds: int, template: podTemplate }, ['template']),
  },
  Service: {
    apiVersion: 'v1',
    nameSchema: dnsLabel,
    spec: obj(
      {
        type: { type: 'string', enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] },
        selector: labels,
        ports: list(
          obj(
            {
              name: dnsLabel,
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              targetPort: str,
              protocol: { type: 'string', enum: ['TCP'] },
            },
            ['port', 'targetPort'],
          ),
          1,
        ),
      },
      ['selector', 'ports'],
    ),
  },
  PodDisruptionBudget: {
    apiVersion: 'policy/v1',
    spec: obj({ minAvailable: int, selector }, ['minAvailable', 'selector']),
  },
  PersistentVolumeClaim: {
    apiVersion: 'v1',
    spec: obj(
      {
        accessModes: list({ type: 'string', enum: ['ReadWriteMany'] }, 1),
        storageClassName: str,
        resources: obj(
          {
            requests: obj({ storage: { type: 'string', pattern: '^[1-9][0-9]*(Ki|Mi|Gi|Ti|Pi)$' } }, [
              'storage',
            ]),
          },
          ['requests'],
        ),
      },
      ['accessModes', 'resources'],
    ),
  },
  Ingress: {
    apiVersion: 'networking.k8s.io/v1',
    spec: obj(
      {
        ingressClassName: str,
        tls: list(obj({ hosts: list(dnsSubdomain, 1), secretName: dnsSubdomain }, ['hosts', 'secretName'])),
        rules: list(
          obj(
            {
              host: dnsSubdomain,
              http: obj(
                {
                  paths: list(
                    obj(
                      {
                        path: str,
                        pathType: { type: 'string', enum: ['Prefix', 'Exact'] },
                        backend: obj(
                          {
                            service: obj({ name: dnsLabel, port: obj({ name: str }, ['name']) }, [
                              'name',
                              'port',
                            ]),
                          },
                          ['service'],
                        ),
                      },
                      ['path', 'pathType', 'backend'],
                    ),
                    1,
                  ),
                },
                ['paths'],
              ),
            },
            ['host', 'http'],
          ),
          1,
        ),
      },
      ['rules'],
    ),
  },
  Secret: { apiVersion: 'v1', spec: any },
};

function checkManifest(r: Rendered): string[] {
  const k = kinds[String(r.doc.kind)];
  if (!k) return [`${r.file}: unknown kind ${String(r.doc.kind)}`];
  const schema =
    r.doc.kind === 'Secret'
      ? obj(
          {
            apiVersion: str,
            kind: str,
            metadata: metadata(dnsSubdomain),
            type: { type: 'string', enum: ['Opaque'] },
            stringData: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
          },
          ['apiVersion', 'kind', 'metadata', 'type', 'stringData'],
        )
      : obj(
          {
            apiVersion: { type: 'string', enum: [k.apiVersion] },
            kind: str,
            metadata: metadata(k.nameSchema ?? dnsSubdomain),
            spec: k.spec,
          },
          ['apiVersion', 'kind', 'metadata', 'spec'],
        );
  return validate(schema, r.doc, `${r.file}(${String(r.doc.kind)})`);
}

// ---------------------------------------------------------------- the hub's environment

/** Every variable the chart may set, and the hub source file that reads it. */
const hubEnv: Record<string, string> = {
  ...Object.fromEntries(
    'DATABASE_URL MQTT_URL HUB_PORT HUB_HOST HUB_PUBLIC_URL HUB_MQTT_PUBLIC_URL OBJECT_DIR HUB_DATA_DIR HUB_ADMIN_EMAIL HUB_ADMIN_PASSWORD HUB_BODY_LIMIT_BYTES HUB_MAX_OBJECT_BYTES HUB_SESSION_TTL_HOURS HUB_TELEMETRY_RETENTION_DAYS HUB_LOG_RETENTION_DAYS HUB_LOG_LEVEL HUB_TRUST_PROXY'
      .split(' ')
      .map((n) => [n, 'hub/src/config/hub-config.ts']),
  ),
  ...Object.fromEntries(
    'MQTT_ADMIN_USERNAME MQTT_ADMIN_PASSWORD MQTT_HUB_USERNAME MQTT_HUB_PASSWORD'
      .split(' ')
      .map((n) => [n, 'hub/src/mqtt/mqtt-settings.ts']),
  ),
};

const secrets = {
  databaseUrl: 'postgresql://fleet:pw@postgres.db.svc:5432/fleet',
  mqttAdminUsername: 'admin',
  mqttAdminPassword: 'admin-password',
  mqttHubPassword: 'hub-password-1',
};
const required: Obj = {
  hub: { publicUrl: 'https://hub.example.test' },
  mqtt: { url: 'mqtt://mosquitto.broker.svc:1883' },
  secrets,
};
const variant: Obj = {
  replicaCount: 3,
  hub: { publicUrl: 'https://hub.example.test', trustProxy: 'true' },
  mqtt: { url: 'mqtt://emqx.broker.svc:1883', publicUrl: 'mqtts://mqtt.example.test:8883' },
  secrets: { ...secrets, adminEmail: 'ops@example.test', adminPassword: 'first-admin-pw' },
  ingress: {
    enabled: true,
    className: 'nginx',
    host: 'hub.example.test',
    tlsSecretName: 'hub-tls',
    annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '0' },
  },
  objectStorage: { storageClassName: 'cephfs' },
  extraEnv: [{ name: 'HUB_LOG_RETENTION_DAYS', value: '7' }],
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are checked by schema above, then read freely
type Manifest = Record<string, any>;
const byKind = (docs: Rendered[], kind: string): Manifest[] =>
  docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);
function one(docs: Rendered[], kind: string): Manifest {
  const found = byKind(docs, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`);
  return found[0]!;
}

function checkChart(
  docs: Rendered[],
  values: { replicas: number; ingress: boolean; ownSecret: boolean },
): void {
  expect(docs.flatMap(checkManifest)).toEqual([]);
  const names = docs.map((d) => `${String(d.doc.kind)}/${String((d.doc.metadata as Obj).name)}`);
  expect(new Set(names).size).toBe(names.length);

  const deploy = one(docs, 'Deployment');
  const job = one(docs, 'Job');
  const service = one(docs, 'Service');
  const pdb = one(docs, 'PodDisruptionBudget');
  const [pvc] = byKind(docs, 'PersistentVolumeClaim');
  const secretDocs = byKind(docs, 'Secret');
  expect(deploy.spec.replicas).toBe(values.replicas);
  expect(byKind(docs, 'Ingress')).toHaveLength(values.ingress ? 1 : 0);
  expect(secretDocs).toHaveLength(values.ownSecret ? 1 : 0);

  const pod = deploy.spec.template;
  const hub = pod.spec.containers[0];
  const portNames = hub.ports.map((p: { name: string }) => p.name);
  expect(hub.readinessProbe.httpGet.path).toBe('/readyz');
  expect(hub.livenessProbe.httpGet.path).toBe('/healthz');
  for (const p of [hub.readinessProbe, hub.livenessProbe, hub.startupProbe])
    expect(portNames).toContain(p.httpGet.port);
  expect(pod.metadata.annotations).toMatchObject({
    'prometheus.io/scrape': 'true',
    'prometheus.io/path': '/metrics',
    'prometheus.io/port': String(hub.ports[0].containerPort),
  });
  expect(pod.spec.securityContext.runAsNonRoot).toBe(true);

  // Selectors find the hub pods; the Service's port and the PVC are the ones the pod uses.
  for (const sel of [deploy.spec.selector.matchLabels, service.spec.selector, pdb.spec.selector.matchLabels])
    expect(pod.metadata.labels).toMatchObject(sel);
  expect(service.spec.ports[0].targetPort).toBe('http');
  const claim = pod.spec.volumes.find((v: { persistentVolumeClaim?: unknown }) => v.persistentVolumeClaim);
  if (pvc) expect(claim.persistentVolumeClaim.claimName).toBe(pvc.metadata.name);
  expect(hub.volumeMounts.find((m: { name: string }) => m.name === claim.name).mountPath).toBe(
    hub.env.find((e: { name: string }) => e.name === 'HUB_DATA_DIR').value,
  );

  // The migration Job runs before the release's resources on install and upgrade, with the same
  // image and Secret; a chart-made Secret is itself an earlier hook so the Job can read it.
  expect(job.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
  expect(job.metadata.annotations['helm.sh/hook-delete-policy']).toContain('before-hook-creation');
  expect(job.spec.template.spec.restartPolicy).toBe('Never');
  const migrate = job.spec.template.spec.containers[0];
  expect(migrate.image).toBe(hub.image);
  expect(migrate.envFrom).toEqual(hub.envFrom);
  // The Job runs the hub's migrate-only entry point; its source must exist.
  expect(migrate.command).toEqual(['node', '/app/hub/dist/scripts/migrate.js']);
  expect(existsSync(new URL('../hub/src/scripts/migrate.ts', import.meta.url))).toBe(true);
  for (const s of secretDocs) {
    expect(s.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(Number(s.metadata.annotations['helm.sh/hook-weight'])).toBeLessThan(
      Number(job.metadata.annotations['helm.sh/hook-weight']),
    );
    expect(hub.envFrom[0].secretRef.name).toBe(s.metadata.name);
  }

  // Every variable is one the hub reads, and the hub accepts the whole rendered environment.
  const env: Record<string, string> = {};
  for (const s of secretDocs) Object.assign(env, s.stringData);
  for (const e of hub.env as { name: string; value?: string }[]) {
    expect(hubEnv, `${e.name} is not a hub variable`).toHaveProperty(e.name);
    if (e.value !== undefined) env[e.name] = e.value;
  }
  for (const name of Object.keys(env)) expect(hubEnv, `${name} is not a hub variable`).toHaveProperty(name);
  if (values.ownSecret) {
    const config = configFromEnv(env);
    expect(config.databaseUrl).toBe(secrets.databaseUrl);
    expect(config.port).toBe(hub.ports[0].containerPort);
    expect(mqttSettingsFromEnv(env, config)).toMatchObject({ mode: 'mosquitto', hubUsername: 'fleet-hub' });
  }
  if (values.ingress) {
    const ingress = one(docs, 'Ingress');
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    expect(backend.name).toBe(service.metadata.name);
    expect(service.spec.ports.map((p: { name: string }) => p.name)).toContain(backend.port.name);
  }
}

// ---------------------------------------------------------------- tests

describe('deploy/helm/fleet-hub', () => {
  it('names only environment variables the hub source reads', () => {
    for (const [name, file] of Object.entries(hubEnv))
      expect(readFileSync(join(repo, file), 'utf8'), `${name} in ${file}`).toContain(`env.${name}`);
  });

  it('values.yaml matches values.schema.json and documents every key', () => {
    const src = readFileSync(join(chartDir, 'values.yaml'), 'utf8');
    expect(validate(valuesSchema(), parseYaml(src), '$')).toEqual([]);
    // Line by line: every key line has a comment right above it, or is a nested key of a
    // documented block (securityContext fields, resources, ...).
    const lines = src.split('\n');
    lines.forEach((l, i) => {
      if (/^[a-zA-Z]/.test(l) || /^ {2}[a-zA-Z]\w*:/.test(l)) {
        const parent = /^ {2}/.test(l)
          ? lines
              .slice(0, i)
              .reverse()
              .find((p) => /^[a-zA-Z]/.test(p))
          : undefined;
        const parentKey = parent?.split(':')[0];
        if (parentKey && ['podSecurityContext', 'securityContext', 'resources'].includes(parentKey)) return;
        expect(lines[i - 1], `values.yaml line ${i + 1} "${l}" has no comment above it`).toMatch(/^\s*#/);
      }
    });
  });

  it('refuses values that break the schema, naming the path', () => {
    expect(() => renderChart({ ...required, replicaCount: 0 })).toThrow('$.replicaCount: 0 < 1');
    expect(() => renderChart({ ...required, replicas: 2 })).toThrow('$.replicas: unknown field');
    expect(() => renderChart({ ...required, service: { port: '8080' } })).toThrow(
      '$.service.port: expected integer, got string',
    );
    expect(() => renderChart({ ...required, hub: { maxObjectBytes: 8589934592 } })).toThrow(
      '$.hub.maxObjectBytes: expected string',
    );
    expect(() => renderChart({ ...required, secrets: { ...secrets, mqttHubPassword: 'short' } })).toThrow(
      '$.secrets.mqttHubPassword',
    );
    expect(() => renderChart({ ...required, podSecurityContext: { runAsNonRoot: false } })).toThrow(
      '$.podSecurityContext.runAsNonRoot',
    );
  });

  it('renders the defaults (plus the required values) into valid manifests', () => {
    const docs = renderChart(required);
    expect(docs.map((d) => d.doc.kind).sort()).toEqual([
      'Deployment',
      'Job',
      'PersistentVolumeClaim',
      'PodDisruptionBudget',
      'Secret',
      'Service',
    ]);
    checkChart(docs, { replicas: 2, ingress: false, ownSecret: true });
    expect((docs.find((d) => d.doc.kind === 'Deployment')!.doc.metadata as Obj).name).toBe('prod-fleet-hub');
  });

  it('renders a variant: ingress with TLS, 3 replicas, first admin, extra env', () => {
    const docs = renderChart(variant);
    checkChart(docs, { replicas: 3, ingress: true, ownSecret: true });
    const secret = one(docs, 'Secret');
    expect(secret.stringData).toMatchObject({ HUB_ADMIN_EMAIL: 'ops@example.test' });
    const ingress = one(docs, 'Ingress');
    expect(ingress.spec.tls[0]).toEqual({ hosts: ['hub.example.test'], secretName: 'hub-tls' });
  });

  it('renders with an existing Secret and claim: creates neither, references both', () => {
    const docs = renderChart({
      hub: { publicUrl: 'https://hub.example.test' },
      mqtt: { url: 'mqtt://mosquitto.broker.svc:1883' },
      secrets: { existingSecret: 'fleet-hub-credentials' },
      objectStorage: { existingClaim: 'fleet-objects' },
      podDisruptionBudget: { enabled: false },
    });
    expect(docs.map((d) => d.doc.kind).sort()).toEqual(['Deployment', 'Job', 'Service']);
    const deploy = one(docs, 'Deployment');
    expect(deploy.spec.template.spec.containers[0].envFrom[0].secretRef.name).toBe('fleet-hub-credentials');
    expect(one(docs, 'Job').spec.template.spec.containers[0].envFrom[0].secretRef.name).toBe(
      'fleet-hub-credentials',
    );
    expect(deploy.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).toBe('fleet-objects');
  });

  it('fails with the chart message when a required value is missing', () => {
    expect(() => renderChart()).toThrow(/hub\.publicUrl is required/);
    expect(() => renderChart({ hub: required.hub!, mqtt: required.mqtt! })).toThrow(
      /secrets\.databaseUrl is required/,
    );
    expect(() => renderChart({ ...required, mqtt: { url: '' } })).toThrow(/mqtt\.url is required/);
    expect(() => renderChart({ ...required, ingress: { enabled: true } })).toThrow(
      /ingress\.host is required/,
    );
    expect(() => renderChart({ ...required, secrets: { ...secrets, adminEmail: 'a@b.test' } })).toThrow(
      /secrets\.adminPassword is required/,
    );
  });

  it('an invalid release name makes invalid object names', () => {
    expect(renderChart(required, 'Prod_1').flatMap(checkManifest).join('\n')).toMatch(
      /metadata\.name: "Prod_1-fleet-hub" does not match/,
    );
  });

  describe('the renderer refuses what it does not implement', () => {
    const ctx: Context = {
      Values: { a: 'x', n: 1048576, m: { k: 1 } },
      Release: { Name: 'r', Namespace: 'n', Service: 'Helm' },
      Chart: { Name: 'c', Version: '1', AppVersion: '1' },
    };
    const render = (src: string) => renderNodes(parseTemplate('t.yaml', src, new Map()), ctx, new Map());
    it.each([
      ['{{ range .Values.m }}x{{ end }}', /"range" is outside/],
      ['{{ .Values.a | upper }}', /"upper" in .* is outside/],
      ['{{ printf "%s" .Values.a }}', /is outside the chart's template subset/],
      ['{{ with .Values.m }}x{{ end }}', /"with" is outside/],
      ['{{ if .Values.a }}x{{ else if .Values.a }}y{{ end }}', /unsupported or misplaced/],
      ['{{ if .Values.a }}x', /unclosed block/],
      ['{{ .Values.missing }}', /\.Values\.missing does not exist/],
      ['{{ .Values.m }}', /cannot print \{"k":1\}/],
      ['{{ .Values.n }}', /cannot print 1048576/],
      ['{{ include "nope" . }}', /include of undefined template/],
    ])('%s', (src, error) => expect(() => render(src)).toThrow(error));
    it('implements trimming, if/else, quote, toYaml and nindent like helm', () => {
      expect(
        render(
          'a:\n  {{- if .Values.a }} {{ .Values.a | quote }}{{ else }} no{{ end }}\nb: {{ toYaml .Values.m | nindent 2 }}',
        ),
      ).toBe('a: "x"\nb: \n  k: 1');
      expect(render('{{- if not .Values.a }}x{{- end }}y')).toBe('y');
    });
  });
});
