import { describe, expect, it } from 'vitest';
import { hubError, hintFor } from '../hub/hub-client.js';
import { formatError, HubctlError, UsageError } from './errors.js';

describe('error formatting', () => {
  it("lists the hub's field errors one per line, then what to do", () => {
    const e = hubError(400, 'POST', '/api/v1/fleets/lab/claim-tokens', {
      statusCode: 400,
      error: 'Bad Request',
      message:
        'invalid request body: $.maxUses: Too small: expected number to be >=1; $.tags[0]: must be "key" or "key=value"',
      issues: [
        { path: '$.maxUses', message: 'Too small: expected number to be >=1' },
        { path: '$.tags[0]', message: 'must be "key" or "key=value"' },
      ],
    });
    expect(formatError(e)).toBe(
      'hubctl: invalid request body (POST /api/v1/fleets/lab/claim-tokens → 400)\n  $.maxUses: Too small: expected number to be >=1\n  $.tags[0]: must be "key" or "key=value"\n',
    );
  });

  it('keeps a plain message whole and adds the hint for the status', () => {
    const e = hubError(404, 'GET', '/api/v1/releases/9.9.9', {
      statusCode: 404,
      message: 'no release 9.9.9',
    });
    expect(formatError(e)).toBe(
      `hubctl: no release 9.9.9 (GET /api/v1/releases/9.9.9 → 404)\n${hintFor(404, 'GET', '')}\n`,
    );
  });

  it('tells how to fix authentication and permission refusals', () => {
    expect(
      formatError(hubError(401, 'GET', '/api/v1/auth/me', { statusCode: 401, message: 'Unauthorized' })),
    ).toContain('hubctl login');
    expect(
      formatError(hubError(403, 'POST', '/api/v1/keys', { statusCode: 403, message: 'needs role admin' })),
    ).toContain('ask an admin');
  });

  it('copes with bodies that are not the JSON error shape', () => {
    expect(hubError(502, 'GET', '/x', '<html>Bad gateway</html>').summary()).toBe(
      '<html>Bad gateway</html> (GET /x → 502)',
    );
    expect(hubError(500, 'GET', '/x', '').summary()).toBe('HTTP 500 (GET /x → 500)');
    expect(hubError(400, 'GET', '/x', { message: ['a', 'b'] }).summary()).toBe('a; b (GET /x → 400)');
  });

  it('prints usage errors with the usage line and a pointer to --help', () => {
    expect(
      formatError(
        new UsageError('--max-uses: must be at least 1', 'usage: hubctl claim-tokens create [options]'),
      ),
    ).toBe(
      'hubctl: --max-uses: must be at least 1\nusage: hubctl claim-tokens create [options]\n(see `hubctl <command> --help`)\n',
    );
    expect(formatError(new HubctlError('not logged in', 'run `hubctl login`'))).toBe(
      'hubctl: not logged in\nrun `hubctl login`\n',
    );
    expect(formatError('odd')).toBe('hubctl: odd\n');
  });
});
