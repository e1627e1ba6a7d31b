import type { ReleaseManifest } from '@fleet/protocol';

export interface ReleaseSummary {
  id: string;
  version: string;
  sequence: number;
  manifestDigest: string;
  board: string;
  compatibleBoards: string[];
  notes: string;
  createdAt: Date;
  createdBy: string;
  yankedAt: Date | null;
  yankReason: string | null;
}

export interface Release extends ReleaseSummary {
  manifest: ReleaseManifest;
  objects: Array<{ digest: string; size: number; role: string }>;
  signedBy: string[];
}

export interface SigningKeyRecord {
  keyId: string;
  alg: string;
  publicKey: string;
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
}
