import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig } from '@fleet/protocol';
import { ObjectDownloader, type ObjectDownloaderOptions } from './downloader.js';
import { IdentityStore, readHardwareId, type DeviceCredentials } from './identity.js';
import { LogShipper } from './log-shipper.js';
import type { LinkLogger } from './logger.js';
import { OfflineQueue } from './offline-queue.js';
import { Provisioner } from './provisioning.js';
import { LinkSession, type LinkHandlers } from './session.js';
import { hostTelemetrySource, TelemetrySampler, type TelemetrySource } from './telemetry.js';
import { TelemetryBatcher } from './telemetry-batcher.js';

export interface AgentLinkDeps {
  config: AgentConfig;
  agentVersion: string;
  handlers: LinkHandlers;
  logger: LinkLogger;
  hardwareId?: () => Promise<string>;
  bootId?: string;
  /** See LinkSessionOptions.protocolVersion. */
  protocolVersion?: 4 | 5;
  telemetrySource?: TelemetrySource;
}

/**
 * Everything the agent's main.ts needs from the link, wired once: provisioning (blocks until
 * the hub answered), the offline queue under `<storageDir>/link/queue`, the MQTT session,
 * periodic telemetry and the log shipper. Reports and progress are published by the caller
 * through `session.publish`.
 */
export class AgentLink {
  private readonly stopTelemetry = new AbortController();
  private telemetryLoop: Promise<void> = Promise.resolve();
  private batcher: TelemetryBatcher | null = null;

  private constructor(
    readonly credentials: DeviceCredentials,
    readonly session: LinkSession,
    readonly logs: LogShipper,
    private readonly queue: OfflineQueue,
    private readonly ca: Buffer | undefined,
    private readonly deps: AgentLinkDeps,
  ) {}

  static async start(deps: AgentLinkDeps, signal?: AbortSignal): Promise<AgentLink> {
    const { config, logger } = deps;
    const identity = new IdentityStore(config.storageDir);
    const credentials = await new Provisioner({
      config,
      identity,
      agentVersion: deps.agentVersion,
      hardwareId: deps.hardwareId ?? (() => readHardwareId()),
      logger,
    }).ensureProvisioned(signal);
    const ca = config.tls?.caFile ? await readFile(config.tls.caFile) : undefined;
    // Certificate identity: the broker's server certificate comes from the hub CA handed out at
    // provisioning; the client key is the device key generated on first boot (0600, never sent).
    const { certificate, caCertificate } = credentials.mqtt;
    const clientCertificate =
      certificate !== undefined
        ? {
            cert: certificate,
            key: (await identity.loadOrCreateKey()).privateKey
              .export({ format: 'pem', type: 'pkcs8' })
              .toString(),
          }
        : undefined;
    const brokerCa = caCertificate !== undefined ? [...(ca ? [ca.toString()] : []), caCertificate] : ca;
    const queue = await OfflineQueue.open({
      dir: join(config.storageDir, 'link', 'queue'),
      maxBytes: config.limits.offlineQueueBytes,
      logger,
    });
    const session = new LinkSession({
      deviceId: credentials.deviceId,
      mqtt: credentials.mqtt,
      queue,
      handlers: deps.handlers,
      logger,
      agentVersion: deps.agentVersion,
      ...(deps.bootId ? { bootId: deps.bootId } : {}),
      ...(deps.protocolVersion ? { protocolVersion: deps.protocolVersion } : {}),
      ...(brokerCa ? { ca: brokerCa } : {}),
      ...(clientCertificate ? { clientCertificate } : {}),
    });
    const logs = new LogShipper({
      linesPerSecond: config.limits.logLinesPerSecond,
      flushMs: config.intervals.logFlushMs,
      publish: (batch) => session.publishLogs(batch),
      logger,
    });
    const link = new AgentLink(credentials, session, logs, queue, ca, deps);
    session.start();
    logs.start();
    const sampler = new TelemetrySampler({
      source: deps.telemetrySource ?? hostTelemetrySource(),
      storageDir: config.storageDir,
      logger,
    });
    const batcher = new TelemetryBatcher({
      sampleEveryMs: config.intervals.telemetryMs,
      publishEveryMs: config.intervals.telemetryPublishMs,
      send: (m) => session.publishTelemetry({ samples: m.samples }, { id: m.id }),
      online: () => session.connected,
      logger,
    });
    link.batcher = batcher;
    session.on('connected', () => batcher.onConnected());
    link.telemetryLoop = sampler.run(
      config.intervals.telemetryMs,
      async (s) => batcher.add(s),
      link.stopTelemetry.signal,
    );
    return link;
  }

  /** Samples gathered between publishes (decision 0037): `buffered`, `dropped`. */
  get telemetry(): TelemetryBatcher | null {
    return this.batcher;
  }

  /**
   * Samples not yet published go now: to the broker when connected, else into the disk queue
   * (droppable, like telemetry queued offline), so a restart during an outage keeps them.
   */
  private async stopBatching(): Promise<void> {
    const batcher = this.batcher;
    if (!batcher) return;
    // A PUBACK that never comes on a half-open connection must not hold the agent's stop for
    // the keep-alive timeout (~45 s); a batch still in flight then is lost, and logged.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      batcher.flush().then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 5_000))),
    ]);
    clearTimeout(timer);
    if (gaveUp)
      this.deps.logger.warn('telemetry flush at stop: no PUBACK within 5 s; the batch in flight may be lost');
    if (this.session.connected) return;
    // Each message keeps its id: one that was sent without a PUBACK is queued as that message.
    const rest = batcher.takeAll();
    try {
      for (const m of rest) await this.session.publishTelemetry({ samples: m.samples }, { id: m.id });
    } catch (e) {
      const n = rest.reduce((a, m) => a + m.samples.length, 0);
      this.deps.logger.warn(`${n} telemetry samples lost at stop: ${(e as Error).message}`);
    }
  }

  /** A downloader that authenticates with this device's credentials and trusts the pinned CA. */
  downloader(
    opts: Pick<ObjectDownloaderOptions, 'dir' | 'has' | 'commit'> & Partial<ObjectDownloaderOptions>,
  ): ObjectDownloader {
    return new ObjectDownloader({
      auth: { username: this.credentials.mqtt.username, password: this.credentials.mqtt.password },
      ...(this.ca ? { ca: this.ca } : {}),
      logger: this.deps.logger,
      ...opts,
    });
  }

  async stop(): Promise<void> {
    this.stopTelemetry.abort();
    await this.telemetryLoop;
    await this.stopBatching();
    await this.logs.stop();
    await this.session.stop();
    await this.queue.close();
  }
}
