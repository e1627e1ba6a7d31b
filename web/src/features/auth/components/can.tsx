import { type Role, roleAtLeast } from '@fleet/protocol/browser';
import type { ReactNode } from 'react';
import { useMe } from '../api/get-me.js';

/** Whether the signed-in user has at least this role (the hub enforces it again). */
export function useCan(min: Role): boolean {
  const me = useMe().data;
  return !!me && roleAtLeast(me.role, min);
}

/** Renders its children only for users with at least `role`: viewers see no mutating controls. */
export function Can({ role, children }: { role: Role; children: ReactNode }) {
  return useCan(role) ? children : null;
}
