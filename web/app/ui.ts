import { h } from '../shared/dom.js';
import { type ApiError, ApiFailure } from './api.js';

/** A labelled input with an error slot wired through aria-describedby. */
export function field<T extends HTMLInputElement | HTMLSelectElement>(name: string, label: string, input: T, hint?: string): { wrap: HTMLElement; error: HTMLElement; input: T; label: HTMLLabelElement; hint: HTMLElement | null } {
  const id = `f-${name}`;
  input.id = id;
  input.name = name;
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  input.setAttribute('aria-describedby', [hintEl ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
  const labelEl = h('label', { for: id }, label);
  const wrap = h('div', { class: 'field' }, labelEl, input, hintEl, error);
  return { wrap, error, input, label: labelEl, hint: hintEl };
}

/** An alert line, hidden while empty; `notice` (the flow's notice, say) shows in it from the start. */
export function alertBox(notice?: string): HTMLElement {
  const box = h('div', { class: 'alert', role: 'alert', 'aria-live': 'assertive' });
  box.hidden = true;
  if (notice !== undefined) setAlert(box, notice, 'info');
  return box;
}

export function setAlert(box: HTMLElement, message: string, kind: 'error' | 'info' = 'error'): void {
  box.textContent = message;
  box.dataset.kind = kind;
  box.hidden = !message;
}

export function busy(button: HTMLButtonElement, on: boolean, label?: string): void {
  button.disabled = on;
  button.setAttribute('aria-busy', String(on));
  if (label) button.textContent = label;
}

export function formatWait(seconds: number): string {
  return seconds >= 120 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} seconds`;
}

export const failureOf = (err: unknown): ApiError | undefined => (err instanceof ApiFailure ? err.error : undefined);

/** What an action form does at each submit (see actionForm). */
export interface ActionFormOptions {
  /** Disabled (aria-busy) while sending, labelled `busyLabel` if given; enabled again, with its label back, when sending fails. */
  submit: HTMLButtonElement;
  busyLabel?: string;
  /** Cleared at each submit; shows the check's message when `invalid` is not given. */
  alert?: HTMLElement;
  /** The fields whose error line is cleared at each submit. */
  fields?: readonly { error: HTMLElement }[];
  /** What keeps the input from being sent, as the message to show; undefined when it can go. */
  check?(): string | undefined;
  /** Where the check's message goes: a field (fieldError), or a function of its own; the alert otherwise. */
  invalid?: { error: HTMLElement; input: HTMLInputElement } | ((message: string) => void);
  /** Send it. A success leaves the button busy (the screen moves on). */
  send(): Promise<void>;
  /** Sending threw: the button is already reset; `e` is the server's error, if it was one. */
  failed(e: ApiError | undefined): void;
}

/**
 * A form that sends one action: on submit it clears the alert and the field errors, checks the
 * input (and stops, showing why, when it cannot go), marks the button busy and sends; a failure
 * resets the button and goes to `failed`.
 */
export function actionForm(o: ActionFormOptions, ...children: Node[]): HTMLFormElement {
  const showInvalid = (message: string) => {
    if (typeof o.invalid === 'function') o.invalid(message);
    else if (o.invalid) fieldError(o.invalid, message);
    else if (o.alert) setAlert(o.alert, message);
  };
  const idle = o.submit.textContent ?? '';
  const onsubmit = async (e: SubmitEvent) => {
    e.preventDefault();
    if (o.alert) setAlert(o.alert, '');
    for (const f of o.fields ?? []) f.error.textContent = '';
    const problem = o.check?.();
    if (problem !== undefined) return showInvalid(problem);
    busy(o.submit, true, o.busyLabel);
    try {
      await o.send();
    } catch (err) {
      busy(o.submit, false, o.busyLabel && idle);
      o.failed(failureOf(err));
    }
  };
  return h('form', { novalidate: true, onsubmit }, ...children);
}

// ---------------------------------------------------------------- shared pieces of code steps

/** The input of a code sent by text message or shown by an authenticator. */
export function otpInput(autofocus = false): HTMLInputElement {
  return h('input', {
    type: 'text',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9]*',
    maxlength: '10',
    required: true,
    autofocus,
    class: 'code-input',
  });
}

/** A code typed with spaces or dashes, as digits; undefined when it is not 6–10 digits. */
export function otpValue(input: HTMLInputElement): string | undefined {
  const value = input.value.replace(/[\s-]+/g, '');
  return /^\d{6,10}$/.test(value) ? value : undefined;
}

/** A wrong code's message with the tries that are left, for the field's error line. */
export function wrongCodeText(e: ApiError | undefined, fallback = 'That code did not work.'): string {
  const left = e?.attempts_left;
  return `${e?.message ?? fallback}${left !== undefined ? ` ${left} ${left === 1 ? 'try' : 'tries'} left.` : ''}`;
}

/** Show `text` as the field's error and put the cursor back in it. */
export function fieldError(f: { error: HTMLElement; input: HTMLInputElement }, text: string): void {
  f.error.textContent = text;
  f.input.setAttribute('aria-invalid', 'true');
  f.input.select();
  f.input.focus();
}

/**
 * A "Resend code" button's cool-down: disabled, with a countdown under it, until the server
 * allows another code. The countdown is not a live region (a per-second announcement would
 * drown everything else); the alert that says the code was sent also says how long to wait.
 */
export function coolDown(button: HTMLButtonElement): { note: HTMLElement; start(seconds: number): void; stop(): void } {
  const note = h('p', { class: 'hint', 'data-testid': 'cool-down' });
  let timer: number | undefined;
  const stop = () => {
    window.clearInterval(timer);
    timer = undefined;
  };
  const start = (seconds: number) => {
    const until = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        stop();
        button.disabled = false;
        note.textContent = '';
        return;
      }
      button.disabled = true;
      note.textContent = `You can ask for another code in ${left} s.`;
    };
    stop();
    tick();
    if (timer === undefined && Date.now() < until) timer = window.setInterval(tick, 1000);
  };
  return { note, start, stop };
}

/** "The request expires in 1:23." under a number to approve; not a live region either. */
export function expiryNote(expiresAt: number | undefined): { el: HTMLElement; stop(): void } {
  const el = h('p', { class: 'hint center' });
  const show = () => {
    if (!expiresAt) return;
    const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    el.textContent = `The request expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}.`;
  };
  show();
  const timer = window.setInterval(show, 1000);
  return { el, stop: () => window.clearInterval(timer) };
}
