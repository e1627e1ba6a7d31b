/**
 * Every failure of the converter is an OciError with a stable `code` (callers branch on it,
 * hubctl and the agent print `message`). Messages name the entry, layer or blob at fault.
 */
export type OciErrorCode =
  | 'invalid-reference'
  | 'not-found'
  | 'invalid-image'
  | 'wrong-platform'
  | 'digest-mismatch'
  | 'corrupt-layer'
  | 'hostile-entry'
  | 'unsupported'
  | 'no-command'
  | 'unknown-user'
  | 'registry'
  | 'build-failed'
  | 'no-space'
  | 'io'
  | 'aborted';

export class OciError extends Error {
  override readonly name = 'OciError';
  constructor(
    readonly code: OciErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isOciError(e: unknown, code?: OciErrorCode): e is OciError {
  return e instanceof OciError && (code === undefined || e.code === code);
}
