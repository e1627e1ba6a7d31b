export type StoreErrorCode =
  'digest-mismatch' | 'size-mismatch' | 'no-space' | 'not-found' | 'invalid' | 'exists' | 'io';

/** Store failures; `code` is stable for callers (update state machine reasons), `message` names the object. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
