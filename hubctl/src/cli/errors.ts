/**
 * The errors hubctl reports. Each says what went wrong and, where we know it, what to do.
 * Only `bin.ts` turns them into exit codes: UsageError → 2, everything else → 1.
 */

/** Bad command-line input: wrong or missing options, arguments that do not parse. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The command's usage line, printed after the message. */
    readonly usage?: string,
  ) {
    super(message);
  }
}

/** A failure with a hint for the operator (`hint` is the "what to do" line). */
export class HubctlError extends Error {
  override readonly name: string = 'HubctlError';
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface FieldIssue {
  path: string;
  message: string;
}

/** The hub answered with an error status. `issues` come from its 400 bodies. */
export class HubRequestError extends HubctlError {
  override readonly name = 'HubRequestError';
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly hubMessage: string,
    readonly issues: readonly FieldIssue[],
    hint?: string,
  ) {
    super(`${method} ${path}: the hub answered ${status}: ${hubMessage}`, hint);
  }

  /**
   * The hub's 400 message repeats every issue ("invalid request body: $.a: x; $.b: y"); when
   * the issues are listed one per line below it, its first part is enough.
   */
  summary(): string {
    const head =
      this.issues.length > 0 ? (this.hubMessage.split(':')[0] ?? this.hubMessage) : this.hubMessage;
    return `${head} (${this.method} ${this.path} → ${this.status})`;
  }
}

/** The hub could not be reached at all (refused, DNS, TLS, timeout). */
export class HubUnreachableError extends HubctlError {
  override readonly name = 'HubUnreachableError';
}

/** Human text for any error: the message, each field issue on its own line, then the hint. */
export function formatError(e: unknown): string {
  if (e instanceof UsageError) {
    return `hubctl: ${e.message}${e.usage ? `\n${e.usage}` : ''}\n(see \`hubctl <command> --help\`)\n`;
  }
  if (e instanceof HubRequestError) {
    const lines = [`hubctl: ${e.summary()}`];
    for (const i of e.issues) lines.push(`  ${i.path}: ${i.message}`);
    if (e.hint) lines.push(e.hint);
    return `${lines.join('\n')}\n`;
  }
  if (e instanceof HubctlError) return `hubctl: ${e.message}${e.hint ? `\n${e.hint}` : ''}\n`;
  if (e instanceof Error) return `hubctl: ${e.message}\n`;
  return `hubctl: ${String(e)}\n`;
}
