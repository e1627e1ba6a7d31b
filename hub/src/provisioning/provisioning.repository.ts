import { Injectable, Inject } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';

export type ClaimOutcome =
  | { kind: 'created'; deviceId: string; fleetId: string }
  | { kind: 'existing'; deviceId: string; fleetId: string }
  | { kind: 'token-invalid' | 'token-expired' | 'token-revoked' | 'token-used-up' }
  | { kind: 'key-mismatch'; deviceId: string };

export interface ClaimInput {
  tokenHash: string;
  hardwareId: string;
  publicKey: string;
  board: string;
  agentVersion: string;
  name: string;
  credentialsHash: string;
  now: Date;
}

@Injectable()
export class ProvisioningRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  /**
   * One transaction: lock the claim token row (so `maxUses` holds under concurrent claims),
   * then find or create the device by hardware id. Re-provisioning an existing device with the
   * same key replaces its credentials and uses no claim.
   */
  async claim(i: ClaimInput): Promise<ClaimOutcome> {
    return this.db.$transaction(async (tx) => {
      const tokens = await tx.$queryRaw<
        Array<{
          id: string;
          fleet_id: string;
          tags: string[];
          max_uses: number | null;
          uses: number;
          expires_at: Date | null;
          revoked_at: Date | null;
        }>
      >`
        SELECT id::text, fleet_id::text, tags, max_uses, uses, expires_at, revoked_at FROM claim_tokens WHERE token_hash = ${i.tokenHash} FOR UPDATE`;
      const t = tokens[0];
      if (!t) return { kind: 'token-invalid' } as const;
      if (t.revoked_at) return { kind: 'token-revoked' } as const;
      if (t.expires_at && t.expires_at <= i.now) return { kind: 'token-expired' } as const;
      const existing = await tx.device.findUnique({
        where: { hardwareId: i.hardwareId },
        select: { id: true, fleetId: true, publicKey: true },
      });
      if (existing) {
        if (existing.publicKey !== i.publicKey)
          return { kind: 'key-mismatch', deviceId: existing.id } as const;
        await tx.device.update({
          where: { id: existing.id },
          data: {
            credentialsHash: i.credentialsHash,
            credentialsRotatedAt: i.now,
            board: i.board,
            agentVersion: i.agentVersion,
            lastSeenAt: i.now,
          },
        });
        return { kind: 'existing', deviceId: existing.id, fleetId: existing.fleetId } as const;
      }
      if (t.max_uses !== null && t.uses >= t.max_uses) return { kind: 'token-used-up' } as const;
      await tx.claimToken.update({ where: { id: t.id }, data: { uses: { increment: 1 } } });
      const d = await tx.device.create({
        data: {
          fleetId: t.fleet_id,
          name: i.name,
          hardwareId: i.hardwareId,
          publicKey: i.publicKey,
          board: i.board,
          agentVersion: i.agentVersion,
          tags: t.tags,
          credentialsHash: i.credentialsHash,
          lastSeenAt: i.now,
        },
        select: { id: true, fleetId: true },
      });
      return { kind: 'created', deviceId: d.id, fleetId: d.fleetId } as const;
    });
  }
}
