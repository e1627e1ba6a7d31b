import type { RolloutDetail, RolloutSpecRequest } from '@fleet/protocol/browser';
import { useId, useMemo, useState, type FormEvent } from 'react';
import { ErrorBox } from '../../../components/feedback.js';
import { useTags } from '../../devices/api/list-tags.js';
import { useFleets } from '../../fleets/api/list-fleets.js';
import { useReleases } from '../../releases/api/list-releases.js';
import { useCreateRollout } from '../api/create-rollout.js';
import { useDryRunRollout } from '../api/dry-run-rollout.js';
import { parsePhases } from '../phases.js';
import { DryRunView } from './dry-run-view.js';

const STEPS = ['Release and target', 'Phases and thresholds', 'Dry run and start'] as const;

export interface WizardDraft {
  release: string;
  fleetId: string;
  tags: string[];
  deviceIds: string;
  phases: string;
  bakeMinutes: number;
  maxFailurePercent: number;
  minSuccessPercent: number;
  deadlineMinutes: number;
  maxParallelDownloads: number;
  /** The device's own health gate before it commits the update. */
  deviceBakeSeconds: number;
  /** Also send the release to devices where it failed before. */
  force: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The wizard's draft as the hub's creation body, or the first thing wrong with it. */
export function toCreateInput(
  d: WizardDraft,
): { ok: true; input: RolloutSpecRequest } | { ok: false; error: string } {
  if (!d.release) return { ok: false, error: 'choose a release' };
  if (!d.fleetId) return { ok: false, error: 'choose a fleet' };
  const ids = d.deviceIds
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = ids.find((i) => !UUID.test(i));
  if (bad) return { ok: false, error: `"${bad}" is not a device id` };
  if (!(d.bakeMinutes >= 0 && d.bakeMinutes <= 7 * 24 * 60))
    return { ok: false, error: 'bake time must be between 0 and 10080 minutes' };
  const phases = parsePhases(d.phases, Math.round(d.bakeMinutes * 60));
  if (!phases.ok) return phases;
  if (!(d.maxFailurePercent >= 0 && d.maxFailurePercent <= 100))
    return { ok: false, error: 'failure threshold must be 0–100%' };
  if (!(d.minSuccessPercent >= 0 && d.minSuccessPercent <= 100))
    return { ok: false, error: 'success threshold must be 0–100%' };
  if (!(d.deadlineMinutes >= 1))
    return { ok: false, error: 'the per-device deadline must be at least 1 minute' };
  if (!(Number.isInteger(d.maxParallelDownloads) && d.maxParallelDownloads >= 1))
    return { ok: false, error: 'parallel downloads must be a whole number ≥ 1' };
  if (!(Number.isInteger(d.deviceBakeSeconds) && d.deviceBakeSeconds >= 0 && d.deviceBakeSeconds <= 86_400))
    return { ok: false, error: 'the device health gate must be 0–86400 whole seconds' };
  return {
    ok: true,
    input: {
      release: d.release,
      fleet: d.fleetId,
      tags: d.tags,
      deviceIds: ids,
      phases: phases.phases,
      maxFailurePercent: d.maxFailurePercent,
      minSuccessPercent: d.minSuccessPercent,
      deviceTimeoutSeconds: Math.max(5, Math.round(d.deadlineMinutes * 60)),
      maxParallel: d.maxParallelDownloads,
      deviceBakeSeconds: d.deviceBakeSeconds,
      force: d.force,
    },
  };
}

export function RolloutWizard({
  initialRelease,
  onStarted,
}: {
  initialRelease?: string;
  onStarted: (r: RolloutDetail) => void;
}) {
  const [step, setStep] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [draft, setDraft] = useState<WizardDraft>({
    release: initialRelease ?? '',
    fleetId: '',
    tags: [],
    deviceIds: '',
    phases: '1,10%,50%,100%',
    bakeMinutes: 10,
    maxFailurePercent: 5,
    minSuccessPercent: 95,
    deadlineMinutes: 60,
    maxParallelDownloads: 50,
    deviceBakeSeconds: 30,
    force: false,
  });
  const releases = useReleases(false);
  const fleets = useFleets();
  const tags = useTags(draft.fleetId || undefined);
  const dryRun = useDryRunRollout();
  const create = useCreateRollout();
  const built = useMemo(() => toCreateInput(draft), [draft]);
  const id = useId();
  const f = (name: string) => `${id}-${name}`;
  const set = <K extends keyof WizardDraft>(k: K, v: WizardDraft[K]) => {
    setDraft((d) => ({ ...d, [k]: v }));
    dryRun.reset();
  };

  function next(e: FormEvent) {
    e.preventDefault();
    if (step === 0) {
      if (!draft.release) return setError('choose a release');
      if (!draft.fleetId) return setError('choose a fleet');
      const r = toCreateInput(draft);
      if (!r.ok && /device id/.test(r.error)) return setError(r.error);
      setError(null);
      setStep(1);
    } else if (step === 1) {
      if (!built.ok) return setError(built.error);
      setError(null);
      setStep(2);
      dryRun.mutate(built.input);
    }
  }

  const releaseOptions = releases.data?.pages.flatMap((p) => p.items) ?? [];
  const eligible = dryRun.data?.summary.eligible ?? 0;

  return (
    <div className="card wizard">
      <ol className="steps" aria-label="Steps">
        {STEPS.map((s, i) => (
          <li
            key={s}
            aria-current={i === step ? 'step' : undefined}
            className={i < step ? 'done' : i === step ? 'current' : ''}
          >
            {i + 1}. {s}
          </li>
        ))}
      </ol>
      <form onSubmit={next} aria-label={STEPS[step]} noValidate>
        {step === 0 && (
          <fieldset>
            <legend>{STEPS[0]}</legend>
            <div className="field">
              <label htmlFor={f('release')}>Release</label>
              <select
                id={f('release')}
                value={draft.release}
                onChange={(e) => set('release', e.target.value)}
                aria-required="true"
              >
                <option value="">choose…</option>
                {draft.release && !releaseOptions.some((r) => r.version === draft.release) && (
                  <option value={draft.release}>{draft.release}</option>
                )}
                {releaseOptions.map((r) => (
                  <option key={r.id} value={r.version}>
                    {r.version} ({r.compatibleBoards.join(', ')})
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor={f('fleet')}>Fleet</label>
              <select
                id={f('fleet')}
                value={draft.fleetId}
                onChange={(e) => {
                  // Read now: the updater runs later, after React restored the controlled value.
                  const fleetId = e.target.value;
                  setDraft((d) => ({ ...d, fleetId, tags: [] }));
                  dryRun.reset();
                }}
                aria-required="true"
              >
                <option value="">choose…</option>
                {fleets.data?.map((fl) => (
                  <option key={fl.id} value={fl.id}>
                    {fl.name} ({fl.deviceCount} devices)
                  </option>
                ))}
              </select>
            </div>
            <fieldset className="field">
              <legend>Only devices with these tags (optional)</legend>
              {tags.data?.length ? (
                <div className="check-grid">
                  {tags.data.map((t) => (
                    <label key={t.tag} className="check">
                      <input
                        type="checkbox"
                        checked={draft.tags.includes(t.tag)}
                        onChange={(e) =>
                          set(
                            'tags',
                            e.target.checked ? [...draft.tags, t.tag] : draft.tags.filter((x) => x !== t.tag),
                          )
                        }
                      />{' '}
                      {t.tag} ({t.count})
                    </label>
                  ))}
                </div>
              ) : (
                <p className="muted">
                  {draft.fleetId ? 'No tags in this fleet.' : 'Choose a fleet to see its tags.'}
                </p>
              )}
            </fieldset>
            <div className="field">
              <label htmlFor={f('devices')}>Only these device ids (optional, comma or space separated)</label>
              <textarea
                id={f('devices')}
                rows={2}
                value={draft.deviceIds}
                onChange={(e) => set('deviceIds', e.target.value)}
              />
            </div>
          </fieldset>
        )}
        {step === 1 && (
          <fieldset>
            <legend>{STEPS[1]}</legend>
            <div className="field">
              <label htmlFor={f('phases')}>Phases (device counts or cumulative percents)</label>
              <input
                id={f('phases')}
                value={draft.phases}
                onChange={(e) => set('phases', e.target.value)}
                aria-describedby={f('phases-help')}
              />
              <p id={f('phases-help')} className="muted">
                e.g. <code>1,10%,50%,100%</code>: one canary, then 10%, 50% and everyone.
              </p>
            </div>
            <div className="field-row">
              <NumberField
                id={f('bake')}
                label="Bake time per phase (minutes)"
                value={draft.bakeMinutes}
                onChange={(v) => set('bakeMinutes', v)}
              />
              <NumberField
                id={f('maxfail')}
                label="Auto-pause above failures (%)"
                value={draft.maxFailurePercent}
                onChange={(v) => set('maxFailurePercent', v)}
              />
              <NumberField
                id={f('minok')}
                label="Advance at success (%)"
                value={draft.minSuccessPercent}
                onChange={(v) => set('minSuccessPercent', v)}
              />
              <NumberField
                id={f('deadline')}
                label="Per-device deadline (minutes)"
                value={draft.deadlineMinutes}
                onChange={(v) => set('deadlineMinutes', v)}
              />
              <NumberField
                id={f('parallel')}
                label="Parallel downloads"
                value={draft.maxParallelDownloads}
                onChange={(v) => set('maxParallelDownloads', v)}
              />
              <NumberField
                id={f('devbake')}
                label="Device health gate (seconds)"
                value={draft.deviceBakeSeconds}
                onChange={(v) => set('deviceBakeSeconds', v)}
              />
            </div>
            <label className="check">
              <input type="checkbox" checked={draft.force} onChange={(e) => set('force', e.target.checked)} />{' '}
              Also send to devices where this release failed before
            </label>
            <div></div>
          </fieldset>
        )}
        {step === 2 && (
          <>
            {dryRun.isPending && (
              <p role="status" className="loading">
                Running the dry run…
              </p>
            )}
            {dryRun.isError && <ErrorBox error={dryRun.error} title="The dry run failed" />}
            {dryRun.data && <DryRunView dryRun={dryRun.data} />}
            {create.isError && <ErrorBox error={create.error} title="The rollout was not started" />}
          </>
        )}
        {error && (
          <p role="alert" className="error-text">
            {error}
          </p>
        )}
        <div className="wizard-nav">
          {step > 0 && (
            <button type="button" className="btn" onClick={() => (setError(null), setStep(step - 1))}>
              Back
            </button>
          )}
          {step < 2 && (
            <button type="submit" className="btn primary">
              {step === 1 ? 'Run dry run' : 'Next'}
            </button>
          )}
          {step === 2 && (
            <button
              type="button"
              className="btn primary"
              disabled={!dryRun.data || eligible === 0 || create.isPending || !built.ok}
              onClick={() => built.ok && create.mutate(built.input, { onSuccess: onStarted })}
            >
              {create.isPending
                ? 'Starting…'
                : `Start rollout to ${eligible} device${eligible === 1 ? '' : 's'}`}
            </button>
          )}
        </div>
      </form>
    </div>
  );
}

function NumberField({
  id,
  label,
  value,
  onChange,
}: {
  id: string;
  label: string;
  value: number;
  onChange: (v: number) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        min={0}
        value={Number.isFinite(value) ? value : ''}
        onChange={(e) => onChange(e.target.value === '' ? Number.NaN : Number(e.target.value))}
      />
    </div>
  );
}
