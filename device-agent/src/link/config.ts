import { readFile } from 'node:fs/promises';
import { parseAgentConfig, type AgentConfig, type Issue } from '@fleet/protocol';

/**
 * The agent config file could not be used. The message names the file and, for schema
 * problems, each field by JSON path, so an operator can fix the image without reading code.
 */
export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
  constructor(
    readonly path: string,
    readonly issues: readonly Issue[],
    message: string,
  ) {
    super(message);
  }
}

/** Validates already-read text; pure, so every bad input is unit-tested. */
export function parseAgentConfigText(path: string, text: string): AgentConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const issue: Issue = { path: '$', code: 'invalid_json', message: (e as Error).message };
    throw new AgentConfigError(path, [issue], `agent config ${path} is not valid JSON: ${issue.message}`);
  }
  const r = parseAgentConfig(json);
  if (!r.ok) {
    const lines = r.error.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
    throw new AgentConfigError(path, r.error.issues, `agent config ${path} is invalid:\n${lines}`);
  }
  return r.value;
}

/** Reads and validates the agent config file (JSON, protocol's AgentConfig). */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new AgentConfigError(
      path,
      [{ path: '$', code, message: (e as Error).message }],
      `cannot read agent config ${path}: ${(e as Error).message}`,
    );
  }
  return parseAgentConfigText(path, text);
}
