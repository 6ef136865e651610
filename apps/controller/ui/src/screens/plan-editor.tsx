import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, errorText, get, post, put } from '../api.ts';
import { CheckField, FieldErrors, NumberField, SelectField, TextField } from '../fields.tsx';
import { dash, dateTime, duration, num } from '../format.ts';
import { useLive } from '../live.ts';
import {
  errorsAt,
  type Hook,
  newHook,
  newTrigger,
  normalise,
  type PlanDraft,
  type PlanHost,
  shutdownSteps,
  TRIGGER_TYPES,
  type Trigger,
  type Wake,
} from '../plan-model.ts';
import { announce, useIsAdmin } from '../session.ts';
import type { PlanError, WhatIf } from '../types.ts';
import { Alert, Table } from '../widgets.tsx';

type Edit = (change: (draft: PlanDraft) => void) => void;

interface PlanResponse {
  version: number;
  pending: number | null;
  plan: unknown;
}
interface VersionInfo {
  version: number;
  origin: string;
  author: string | null;
  createdAt: string;
}

// ---- triggers and hooks -----------------------------------------------------------------------

function TriggerList(props: {
  triggers: Trigger[];
  path: string;
  errors: PlanError[];
  onChange: (t: Trigger[]) => void;
  empty: string;
}) {
  const set = (i: number, t: Trigger) => props.onChange(props.triggers.map((x, j) => (j === i ? t : x)));
  return (
    <div class="list">
      {props.triggers.length === 0 && <p class="muted">{props.empty}</p>}
      {props.triggers.map((t, i) => {
        const at = `${props.path}/${i}`;
        return (
          <fieldset class="row item" aria-label={`trigger ${i + 1}`}>
            <SelectField
              label="When"
              value={t.type}
              options={TRIGGER_TYPES}
              onChange={(type) => type && set(i, newTrigger(type))}
              errors={errorsAt(props.errors, at).concat(errorsAt(props.errors, `${at}/type`))}
            />
            {(t.type === 'on-battery' || t.type === 'comm-lost') && (
              <NumberField
                label="Seconds"
                min={0}
                value={t.after}
                onChange={(v) => set(i, { ...t, after: v ?? 0 })}
                errors={errorsAt(props.errors, `${at}/after`)}
              />
            )}
            {t.type === 'charge-below' && (
              <NumberField
                label="Percent"
                min={0}
                max={100}
                value={t.percent}
                onChange={(v) => set(i, { ...t, percent: v ?? 0 })}
                errors={errorsAt(props.errors, `${at}/percent`)}
              />
            )}
            {t.type === 'runtime-below' && (
              <NumberField
                label="Seconds"
                min={0}
                value={t.seconds}
                onChange={(v) => set(i, { ...t, seconds: v ?? 0 })}
                errors={errorsAt(props.errors, `${at}/seconds`)}
              />
            )}
            {t.type === 'budget' && (
              <NumberField
                label="Margin, s"
                min={0}
                value={t.margin}
                placeholder="plan default"
                onChange={(v) => set(i, v === undefined ? { type: 'budget' } : { type: 'budget', margin: v })}
                errors={errorsAt(props.errors, `${at}/margin`)}
              />
            )}
            <button
              type="button"
              class="secondary small"
              onClick={() => props.onChange(props.triggers.filter((_, j) => j !== i))}
            >
              Remove trigger
            </button>
          </fieldset>
        );
      })}
      <button
        type="button"
        class="secondary small"
        onClick={() => props.onChange([...props.triggers, newTrigger('on-battery')])}
      >
        Add trigger
      </button>
    </div>
  );
}

const list = (text: string | undefined) =>
  text
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function HookList(props: {
  hooks: Hook[];
  path: string;
  errors: PlanError[];
  onChange: (h: Hook[]) => void;
}) {
  const set = (i: number, h: Hook) => props.onChange(props.hooks.map((x, j) => (j === i ? h : x)));
  return (
    <div class="list">
      {props.hooks.length === 0 && <p class="muted">No hooks: the host is powered off as it is.</p>}
      {props.hooks.map((h, i) => {
        const at = `${props.path}/${i}`;
        const err = (field: string) => errorsAt(props.errors, `${at}/${field}`);
        return (
          <fieldset class="row item" aria-label={`hook ${i + 1}`}>
            <SelectField
              label="Hook"
              value={h.type}
              options={[
                ['command', 'run a command'],
                ['docker-stop', 'stop Docker Compose projects'],
                ['libvirt-shutdown', 'shut down libvirt VMs'],
              ]}
              onChange={(type) => type && set(i, newHook(type))}
              errors={errorsAt(props.errors, at)}
            />
            <TextField
              label="Name"
              value={h.name}
              onChange={(name) => set(i, { ...h, name } as Hook)}
              errors={err('name')}
            />
            {h.type === 'command' && (
              <TextField
                label="Command (sh -c)"
                value={h.run}
                onChange={(run) => set(i, { ...h, run: run ?? '' })}
                errors={err('run')}
              />
            )}
            {h.type === 'docker-stop' && (
              <TextField
                label="Projects (comma-separated; empty: all)"
                value={h.projects?.join(', ')}
                onChange={(v) => set(i, { ...h, projects: list(v) })}
                errors={errorsAt(props.errors, `${at}/projects`, true)}
              />
            )}
            {h.type === 'libvirt-shutdown' && (
              <>
                <TextField
                  label="Domains (comma-separated; empty: all)"
                  value={h.domains?.join(', ')}
                  onChange={(v) => set(i, { ...h, domains: list(v) })}
                  errors={errorsAt(props.errors, `${at}/domains`, true)}
                />
                <CheckField
                  label="Destroy after the timeout"
                  checked={h.destroyAfterTimeout === true}
                  onChange={(v) => set(i, { ...h, destroyAfterTimeout: v })}
                />
              </>
            )}
            <NumberField
              label="Timeout, s"
              min={0}
              value={h.timeout}
              placeholder="default"
              onChange={(timeout) => set(i, { ...h, timeout })}
              errors={err('timeout')}
            />
            <button
              type="button"
              class="secondary small"
              onClick={() => props.onChange(props.hooks.filter((_, j) => j !== i))}
            >
              Remove hook
            </button>
          </fieldset>
        );
      })}
      <button
        type="button"
        class="secondary small"
        onClick={() => props.onChange([...props.hooks, newHook('command')])}
      >
        Add hook
      </button>
    </div>
  );
}

// ---- wake ---------------------------------------------------------------------------------------

function WakeEditor(props: {
  host: PlanHost;
  hosts: PlanHost[];
  path: string;
  errors: PlanError[];
  onChange: (w: Wake | undefined) => void;
}) {
  const wake = props.host.wake;
  const err = (field: string, deep = false) => errorsAt(props.errors, `${props.path}/${field}`, deep);
  const set = (change: Partial<Wake>) => props.onChange({ ...(wake ?? { method: 'wol' }), ...change });
  const health = wake?.health;
  return (
    <div class="row">
      <SelectField<Wake['method']>
        label="Wake method"
        value={wake?.method}
        options={[
          ['', 'default (none)'],
          ['wol', 'Wake-on-LAN from the controller'],
          ['relay', 'Wake-on-LAN relayed by an agent'],
          ['power-on', 'powers on when power returns'],
          ['none', 'leave it off'],
        ]}
        onChange={(method) => props.onChange(method ? { ...(wake ?? {}), method } : undefined)}
        errors={errorsAt(props.errors, props.path).concat(err('method'))}
      />
      {wake && (wake.method === 'wol' || wake.method === 'relay') && (
        <>
          <TextField
            label="MAC address"
            placeholder="00:11:22:33:44:55"
            value={wake.mac}
            onChange={(mac) => set({ mac })}
            errors={err('mac')}
          />
          <TextField
            label="Broadcast address"
            placeholder="255.255.255.255"
            value={wake.broadcast}
            onChange={(broadcast) => set({ broadcast })}
            errors={err('broadcast')}
          />
        </>
      )}
      {wake?.method === 'relay' && (
        <SelectField
          label="Relay agent"
          value={wake.via}
          options={[
            ['', 'choose…'],
            ...props.hosts
              .filter((h) => h.kind === 'agent' && h.id !== props.host.id)
              .map((h): [string, string] => [h.id, h.id]),
          ]}
          onChange={(via) => set({ via })}
          errors={err('via')}
        />
      )}
      {wake && wake.method !== 'none' && (
        <>
          <SelectField<'agent' | 'nut' | 'tcp' | 'none'>
            label="Back when"
            value={health?.type}
            options={[
              ['', 'default for its kind'],
              ['agent', 'its agent reconnects'],
              ['nut', 'its NUT client logs in'],
              ['tcp', 'a TCP port answers'],
              ['none', 'no check'],
            ]}
            onChange={(type) =>
              set({ health: type === undefined ? undefined : type === 'tcp' ? { type, port: 22 } : { type } })
            }
            errors={err('health')}
          />
          {health?.type === 'tcp' && (
            <>
              <TextField
                label="Health host"
                placeholder="the host's address"
                value={health.host}
                onChange={(h) => set({ health: { ...health, host: h } })}
                errors={err('health/host')}
              />
              <NumberField
                label="Port"
                min={1}
                max={65535}
                step={1}
                value={health.port}
                onChange={(port) => set({ health: { ...health, port: port ?? 0 } })}
                errors={err('health/port')}
              />
            </>
          )}
          <NumberField
            label="Wait per attempt, s"
            min={1}
            value={wake.timeout}
            placeholder="300"
            onChange={(timeout) => set({ timeout })}
            errors={err('timeout')}
          />
          <NumberField
            label="Retries"
            min={0}
            max={20}
            step={1}
            value={wake.retries}
            placeholder="2"
            onChange={(retries) => set({ retries })}
            errors={err('retries')}
          />
        </>
      )}
    </div>
  );
}

// ---- hosts --------------------------------------------------------------------------------------

function HostEditor(props: { draft: PlanDraft; index: number; errors: PlanError[]; edit: Edit }) {
  const { draft, index, errors, edit } = props;
  const host = draft.hosts[index]!;
  const at = `/hosts/${index}`;
  const err = (field: string, deep = false) => errorsAt(errors, `${at}/${field}`, deep);
  const change = (fn: (h: PlanHost) => void) => edit((d) => fn(d.hosts[index]!));
  const problems = errorsAt(errors, at, true).length;
  return (
    <details class="card host-editor" data-host={host.id} open={problems > 0 ? true : undefined}>
      <summary>
        <strong>{host.id}</strong> <span class="muted">{host.kind}</span>
        {problems > 0 && (
          <span class="bad">
            {' '}
            · {problems} problem{problems > 1 ? 's' : ''}
          </span>
        )}
      </summary>
      <FieldErrors errors={errorsAt(errors, at)} />
      <div class="row">
        <TextField
          label="Id"
          value={host.id}
          onChange={(id) => change((h) => renameHost(draft, h, id ?? ''))}
          errors={err('id')}
        />
        <TextField
          label="Name"
          value={host.name}
          onChange={(name) => change((h) => (h.name = name))}
          errors={err('name')}
        />
        <SelectField<PlanHost['kind']>
          label="Kind"
          value={host.kind}
          options={[
            ['agent', 'agent (runs blackstart-agent)'],
            ['nut-client', 'NUT client (FSD from our NUT server)'],
            ['wake-only', 'wake only (never shut down)'],
            ['controller', "the controller's own host"],
          ]}
          onChange={(kind) => kind && change((h) => (h.kind = kind))}
          errors={err('kind')}
        />
        <TextField
          label="Address"
          value={host.address}
          onChange={(address) => change((h) => (h.address = address))}
          errors={err('address')}
        />
      </div>
      <fieldset>
        <legend>Goes down before (depends on)</legend>
        <div class="checks">
          {draft.hosts
            .filter((o) => o.id !== host.id)
            .map((o) => (
              <CheckField
                label={o.id}
                checked={host.dependsOn.includes(o.id)}
                onChange={(on) =>
                  change(
                    (h) =>
                      (h.dependsOn = on ? [...h.dependsOn, o.id] : h.dependsOn.filter((d) => d !== o.id)),
                  )
                }
              />
            ))}
        </div>
        <FieldErrors errors={err('dependsOn', true)} />
      </fieldset>
      <fieldset>
        <legend>Fed by (empty: every UPS)</legend>
        <div class="checks">
          {draft.ups.map((u) => (
            <CheckField
              label={u.id}
              checked={host.supplies.includes(u.id)}
              onChange={(on) =>
                change(
                  (h) => (h.supplies = on ? [...h.supplies, u.id] : h.supplies.filter((s) => s !== u.id)),
                )
              }
            />
          ))}
        </div>
        <FieldErrors errors={err('supplies', true)} />
        <NumberField
          label="Go down when fewer healthy supplies than"
          min={1}
          step={1}
          value={host.minSupplies}
          placeholder="1"
          onChange={(v) => change((h) => (h.minSupplies = v))}
          errors={err('minSupplies')}
        />
      </fieldset>
      <fieldset>
        <legend>Triggers</legend>
        <TriggerList
          triggers={host.shutdown.triggers}
          path={`${at}/shutdown/triggers`}
          errors={errors}
          empty="None: the plan's default triggers apply."
          onChange={(t) => change((h) => (h.shutdown.triggers = t))}
        />
        <FieldErrors errors={err('shutdown/triggers')} />
      </fieldset>
      <fieldset>
        <legend>Shutdown</legend>
        <div class="row">
          <NumberField
            label="Timeout, s"
            min={1}
            value={host.shutdown.timeout}
            placeholder="180"
            onChange={(v) => change((h) => (h.shutdown.timeout = v))}
            errors={err('shutdown/timeout')}
          />
          <NumberField
            label="Expected duration, s"
            min={0}
            value={host.shutdown.expectedDuration}
            placeholder="from drills"
            onChange={(v) => change((h) => (h.shutdown.expectedDuration = v))}
            errors={err('shutdown/expectedDuration')}
          />
          <SelectField<'proceed' | 'hold'>
            label="Past its deadline"
            value={host.shutdown.fallback}
            options={[
              ['', 'default (proceed)'],
              ['proceed', 'proceed: count it as down'],
              ['hold', 'hold: wait for it until low battery'],
            ]}
            onChange={(v) => change((h) => (h.shutdown.fallback = v))}
            errors={err('shutdown/fallback')}
          />
          <SelectField<'triggered' | 'commanded' | 'powering-off'>
            label="No return after"
            value={host.shutdown.pointOfNoReturn}
            options={[
              ['', 'plan default'],
              ['triggered', 'triggered'],
              ['commanded', 'commanded'],
              ['powering-off', 'powering off'],
            ]}
            onChange={(v) => change((h) => (h.shutdown.pointOfNoReturn = v))}
            errors={err('shutdown/pointOfNoReturn')}
          />
        </div>
        <h4>Hooks</h4>
        <HookList
          hooks={host.shutdown.hooks}
          path={`${at}/shutdown/hooks`}
          errors={errors}
          onChange={(hooks) => change((h) => (h.shutdown.hooks = hooks))}
        />
        <FieldErrors errors={err('shutdown/hooks')} />
      </fieldset>
      <fieldset>
        <legend>Wake</legend>
        <WakeEditor
          host={host}
          hosts={draft.hosts}
          path={`${at}/wake`}
          errors={errors}
          onChange={(w) =>
            change((h) => {
              if (w) h.wake = w;
              else delete h.wake;
            })
          }
        />
      </fieldset>
      <p>
        <button type="button" class="danger small" onClick={() => edit((d) => removeHost(d, index))}>
          Remove host {host.id}
        </button>
      </p>
    </details>
  );
}

function renameHost(draft: PlanDraft, host: PlanHost, id: string) {
  const old = host.id;
  host.id = id;
  for (const h of draft.hosts) {
    h.dependsOn = h.dependsOn.map((d) => (d === old ? id : d));
    if (h.wake?.via === old) h.wake.via = id;
  }
}

function removeHost(draft: PlanDraft, index: number) {
  const [removed] = draft.hosts.splice(index, 1);
  if (!removed) return;
  for (const h of draft.hosts) {
    h.dependsOn = h.dependsOn.filter((d) => d !== removed.id);
    if (h.wake?.via === removed.id) delete h.wake.via;
  }
}

// ---- dependency board: drag to order, with buttons and selects for the keyboard ---------------

function DependencyBoard(props: { draft: PlanDraft; errors: PlanError[]; edit: Edit; admin: boolean }) {
  const { draft, errors, edit, admin } = props;
  const [dragging, setDragging] = useState<string>();
  const [over, setOver] = useState<string>();
  const [choice, setChoice] = useState<Record<string, string>>({});
  const { steps, cyclic } = shutdownSteps(draft.hosts);
  const indexOf = (id: string) => draft.hosts.findIndex((h) => h.id === id);

  const addDependency = (host: string, before: string) => {
    if (!before || host === before) return;
    edit((d) => {
      const h = d.hosts.find((x) => x.id === host);
      if (h && !h.dependsOn.includes(before)) h.dependsOn.push(before);
    });
    announce(`${host} now goes down before ${before}`);
  };
  const removeDependency = (host: string, before: string) => {
    edit((d) => {
      const h = d.hosts.find((x) => x.id === host);
      if (h) h.dependsOn = h.dependsOn.filter((x) => x !== before);
    });
    announce(`${host} no longer goes down before ${before}`);
  };

  const row = (h: PlanHost) => {
    const i = indexOf(h.id);
    const candidates = draft.hosts.filter((o) => o.id !== h.id && !h.dependsOn.includes(o.id));
    return (
      <li
        class={`dep-row ${over === h.id && dragging !== h.id ? 'drop-target' : ''} ${dragging === h.id ? 'dragging' : ''}`}
        data-host={h.id}
        draggable={admin}
        onDragStart={(e) => {
          setDragging(h.id);
          e.dataTransfer?.setData('text/plain', h.id);
          if (e.dataTransfer) e.dataTransfer.effectAllowed = 'link';
        }}
        onDragEnd={() => {
          setDragging(undefined);
          setOver(undefined);
        }}
        onDragOver={(e) => {
          if (!admin) return;
          e.preventDefault();
          setOver(h.id);
        }}
        onDragLeave={() => setOver((o) => (o === h.id ? undefined : o))}
        onDrop={(e) => {
          e.preventDefault();
          const source = e.dataTransfer?.getData('text/plain') || dragging;
          setDragging(undefined);
          setOver(undefined);
          if (source) addDependency(source, h.id);
        }}
      >
        <span class="grip" aria-hidden="true">
          {admin ? '⠿' : ''}
        </span>
        <strong>{h.id}</strong> <span class="muted">{h.kind}</span>
        <span class="deps">
          {h.dependsOn.length === 0 ? (
            <span class="muted">depends on no host</span>
          ) : (
            <>
              goes down before{' '}
              {h.dependsOn.map((d) => (
                <span class="chip">
                  {d}
                  {admin && (
                    <button
                      type="button"
                      class="chip-remove"
                      aria-label={`${h.id} no longer goes down before ${d}`}
                      onClick={() => removeDependency(h.id, d)}
                    >
                      ×
                    </button>
                  )}
                </span>
              ))}
            </>
          )}
        </span>
        {admin && candidates.length > 0 && (
          <span class="add-dep">
            <label>
              <span class="visually-hidden">{h.id} also goes down before</span>
              <select
                value={choice[h.id] ?? ''}
                onChange={(e) => setChoice({ ...choice, [h.id]: e.currentTarget.value })}
              >
                <option value="">goes down before…</option>
                {candidates.map((o) => (
                  <option value={o.id}>{o.id}</option>
                ))}
              </select>
            </label>
            <button
              type="button"
              class="small"
              disabled={!choice[h.id]}
              onClick={() => {
                addDependency(h.id, choice[h.id] ?? '');
                setChoice({ ...choice, [h.id]: '' });
              }}
            >
              Add
            </button>
          </span>
        )}
        <FieldErrors errors={errorsAt(errors, `/hosts/${i}/dependsOn`, true)} />
      </li>
    );
  };

  return (
    <section class="card" aria-labelledby="order-title">
      <h2 id="order-title">Shutdown order</h2>
      <p class="muted">
        A host goes down before the hosts it depends on, and comes back after them.
        {admin && ' Drag a host onto another to make it go down first, or use its “goes down before” list.'}
      </p>
      {steps.map((step, i) => (
        <div class="step">
          <h3 class="step-title">Step {i + 1}</h3>
          <ul class="dep-list">{step.map(row)}</ul>
        </div>
      ))}
      {cyclic.length > 0 && (
        <div class="step cyclic">
          <h3 class="step-title bad">In a dependency cycle</h3>
          <ul class="dep-list">{cyclic.map(row)}</ul>
        </div>
      )}
    </section>
  );
}

// ---- what-if --------------------------------------------------------------------------------------

function WhatIfPanel(props: {
  result: WhatIf | undefined;
  loads: Record<string, number>;
  setLoad: (ups: string, load: number | undefined) => void;
  draft: PlanDraft;
  busy: boolean;
}) {
  const { result } = props;
  return (
    <section class="card" aria-labelledby="whatif-title" aria-busy={props.busy}>
      <h2 id="whatif-title">What if mains failed now?</h2>
      <div class="row">
        {props.draft.ups.map((u) => (
          <NumberField
            label={`Load of ${u.id}, %`}
            min={1}
            max={100}
            value={props.loads[u.id]}
            placeholder="current"
            onChange={(v) => props.setLoad(u.id, v)}
          />
        ))}
      </div>
      {!result && (
        <p class="muted">{props.busy ? 'Simulating…' : 'Fix the plan to see its predicted timeline.'}</p>
      )}
      {result && (
        <>
          <Table
            head={[
              'UPS',
              'Load',
              'Charge',
              'Runtime',
              'Last host down',
              'Powered off',
              'Battery empty',
              'Margin',
            ]}
            testId="whatif-ups"
          >
            {result.ups.map((u) => (
              <tr>
                <th scope="row">{u.id}</th>
                <td>{num(u.load, ' %')}</td>
                <td>{num(u.charge, ' %')}</td>
                <td>{duration(u.runtimeSeconds)}</td>
                <td>{u.lastHostDownAt === null ? dash : `+${duration(u.lastHostDownAt)}`}</td>
                <td>{u.poweredOffAt === null ? dash : `+${duration(u.poweredOffAt)}`}</td>
                <td>{u.depletedAt === null ? 'not within the outage' : `+${duration(u.depletedAt)}`}</td>
                <td
                  class={u.marginSeconds !== null && u.marginSeconds < 60 ? 'bad' : 'good'}
                  data-testid={`margin-${u.id}`}
                >
                  {duration(u.marginSeconds)}
                </td>
              </tr>
            ))}
          </Table>
          {result.crashes.length > 0 && (
            <Alert>
              Would lose power before they were down:{' '}
              {result.crashes.map((c) => `${c.host} at +${duration(c.at)}`).join(', ')}
            </Alert>
          )}
          <details>
            <summary>Predicted timeline ({result.timeline.length} steps)</summary>
            <ol class="events">
              {result.timeline.map((t) => (
                <li>
                  +{duration(t.at)} <strong>{t.subject}</strong> {t.text}
                </li>
              ))}
            </ol>
          </details>
        </>
      )}
    </section>
  );
}

// ---- the editor ---------------------------------------------------------------------------------

export function PlanEditor() {
  const admin = useIsAdmin();
  const feed = useLive();
  const [loaded, setLoaded] = useState<PlanResponse>();
  const [draft, setDraft] = useState<PlanDraft>();
  const [dirty, setDirty] = useState(false);
  const [errors, setErrors] = useState<PlanError[]>([]);
  const [whatIf, setWhatIf] = useState<WhatIf>();
  const [simulating, setSimulating] = useState(false);
  const [loads, setLoads] = useState<Record<string, number>>({});
  const [versions, setVersions] = useState<VersionInfo[]>([]);
  const [message, setMessage] = useState<{ text: string; tone: 'good' | 'bad' }>();
  const [failure, setFailure] = useState<string>();
  const [advanced, setAdvanced] = useState('');
  const [newHostId, setNewHostId] = useState('');
  const checkSeq = useRef(0);

  const load = async () => {
    try {
      const current = await get<PlanResponse>('/api/v1/plan');
      setLoaded(current);
      setDraft(normalise(current.plan));
      setDirty(false);
      setErrors([]);
      setVersions((await get<{ versions: VersionInfo[] }>('/api/v1/plan/versions')).versions);
    } catch (e) {
      setFailure(errorText(e));
    }
  };
  useEffect(() => {
    load();
  }, []);

  // The same validation as saving (the server's schema and rules), run on every change: errors at
  // their fields, and the what-if of the draft when it is valid.
  useEffect(() => {
    if (!draft) return;
    const seq = ++checkSeq.current;
    setSimulating(true);
    const timer = window.setTimeout(async () => {
      try {
        const result = await post<WhatIf>('/api/v1/plan/what-if', {
          plan: draft,
          ...(Object.keys(loads).length > 0 && { load: loads }),
        });
        if (seq !== checkSeq.current) return;
        setWhatIf(result);
        setErrors([]);
      } catch (e) {
        if (seq !== checkSeq.current) return;
        setWhatIf(undefined);
        if (e instanceof ApiError && e.errors.length > 0) setErrors(e.errors);
        else setErrors([{ path: '/', message: errorText(e) }]);
      } finally {
        if (seq === checkSeq.current) setSimulating(false);
      }
    }, 300);
    return () => window.clearTimeout(timer);
  }, [draft, loads]);

  if (failure) return <Alert>{failure}</Alert>;
  if (!draft || !loaded) return <p class="loading">Loading the plan…</p>;

  const edit: Edit = (change) => {
    const next = structuredClone(draft);
    change(next);
    setDraft(next);
    setDirty(true);
    setMessage(undefined);
  };

  const save = async () => {
    try {
      const result = await put<{ version: number; applied: boolean; message?: string }>(
        '/api/v1/plan',
        draft,
      );
      setMessage({
        text: `Saved as version ${result.version}.${result.message ? ` ${result.message}` : ''}`,
        tone: 'good',
      });
      announce(`Plan saved as version ${result.version}`);
      await load();
    } catch (e) {
      if (e instanceof ApiError && e.errors.length > 0) setErrors(e.errors);
      setMessage({ text: `Not saved: ${errorText(e)}`, tone: 'bad' });
    }
  };

  const openVersion = async (version: number) => {
    try {
      const found = await get<{ plan: unknown }>(`/api/v1/plan/versions/${version}`);
      setDraft(normalise(found.plan));
      setDirty(true);
      setMessage({
        text: `Version ${version} loaded into the editor; save to make it the plan in force.`,
        tone: 'good',
      });
    } catch (e) {
      setMessage({ text: errorText(e), tone: 'bad' });
    }
  };

  const addHost = (event: Event) => {
    event.preventDefault();
    const id = newHostId.trim();
    if (!id) return;
    edit((d) =>
      d.hosts.push({ id, kind: 'agent', dependsOn: [], supplies: [], shutdown: { triggers: [], hooks: [] } }),
    );
    setNewHostId('');
    announce(`host ${id} added`);
  };

  const currentLoad = (ups: string) => feed.state?.sources.find((s) => s.id === ups)?.reading?.load;
  const s = draft.settings;
  const r = draft.restore;
  const topErrors = errors.filter(
    (e) => e.path === '/' || e.path === '' || !/^\/(hosts|ups|settings|restore)\//.test(e.path),
  );

  return (
    <>
      <h1>Plan</h1>
      <p class="muted">
        Version {loaded.version} in force
        {loaded.pending !== null && <> · version {loaded.pending} applies when the running outage ends</>}
        {dirty && <strong> · unsaved changes</strong>}
      </p>
      {errors.length > 0 && (
        <div class="error-summary" role="alert" data-testid="plan-errors">
          <h2>
            The plan has {errors.length} problem{errors.length > 1 ? 's' : ''}
          </h2>
          <ul>
            {errors.map((e) => (
              <li>
                <code>{e.path}</code>: {e.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      <FieldErrors errors={topErrors} />
      {admin && (
        <div class="save-bar">
          <button type="button" onClick={save} disabled={!dirty}>
            Save plan
          </button>
          <button type="button" class="secondary" onClick={load} disabled={!dirty}>
            Discard changes
          </button>
          <span role="status" class={message?.tone} data-testid="save-message">
            {message?.text}
          </span>
        </div>
      )}
      <DependencyBoard draft={draft} errors={errors} edit={edit} admin={admin} />
      <WhatIfPanel
        result={whatIf}
        busy={simulating}
        draft={draft}
        loads={Object.fromEntries(
          draft.ups
            .map((u) => [u.id, loads[u.id] ?? currentLoad(u.id) ?? Number.NaN])
            .filter(([, v]) => !Number.isNaN(v)),
        )}
        setLoad={(ups, load) =>
          setLoads((l) => {
            const next = { ...l };
            if (load === undefined) delete next[ups];
            else next[ups] = load;
            return next;
          })
        }
      />
      <fieldset class="plain" disabled={!admin}>
        <section aria-labelledby="hosts-title">
          <h2 id="hosts-title">Hosts</h2>
          {draft.hosts.map((_, i) => (
            <HostEditor draft={draft} index={i} errors={errors} edit={edit} />
          ))}
          {admin && (
            <form class="row" onSubmit={addHost}>
              <TextField
                label="New host id"
                value={newHostId}
                onChange={(v) => setNewHostId(v ?? '')}
                placeholder="e.g. db"
              />
              <button type="submit" class="small">
                Add host
              </button>
            </form>
          )}
        </section>
        <section class="card" aria-labelledby="ups-title">
          <h2 id="ups-title">UPS power-off</h2>
          {draft.ups.map((u, i) => (
            <fieldset class="row item" aria-label={`UPS ${u.id}`}>
              <strong>{u.id}</strong>
              <CheckField
                label="Power the UPS off at the end"
                checked={u.powerOff.enabled !== false}
                onChange={(v) => edit((d) => (d.ups[i]!.powerOff.enabled = v))}
              />
              <NumberField
                label="Delay, s"
                min={0}
                value={u.powerOff.delay}
                placeholder="60"
                onChange={(v) => edit((d) => (d.ups[i]!.powerOff.delay = v))}
                errors={errorsAt(errors, `/ups/${i}/powerOff/delay`)}
              />
              <NumberField
                label="Stays off at least, s"
                min={0}
                value={u.powerOff.offFor}
                placeholder="10"
                onChange={(v) => edit((d) => (d.ups[i]!.powerOff.offFor = v))}
                errors={errorsAt(errors, `/ups/${i}/powerOff/offFor`)}
              />
            </fieldset>
          ))}
        </section>
        <section class="card" aria-labelledby="settings-title">
          <h2 id="settings-title">Default triggers and timing</h2>
          <TriggerList
            triggers={s.defaultTriggers ?? []}
            path="/settings/defaultTriggers"
            errors={errors}
            empty="None set: the server's defaults apply (on battery 120 s, low battery)."
            onChange={(t) => edit((d) => (d.settings.defaultTriggers = t))}
          />
          <div class="row">
            <NumberField
              label="Ignore on-battery blips shorter than, s"
              min={0}
              value={s.debounce}
              placeholder="5"
              onChange={(v) => edit((d) => (d.settings.debounce = v))}
              errors={errorsAt(errors, '/settings/debounce')}
            />
            <NumberField
              label="Mains back for, s"
              min={0}
              value={s.mainsBackAfter}
              placeholder="10"
              onChange={(v) => edit((d) => (d.settings.mainsBackAfter = v))}
              errors={errorsAt(errors, '/settings/mainsBackAfter')}
            />
            <NumberField
              label="UPS lost after, s"
              min={1}
              value={s.staleAfter}
              placeholder="30"
              onChange={(v) => edit((d) => (d.settings.staleAfter = v))}
              errors={errorsAt(errors, '/settings/staleAfter')}
            />
            <SelectField<'triggered' | 'commanded' | 'powering-off'>
              label="No return after"
              value={s.pointOfNoReturn}
              options={[
                ['', 'default (commanded)'],
                ['triggered', 'triggered'],
                ['commanded', 'commanded'],
                ['powering-off', 'powering off'],
              ]}
              onChange={(v) => edit((d) => (d.settings.pointOfNoReturn = v))}
              errors={errorsAt(errors, '/settings/pointOfNoReturn')}
            />
            <NumberField
              label="Budget margin, s"
              min={0}
              value={s.budget?.margin}
              placeholder="60"
              onChange={(v) => edit((d) => (d.settings.budget = { ...d.settings.budget, margin: v }))}
              errors={errorsAt(errors, '/settings/budget/margin')}
            />
            <NumberField
              label="Battery empty below, %"
              min={0}
              max={100}
              value={s.budget?.reserveCharge}
              placeholder="10"
              onChange={(v) => edit((d) => (d.settings.budget = { ...d.settings.budget, reserveCharge: v }))}
              errors={errorsAt(errors, '/settings/budget/reserveCharge')}
            />
          </div>
        </section>
        <section class="card" aria-labelledby="restore-title">
          <h2 id="restore-title">Restore gates</h2>
          <div class="row">
            <CheckField
              label="Restore when power returns"
              checked={r.enabled !== false}
              onChange={(v) => edit((d) => (d.restore.enabled = v))}
            />
            <NumberField
              label="Mains stable for, s"
              min={0}
              value={r.mainsStableFor}
              placeholder="120"
              onChange={(v) => edit((d) => (d.restore.mainsStableFor = v))}
              errors={errorsAt(errors, '/restore/mainsStableFor')}
            />
            <NumberField
              label="Battery charged to, %"
              min={0}
              max={100}
              value={r.minCharge}
              placeholder="50"
              onChange={(v) => edit((d) => (d.restore.minCharge = v))}
              errors={errorsAt(errors, '/restore/minCharge')}
            />
            <SelectField<'continue' | 'skip-dependents'>
              label="When a host does not come back"
              value={r.onWakeFailure}
              options={[
                ['', 'default (continue)'],
                ['continue', 'wake the hosts that need it anyway'],
                ['skip-dependents', 'leave the hosts that need it off'],
              ]}
              onChange={(v) => edit((d) => (d.restore.onWakeFailure = v))}
              errors={errorsAt(errors, '/restore/onWakeFailure')}
            />
          </div>
        </section>
        <details class="card">
          <summary>Advanced: the whole plan as JSON (groups, battery samples)</summary>
          <label class="field">
            <span class="field-label">Plan JSON</span>
            <textarea
              class="json"
              rows={16}
              value={advanced || JSON.stringify(draft, null, 2)}
              onInput={(e) => setAdvanced(e.currentTarget.value)}
            />
          </label>
          {admin && (
            <button
              type="button"
              class="small"
              onClick={() => {
                try {
                  const parsed = JSON.parse(advanced || JSON.stringify(draft));
                  setDraft(normalise(parsed));
                  setDirty(true);
                  setAdvanced('');
                  setMessage({ text: 'JSON applied to the editor.', tone: 'good' });
                } catch (e) {
                  setMessage({ text: `Not JSON: ${errorText(e)}`, tone: 'bad' });
                }
              }}
            >
              Apply JSON to the editor
            </button>
          )}
        </details>
      </fieldset>
      <section aria-labelledby="versions-title">
        <h2 id="versions-title">Versions</h2>
        <Table head={['Version', 'Saved', 'By', 'From', <span class="visually-hidden">Actions</span>]}>
          {versions.map((v) => (
            <tr>
              <th scope="row">{v.version}</th>
              <td>{dateTime(v.createdAt)}</td>
              <td>{v.author ?? dash}</td>
              <td>{v.origin}</td>
              <td>
                {v.version === loaded.version ? (
                  <span class="muted">in force</span>
                ) : (
                  <button type="button" class="secondary small" onClick={() => openVersion(v.version)}>
                    Open version {v.version}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </Table>
      </section>
    </>
  );
}
