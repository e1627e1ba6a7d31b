// The local control API: HTTP/1.1 on a unix socket (`<storageDir>/agent.sock`, mode 0600, so
// only root talks to it). Thin edge: parse and validate, call one method, map errors to 4xx.
import { createConnection } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { parseReleaseManifest, type Progress, type Target } from '@fleet/protocol';
import type { z } from 'zod';
import { ContainerNotFound, type Containers } from '../app/containers.js';
import { ConsoleTail } from '../app/log-tail.js';
import { isTerminal, type ProgressLog } from '../app/progress-log.js';
import type { LinkLogger } from '../link/logger.js';
import { isOciError } from '../oci/errors.js';
import type { ObjectStore } from '../store/object-store.js';
import type { UpdateEngine } from '../update/engine.js';
import { ContainerAction, ImportImageRequest, InstallRequest, LogsQuery, UpdateQuery } from './schemas.js';

export interface ApiDeps {
  readonly socketPath: string;
  readonly engine: Pick<UpdateEngine, 'offer' | 'state'>;
  readonly engineReady: () => boolean;
  readonly containers: Containers;
  readonly objects: ObjectStore;
  readonly progress: ProgressLog;
  readonly storageDir: string;
  readonly status: () => Promise<unknown>;
  readonly logger: LinkLogger;
}

/** An error with an HTTP status and a message meant for the operator. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues?: readonly { path: string; message: string }[],
  ) {
    super(message);
  }
}

const MAX_BODY = 1 << 20;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'request body is empty: a JSON object is expected');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `request body is not JSON: ${(e as Error).message}`);
  }
}

function validate<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    path: ['$', ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  throw new HttpError(
    400,
    `invalid ${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
  );
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function hostPlatform(): string {
  return process.arch === 'arm64'
    ? 'linux/arm64'
    : process.arch === 'arm'
      ? 'linux/arm/v7'
      : process.arch === 'x64'
        ? 'linux/amd64'
        : `linux/${process.arch}`;
}

export class ApiServer {
  private server: Server | null = null;
  private readonly closing = new AbortController();
  private importSeq = 0;

  constructor(private readonly d: ApiDeps) {}

  async listen(): Promise<void> {
    await mkdir(this.d.storageDir, { recursive: true });
    // A socket file left by a killed agent is removed; one that answers belongs to a live
    // agent, and two agents on one storage dir would fight over the same containers.
    const live = await new Promise<boolean>((resolve) => {
      const c = createConnection(this.d.socketPath);
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (live) throw new Error(`another agent is already running on ${this.d.socketPath}`);
    await rm(this.d.socketPath, { force: true });
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // umask-independent: the mode is set right after, before anything is accepted by us.
      server.listen(this.d.socketPath, () => resolve());
    });
    await chmod(this.d.socketPath, 0o600);
  }

  async close(): Promise<void> {
    this.closing.abort();
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await rm(this.d.socketPath, { force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    try {
      if (parts[0] !== 'v1') throw new HttpError(404, `no such endpoint: ${method} ${url.pathname}`);
      const [, a, b, c] = parts;
      if (method === 'GET' && a === 'status' && !b) return send(res, 200, await this.d.status());
      if (method === 'GET' && a === 'containers' && !b)
        return send(res, 200, { containers: await this.d.containers.withHealth() });
      if (method === 'GET' && a === 'containers' && b && c === 'logs' && parts.length === 4)
        return await this.logs(b, validate(LogsQuery, query, 'query'), res);
      if (method === 'POST' && a === 'containers' && b && c && parts.length === 4) {
        const action = validate(ContainerAction, c, 'action');
        const info = await this.d.containers[action](b);
        return send(res, 200, { container: info });
      }
      if (method === 'POST' && a === 'install' && !b)
        return send(
          res,
          202,
          await this.install(validate(InstallRequest, await readJson(req), 'install request')),
        );
      if (method === 'GET' && a === 'updates' && b && !c)
        return send(res, 200, await this.update(b, validate(UpdateQuery, query, 'query')));
      if (method === 'POST' && a === 'images' && b === 'import' && !c)
        return send(
          res,
          200,
          await this.importImage(validate(ImportImageRequest, await readJson(req), 'import request')),
        );
      throw new HttpError(404, `no such endpoint: ${method} ${url.pathname}`);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError)
        return send(res, e.status, { error: e.message, ...(e.issues ? { issues: e.issues } : {}) });
      if (e instanceof ContainerNotFound) return send(res, 404, { error: e.message });
      if (isOciError(e)) return send(res, 422, { error: e.message, code: e.code });
      this.d.logger.error(`api ${method} ${url.pathname}: ${(e as Error).stack ?? String(e)}`);
      return send(res, 500, { error: (e as Error).message });
    }
  }

  private async logs(name: string, q: z.output<typeof LogsQuery>, res: ServerResponse): Promise<void> {
    const c = await this.d.containers.resolve(name);
    const head = await this.d.containers.logs(c.instance, q.tail);
    res.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      ...(q.follow ? { 'cache-control': 'no-cache' } : {}),
    });
    res.write(head);
    if (!q.follow) return void res.end();
    // Chunked transfer until the client goes away or the agent stops.
    const tail = await ConsoleTail.open(this.d.containers.consoleLogPath(c.instance), 'end');
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    this.closing.signal.addEventListener('abort', () => gone.abort(), { once: true });
    while (!gone.signal.aborted) {
      const more = await tail.readBytes();
      if (more) res.write(more);
      await new Promise((r) => setTimeout(r, 200));
    }
    res.end();
  }

  private async install(r: InstallRequest): Promise<{ updateId: string; queued: boolean }> {
    if (!this.d.engineReady())
      throw new HttpError(409, 'the update engine is still resuming after a restart; try again shortly');
    let text: string;
    try {
      text = await readFile(join(r.dir, 'release.json'), 'utf8');
    } catch (e) {
      throw new HttpError(400, `cannot read ${join(r.dir, 'release.json')}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new HttpError(400, `${join(r.dir, 'release.json')} is not JSON: ${(e as Error).message}`);
    }
    const release = parseReleaseManifest(json);
    if (!release.ok) {
      const issues = release.error.issues.map((i) => ({ path: i.path, message: i.message }));
      throw new HttpError(
        400,
        `${join(r.dir, 'release.json')} is not a release manifest: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        issues,
      );
    }
    const updateId = `local-${Date.now().toString(36)}-${(this.importSeq++).toString(36)}`;
    const target: Target = {
      updateId,
      release: release.value,
      // The local origin: objects are copied (and verified) from this directory.
      objectBaseUrl: pathToFileURL(`${join(r.dir, 'objects')}/`).href,
      config: r.config,
      configVersion: r.configVersion,
      strategy: r.strategy,
      force: r.force,
      bakeSeconds: r.bakeSeconds ?? 30,
    };
    const offered = this.d.engine.offer(target);
    if (!offered.accepted) throw new HttpError(409, offered.message);
    return { updateId, queued: offered.queued };
  }

  private async update(
    id: string,
    q: z.output<typeof UpdateQuery>,
  ): Promise<{ updateId: string; progress: readonly Progress[]; done: boolean }> {
    if (q.since !== undefined) {
      const deadline = AbortSignal.any([AbortSignal.timeout(25_000), this.closing.signal]);
      while (this.d.progress.of(id).length <= q.since && !deadline.aborted)
        await this.d.progress.next(deadline);
    }
    const progress = this.d.progress.of(id);
    return { updateId: id, progress, done: progress.some(isTerminal) };
  }

  private async importImage(r: ImportImageRequest): Promise<unknown> {
    const work = join(this.d.storageDir, 'tmp', 'import');
    // Loaded on the first import only: the OCI converter (registry client, tar reader, its
    // schemas, node:tls) is ~70 KiB of the bundle that an agent otherwise never runs, and its
    // module-level objects stayed in an idle agent's heap (docs/runtime.md, memory).
    const { importImage } = await import('../oci/index.js');
    const out = await importImage(r.ref, {
      platform: r.platform ?? hostPlatform(),
      workDir: work,
      outputDir: join(work, 'out'),
      ...(r.plainHttp ? { registry: { plainHttp: true } } : {}),
      signal: this.closing.signal,
    });
    let pin: { until: string };
    try {
      // Pinned: no revision references the object until a release uses it, and GC would
      // delete it after the next update (store/pins.ts).
      ({ pin } = await this.d.objects.importFile(out.rootfs.digest, out.rootfsFile, {
        reason: `import-image ${r.ref}`,
      }));
    } finally {
      await rm(out.rootfsFile, { force: true });
    }
    // A ContainerSpec fragment: what a release's container entry takes from the image.
    return {
      image: out.image,
      rootfs: out.rootfs,
      start: out.start,
      ...(out.health ? { health: out.health } : {}),
      // The image's VOLUME paths: the release decides their names and persistence.
      imageVolumes: out.volumes,
      platform: out.platform,
      // Kept until a kept revision uses the rootfs or this time passes (unused imports expire).
      pinnedUntil: pin.until,
    };
  }
}
