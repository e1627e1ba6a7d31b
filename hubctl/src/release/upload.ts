import { digestHex, type ObjectRef } from '@fleet/protocol';
import { HubctlError } from '../cli/errors.js';
import type { ProgressFactory } from '../cli/progress.js';
import type { HubClient } from '../hub/hub-client.js';

export interface UploadSummary {
  uploaded: ObjectRef[];
  present: ObjectRef[];
  uploadedBytes: number;
}

/**
 * Sends the objects the hub lacks: HEAD each one first, PUT only the missing ones (streamed,
 * counted on a progress bar). The hub re-hashes every upload, so a corrupt local file is
 * refused there (422), not published.
 */
export async function uploadMissing(
  hub: HubClient,
  objects: readonly ObjectRef[],
  fileOf: (digest: string) => string,
  progress: ProgressFactory,
  signal?: AbortSignal,
): Promise<UploadSummary> {
  const missing: ObjectRef[] = [];
  const present: ObjectRef[] = [];
  for (const o of objects) {
    signal?.throwIfAborted();
    if (await hub.hasObject(digestHex(o.digest), signal)) present.push(o);
    else missing.push(o);
  }
  const total = missing.reduce((n, o) => n + o.size, 0);
  if (missing.length === 0) return { uploaded: [], present, uploadedBytes: 0 };
  const bar = progress(`uploading ${missing.length} object${missing.length === 1 ? '' : 's'}`, total);
  let sent = 0;
  try {
    for (const o of missing) {
      await hub
        .putObject(
          digestHex(o.digest),
          fileOf(o.digest),
          o.size,
          (n) => {
            sent += n;
            bar.increment(n);
          },
          signal,
        )
        .catch((e: unknown) => {
          if (e instanceof HubctlError) throw e;
          throw new HubctlError(
            `uploading ${o.digest} failed: ${(e as Error).message}`,
            'run the command again: objects already uploaded are skipped',
            { cause: e },
          );
        });
    }
  } finally {
    bar.stop();
  }
  return { uploaded: missing, present, uploadedBytes: sent };
}
