// Form controls with their label and the server's errors for their path, shown at the field.
import type { ComponentChildren } from 'preact';
import type { PlanError } from './types.ts';

export function FieldErrors(props: { errors: PlanError[] }) {
  if (props.errors.length === 0) return null;
  return (
    <ul class="field-errors">
      {props.errors.map((e) => (
        <li data-path={e.path}>{e.message}</li>
      ))}
    </ul>
  );
}

function Labelled(props: {
  label: string;
  errors?: PlanError[];
  children: ComponentChildren;
  hint?: string;
}) {
  const errors = props.errors ?? [];
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is passed in as children
    <label class={`field ${errors.length > 0 ? 'invalid' : ''}`}>
      <span class="field-label">{props.label}</span>
      {props.children}
      {props.hint && <span class="hint">{props.hint}</span>}
      <FieldErrors errors={errors} />
    </label>
  );
}

export function NumberField(props: {
  label: string;
  value: number | undefined;
  onChange: (value: number | undefined) => void;
  errors?: PlanError[];
  min?: number;
  max?: number;
  step?: number;
  /** Shown when empty: the default the server applies. */
  placeholder?: string;
  hint?: string;
}) {
  return (
    <Labelled label={props.label} errors={props.errors} hint={props.hint}>
      <input
        type="number"
        inputMode="decimal"
        value={props.value ?? ''}
        min={props.min}
        max={props.max}
        step={props.step ?? 'any'}
        placeholder={props.placeholder}
        aria-invalid={(props.errors?.length ?? 0) > 0}
        onChange={(e) => {
          const text = e.currentTarget.value.trim();
          props.onChange(text === '' ? undefined : Number(text));
        }}
      />
    </Labelled>
  );
}

export function TextField(props: {
  label: string;
  value: string | undefined;
  onChange: (value: string | undefined) => void;
  errors?: PlanError[];
  placeholder?: string;
  hint?: string;
  multiline?: boolean;
}) {
  const change = (text: string) => props.onChange(text === '' ? undefined : text);
  return (
    <Labelled label={props.label} errors={props.errors} hint={props.hint}>
      {props.multiline ? (
        <textarea
          rows={2}
          value={props.value ?? ''}
          placeholder={props.placeholder}
          aria-invalid={(props.errors?.length ?? 0) > 0}
          onChange={(e) => change(e.currentTarget.value)}
        />
      ) : (
        <input
          value={props.value ?? ''}
          placeholder={props.placeholder}
          aria-invalid={(props.errors?.length ?? 0) > 0}
          onChange={(e) => change(e.currentTarget.value)}
        />
      )}
    </Labelled>
  );
}

export function SelectField<T extends string>(props: {
  label: string;
  value: T | undefined;
  options: Array<[T | '', string]>;
  onChange: (value: T | undefined) => void;
  errors?: PlanError[];
}) {
  return (
    <Labelled label={props.label} errors={props.errors}>
      <select
        value={props.value ?? ''}
        aria-invalid={(props.errors?.length ?? 0) > 0}
        onChange={(e) => {
          const v = e.currentTarget.value;
          props.onChange(v === '' ? undefined : (v as T));
        }}
      >
        {props.options.map(([value, label]) => (
          <option value={value}>{label}</option>
        ))}
      </select>
    </Labelled>
  );
}

export function CheckField(props: { label: string; checked: boolean; onChange: (checked: boolean) => void }) {
  return (
    <label class="check">
      <input
        type="checkbox"
        checked={props.checked}
        onChange={(e) => props.onChange(e.currentTarget.checked)}
      />
      {props.label}
    </label>
  );
}
