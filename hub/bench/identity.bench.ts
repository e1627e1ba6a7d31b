// Device identity at fleet scale: the cost of provisioning N devices at the broker in each mode,
// on real Mosquitto 2.0.11 instances started side by side in the same run.
//
// - password: MosquittoBrokerAuthority.upsertDevice per device (dynsec createRole + createClient
//   + getClient + addClientRole; the plugin rewrites its whole JSON after every command).
// - certificate: CertificateBrokerAuthority.issue per device (hub CA signs, one line appended;
//   nothing changes at the broker).
// Then a sample of devices connects once in each mode (PBKDF2 password check vs TLS handshake
// with an ECDSA-signed ed25519 client certificate), to show what certificates cost per connect.
//
//   node --conditions=fleet-source --import tsx hub/bench/identity.bench.ts [devices] [passwordDevices] [connects]
//
// Password mode grows quadratically (each command rewrites a file proportional to the devices
// already there); when [passwordDevices] < [devices] it is measured up to that count with
// checkpoints and extrapolated to [devices] with a least-squares fit t = a*n + b*n^2 (stated in
// the JSON). Writes bench/results/identity.json. Not a test: nothing asserts on time.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../test/integration/helpers/mqtt-client.js';
import { brokerUsernameFor } from '../src/devices/broker-authority.js';
import { certificateAclFile, certificateListenerConfig } from '../src/mqtt/certificate-acl.js';
import { CertificateBrokerAuthority } from '../src/mqtt/certificate-broker-authority.js';
import { openDynsecClient } from '../src/mqtt/dynsec-client.js';
import { HubMqttClient } from '../src/mqtt/hub-mqtt-client.js';
import { MosquittoBrokerAuthority } from '../src/mqtt/mosquitto-authority.js';
import { DeviceCertificates } from '../src/pki/device-certificates.js';
import { startMosquitto, type MosquittoInstance } from '../test/integration/helpers/mosquitto.js';

const [devicesArg, passwordArg, connectsArg] = process.argv.slice(2).map(Number);
const DEVICES = devicesArg || 10_000;
const PASSWORD_DEVICES = Math.min(passwordArg || 2_000, DEVICES);
const CONNECTS = connectsArg || 200;
const RESULTS = fileURLToPath(new URL('../../bench/results/identity.json', import.meta.url));
const TICKS = 100; // USER_HZ on Linux
const quiet = {
  log: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

async function brokerCpuSeconds(broker: MosquittoInstance): Promise<number> {
  const pid = (await readFile(broker.pidFile, 'utf8')).trim();
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime + stime
}

function hubCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface Checkpoint {
  devices: number;
  seconds: number;
  brokerCpuSeconds: number;
  hubCpuSeconds: number;
}

/** Least squares for t = a*n + b*n^2 through the checkpoints. */
function fitQuadratic(points: { n: number; t: number }[]): { a: number; b: number } {
  let s11 = 0;
  let s12 = 0;
  let s22 = 0;
  let y1 = 0;
  let y2 = 0;
  for (const { n, t } of points) {
    s11 += n * n;
    s12 += n ** 3;
    s22 += n ** 4;
    y1 += n * t;
    y2 += n * n * t;
  }
  const det = s11 * s22 - s12 * s12;
  return { a: (y1 * s22 - y2 * s12) / det, b: (s11 * y2 - s12 * y1) / det };
}

async function connectOnce(url: string, opts: Record<string, unknown>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const c = connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 5, ...opts });
    c.once('connect', () => c.end(true, {}, () => resolve()));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
  });
}

async function timeConnects(
  broker: MosquittoInstance,
  attempts: (() => Promise<void>)[],
): Promise<{ seconds: number; brokerCpuSeconds: number }> {
  const cpu0 = await brokerCpuSeconds(broker);
  const t0 = performance.now();
  // 20 in flight: well under Mosquitto's listen backlog of 100.
  for (let i = 0; i < attempts.length; i += 20) await Promise.all(attempts.slice(i, i + 20).map((a) => a()));
  return {
    seconds: (performance.now() - t0) / 1000,
    brokerCpuSeconds: (await brokerCpuSeconds(broker)) - cpu0,
  };
}

async function main(): Promise<void> {
  const load: { before: number[]; after?: number[] } = { before: loadavg() };
  console.log(
    `identity bench: ${DEVICES} devices (password mode measured to ${PASSWORD_DEVICES}), ${CONNECTS} connects; load ${load.before.map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`,
  );
  const pkiDir = await mkdtemp(join(tmpdir(), 'fleet-identity-bench-'));
  let certs: DeviceCertificates | undefined;
  const broker = await startMosquitto({
    tls: async (dir, port) => {
      certs = await DeviceCertificates.open(
        {
          dir: join(pkiDir, 'pki'),
          crlFile: join(dir, 'crl.pem'),
          brokerPidFile: join(dir, 'mosquitto.pid'),
          certDays: 365,
        },
        quiet,
      );
      const server = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await writeFile(join(dir, 'ca.crt'), certs.caCertificatePem);
      await writeFile(
        join(dir, 'server.crt'),
        certs.ca.issueServerCertificate({ hosts: ['127.0.0.1'], publicKey: server.publicKey, days: 1 }).pem,
      );
      await writeFile(join(dir, 'server.key'), server.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
        mode: 0o600,
      });
      await writeFile(join(dir, 'fleet.acl'), certificateAclFile());
      const f = (n: string) => join(dir, n);
      return {
        lines: [
          `acl_file ${f('fleet.acl')}`,
          certificateListenerConfig({
            port,
            host: '127.0.0.1',
            caFile: f('ca.crt'),
            certFile: f('server.crt'),
            keyFile: f('server.key'),
            crlFile: f('crl.pem'),
          }),
        ].join('\n'),
        files: ['ca.crt', 'server.crt', 'server.key', 'fleet.acl', 'crl.pem'].map(f),
      };
    },
  });
  // A second, plain broker for password mode: its dynsec file holds only what this run adds.
  const plain = await startMosquitto();
  try {
    if (certs === undefined || broker.tlsUrl === undefined) throw new Error('no TLS listener');
    const open = async (b: MosquittoInstance) => {
      const admin = await HubMqttClient.connect(
        {
          url: b.url,
          username: b.admin.username,
          password: b.admin.password,
          clientId: `bench-admin-${randomBytes(3).toString('hex')}`,
          protocolVersion: 5,
        },
        quiet,
      );
      return { admin, dynsec: await openDynsecClient(admin, { timeoutMs: 60_000 }) };
    };

    // --- password (dynsec per-device client + role) ---
    const p = await open(plain);
    const passwords = new MosquittoBrokerAuthority(p.dynsec);
    const step = Math.max(1, Math.floor(PASSWORD_DEVICES / 8));
    const pwCheckpoints: Checkpoint[] = [];
    const pwDevices: { id: string; password: string }[] = [];
    {
      const cpu0 = await brokerCpuSeconds(plain);
      const hub0 = hubCpuSeconds();
      const t0 = performance.now();
      for (let i = 0; i < PASSWORD_DEVICES; i++) {
        const id = `pw-${i}`;
        const password = randomBytes(18).toString('base64url');
        await passwords.upsertDevice(id, brokerUsernameFor(id), password);
        if (i < CONNECTS) pwDevices.push({ id, password });
        if ((i + 1) % step === 0 || i + 1 === PASSWORD_DEVICES) {
          pwCheckpoints.push({
            devices: i + 1,
            seconds: (performance.now() - t0) / 1000,
            brokerCpuSeconds: (await brokerCpuSeconds(plain)) - cpu0,
            hubCpuSeconds: hubCpuSeconds() - hub0,
          });
          console.log(
            `  password: ${i + 1} devices in ${pwCheckpoints.at(-1)?.seconds.toFixed(1)} s (broker CPU ${pwCheckpoints.at(-1)?.brokerCpuSeconds.toFixed(1)} s)`,
          );
        }
      }
    }
    const wallFit = fitQuadratic(pwCheckpoints.map((c) => ({ n: c.devices, t: c.seconds })));
    const cpuFit = fitQuadratic(pwCheckpoints.map((c) => ({ n: c.devices, t: c.brokerCpuSeconds })));
    const last = pwCheckpoints.at(-1);
    if (last === undefined) throw new Error('no checkpoints');
    const extrapolated = PASSWORD_DEVICES < DEVICES;
    const pwAtN = {
      seconds: extrapolated ? wallFit.a * DEVICES + wallFit.b * DEVICES ** 2 : last.seconds,
      brokerCpuSeconds: extrapolated ? cpuFit.a * DEVICES + cpuFit.b * DEVICES ** 2 : last.brokerCpuSeconds,
    };
    const dynsecFileBytes = (await readFile(join(plain.dir, 'dynamic-security.json'))).length;

    // --- certificate (hub CA, no broker change) ---
    const c = await open(broker);
    const certAuthority = new CertificateBrokerAuthority(certs, c.dynsec);
    const keys = Array.from({ length: DEVICES }, () => generateKeyPairSync('ed25519'));
    const certDevices: { id: string; cert: string; key: string }[] = [];
    const certResult = await (async () => {
      const cpu0 = await brokerCpuSeconds(broker);
      const hub0 = hubCpuSeconds();
      const t0 = performance.now();
      for (let i = 0; i < DEVICES; i++) {
        const id = `cert-${i}`;
        const pair = keys[i];
        if (pair === undefined) throw new Error('missing key');
        const raw = Buffer.from(pair.publicKey.export({ format: 'jwk' }).x ?? '', 'base64url').toString(
          'base64',
        );
        const issued = await certAuthority.issue(id, raw);
        if (i < CONNECTS)
          certDevices.push({
            id,
            cert: issued.certificate,
            key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          });
      }
      return {
        devices: DEVICES,
        seconds: (performance.now() - t0) / 1000,
        brokerCpuSeconds: (await brokerCpuSeconds(broker)) - cpu0,
        hubCpuSeconds: hubCpuSeconds() - hub0,
      };
    })();
    console.log(
      `  certificate: ${DEVICES} devices in ${certResult.seconds.toFixed(1)} s (broker CPU ${certResult.brokerCpuSeconds.toFixed(2)} s)`,
    );

    // --- one connect per device, a sample in each mode ---
    const pwConnect = await timeConnects(
      plain,
      pwDevices.map(
        (d) => () =>
          connectOnce(plain.url, { username: brokerUsernameFor(d.id), password: d.password, clientId: d.id }),
      ),
    );
    const certConnect = await timeConnects(
      broker,
      certDevices.map(
        (d) => () =>
          connectOnce(broker.tlsUrl ?? '', {
            clientId: d.id,
            ca: certs?.caCertificatePem,
            cert: d.cert,
            key: d.key,
            rejectUnauthorized: true,
          }),
      ),
    );
    load.after = loadavg();

    const result = {
      bench: 'identity',
      at: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        loadavgBefore: load.before,
        loadavgAfter: load.after,
        note: 'shared 2-core machine, other work running',
      },
      broker: 'mosquitto 2.0.11 (Debian 12), set_tcp_nodelay true',
      devices: DEVICES,
      password: {
        measuredDevices: PASSWORD_DEVICES,
        checkpoints: pwCheckpoints,
        dynsecFileBytesAtMeasured: dynsecFileBytes,
        atDevices: {
          ...pwAtN,
          extrapolated,
          fit: extrapolated
            ? {
                model: 't = a*n + b*n^2 (least squares over the checkpoints)',
                wall: wallFit,
                brokerCpu: cpuFit,
              }
            : undefined,
        },
        msPerDeviceAtEnd:
          last.devices > step
            ? ((last.seconds - (pwCheckpoints.at(-2)?.seconds ?? 0)) /
                (last.devices - (pwCheckpoints.at(-2)?.devices ?? 0))) *
              1000
            : undefined,
      },
      certificate: { ...certResult, msPerDevice: (certResult.seconds / DEVICES) * 1000 },
      connects: {
        devices: CONNECTS,
        password: {
          ...pwConnect,
          brokerCpuMsPerConnect: (pwConnect.brokerCpuSeconds / Math.max(1, pwDevices.length)) * 1000,
        },
        certificate: {
          ...certConnect,
          brokerCpuMsPerConnect: (certConnect.brokerCpuSeconds / Math.max(1, certDevices.length)) * 1000,
        },
      },
      ratios: {
        provisioningTimePasswordOverCertificate: pwAtN.seconds / certResult.seconds,
        // /proc counts CPU in 10 ms ticks: a certificate run that used none is bounded by one tick.
        provisioningBrokerCpuPasswordOverCertificate:
          pwAtN.brokerCpuSeconds / Math.max(certResult.brokerCpuSeconds, 1 / TICKS),
        provisioningBrokerCpuRatioIsLowerBound: certResult.brokerCpuSeconds < 1 / TICKS,
        connectBrokerCpuCertificateOverPassword:
          pwConnect.brokerCpuSeconds > 0 ? certConnect.brokerCpuSeconds / pwConnect.brokerCpuSeconds : null,
      },
    };
    await mkdir(join(RESULTS, '..'), { recursive: true });
    await writeFile(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result.ratios, null, 2));
    console.log(`wrote ${RESULTS}`);
    p.dynsec.close();
    await p.admin.close(true);
    c.dynsec.close();
    await c.admin.close(true);
  } finally {
    await broker.stop();
    await plain.stop();
    await rm(pkiDir, { recursive: true, force: true });
  }
}

await main();
