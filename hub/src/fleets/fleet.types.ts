export interface Fleet {
  id: string;
  name: string;
  description: string;
  createdAt: Date;
  deviceCount: number;
}

export interface ClaimToken {
  id: string;
  fleetId: string;
  name: string;
  tags: string[];
  maxUses: number | null;
  uses: number;
  expiresAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
  createdBy: string;
}
