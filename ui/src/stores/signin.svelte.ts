//! Sign-in and sign-out state: the sign-in dialog (a new account, or signing in again to one whose
//! session expired, prefilled), its busy state and error, a device-code sign-in waiting for
//! approval (with its countdown and cancel), and the sign-out confirmation. After a sign-in the
//! account list is reloaded and the new account's first sync is followed like "Sync now".

import { toBackendError, type Account, type Backend, type DeviceSignIn, type SignedIn, type SignInFinished, type Unsubscribe } from '../lib/backend';
import { emptyForm, formProblem, isSignInPlatform, platformSignIn, switchPlatform, toRequest, type SignInForm, type SignInMethod, type SignInPlatform } from '../lib/signin';
import type { LibraryStore } from './library.svelte';
import type { Notifier } from './notify.svelte';

export interface SignInDialogState {
  form: SignInForm;
  /** A sign-in is under way (the form is locked). */
  busy: boolean;
  /** Why the last try failed, as the backend said it. */
  error: string | null;
  /** A device-code sign-in waiting for approval. */
  device: (DeviceSignIn & { startedAt: number }) | null;
  /** Signing in again to this account (its name, for the title). */
  reauthName: string | null;
}

export interface SignOutState {
  account: Account;
  busy: boolean;
  error: string | null;
}

export class SignInStore {
  dialog = $state<SignInDialogState | null>(null);
  signOut = $state<SignOutState | null>(null);
  private unsubs: Unsubscribe[] = [];

  constructor(
    private readonly backend: Backend,
    private readonly library: LibraryStore,
    private readonly notify: Notifier,
  ) {}

  start(): void {
    this.unsubs.push(this.backend.onSignInFinished((e) => this.deviceFinished(e)));
  }

  stop(): void {
    for (const u of this.unsubs) u();
    this.unsubs = [];
  }

  /** Opens the dialog for a new account. */
  openAdd(platform: SignInPlatform = 'kitsu'): void {
    this.dialog = { form: emptyForm(platform), busy: false, error: null, device: null, reauthName: null };
  }

  /** Opens the dialog to sign in again to an account, prefilled with its server and user. */
  async openReauth(accountId: string): Promise<void> {
    try {
      const d = await this.backend.signInDetails(accountId);
      if (!isSignInPlatform(d.platform)) {
        this.notify.error('A local library has no sign-in.');
        return;
      }
      const form = emptyForm(d.platform);
      form.accountId = d.accountId;
      form.baseUrl = d.baseUrl;
      form.user = d.userName ?? '';
      form.eventsUrl = d.eventsUrl ?? '';
      this.dialog = { form, busy: false, error: null, device: null, reauthName: d.label };
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  setPlatform(platform: SignInPlatform): void {
    const d = this.dialog;
    if (!d || d.busy || d.form.accountId !== null) return;
    d.form = switchPlatform(d.form, platform);
    d.error = null;
  }

  setMethod(method: SignInMethod): void {
    const d = this.dialog;
    if (!d || d.busy || !platformSignIn(d.form.platform).methods.includes(method)) return;
    d.form.method = method;
    d.error = null;
  }

  /** Closes the dialog; a device sign-in still waiting is cancelled. Typed secrets are dropped with it. */
  close(): void {
    const d = this.dialog;
    if (!d) return;
    if (d.device) void this.backend.cancelSignIn(d.device.flowId).catch(() => undefined);
    else if (d.busy) return; // a password sign-in cannot be taken back half-way; it ends by itself
    this.dialog = null;
  }

  /** Signs in with what the form holds (or starts the device-code way). */
  async submit(): Promise<void> {
    const d = this.dialog;
    if (!d || d.busy || d.device) return;
    const problem = formProblem(d.form);
    if (problem) {
      d.error = problem;
      return;
    }
    d.busy = true;
    d.error = null;
    const form = d.form;
    try {
      if (form.method === 'device') {
        const started = await this.backend.signInDevice(form.platform, form.baseUrl.trim(), form.label.trim() || null, form.accountId);
        if (this.dialog === d) d.device = { ...started, startedAt: Date.now() };
        return;
      }
      const done = await this.backend.signIn(toRequest(form));
      if (this.dialog === d) this.dialog = null;
      await this.signedIn(done);
    } catch (e) {
      if (this.dialog === d) {
        d.error = toBackendError(e).message;
        // The secret was wrong or the server unreachable: let the person type it again.
        d.form.password = '';
      }
    } finally {
      d.busy = false;
    }
  }

  /** Stops waiting for a device-code approval; the form stays open to try again. */
  async cancelDevice(): Promise<void> {
    const d = this.dialog;
    if (!d?.device) return;
    const flow = d.device.flowId;
    d.device = null;
    try {
      await this.backend.cancelSignIn(flow);
    } catch (e) {
      d.error = toBackendError(e).message;
    }
  }

  private deviceFinished(e: SignInFinished): void {
    const d = this.dialog;
    const ours = d?.device?.flowId === e.flowId;
    switch (e.outcome.state) {
      case 'done':
        if (ours) this.dialog = null;
        void this.signedIn(e.outcome.account);
        break;
      case 'failed':
        if (ours && d) {
          d.device = null;
          d.error = e.outcome.error.message;
        }
        break;
      case 'cancelled':
        if (ours && d) d.device = null;
        break;
    }
  }

  private async signedIn(done: SignedIn): Promise<void> {
    const who = done.userName && !done.label.includes(done.userName) ? ` as ${done.userName}` : '';
    this.notify.info(`Signed in to ${done.label}${who}. Syncing…`);
    await this.library.accountSignedIn(done.accountId, done.syncTaskId);
  }

  // --- sign-out --------------------------------------------------------------------------------

  askSignOut(account: Account): void {
    this.signOut = { account, busy: false, error: null };
  }

  cancelSignOut(): void {
    if (this.signOut?.busy) return;
    this.signOut = null;
  }

  async confirmSignOut(): Promise<void> {
    const s = this.signOut;
    if (!s || s.busy) return;
    s.busy = true;
    s.error = null;
    try {
      await this.backend.signOut(s.account.id);
      if (this.signOut === s) this.signOut = null;
      await this.library.accountRemoved(s.account.id);
      this.notify.info(`Signed out of ${s.account.name}.`);
    } catch (e) {
      s.error = toBackendError(e).message;
    } finally {
      s.busy = false;
    }
  }
}
