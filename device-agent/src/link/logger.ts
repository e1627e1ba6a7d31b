/**
 * The link's view of a logger. The composition root passes the agent's logger in; tests pass
 * one that records. Fields are structured so a JSON logger can keep them apart.
 */
export interface LinkLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** For callers that do not care (unit tests of pure parts). */
export const silentLogger: LinkLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
