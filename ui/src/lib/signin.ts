//! The sign-in form, as data: which platforms can be signed in to and how (password, key,
//! device code), which fields each way needs with their labels and placeholders, the checks made
//! before anything is sent, the request built from the form, and what the dialog's keys do.
//! Pure, so the dialog's logic is tested without a window.

import { PLATFORM_NAMES, type Platform, type SignInRequest } from './backend';

/** How a person proves who they are on a platform. */
export type SignInMethod = 'password' | 'key' | 'device';

/** The platforms a person signs in to (the local library is a folder, not a sign-in). */
export type SignInPlatform = Exclude<Platform, 'local'>;

export interface PlatformSignIn {
  platform: SignInPlatform;
  name: string;
  /** The ways this platform signs in, the usual one first. */
  methods: SignInMethod[];
  /** What the server field shows when empty. */
  urlPlaceholder: string;
  /** The address of the platform's public cloud, filled in for a new account (null: self-hosted). */
  defaultUrl: string | null;
  /** A line under the server field. */
  urlHint: string;
  /** The login name's label for the password way. */
  userLabel: string;
  /** Labels of the two parts of a key, for the key way. */
  keyLabels: { id: string; secret: string };
}

export const SIGN_IN_PLATFORMS: readonly PlatformSignIn[] = [
  {
    platform: 'kitsu',
    name: PLATFORM_NAMES.kitsu,
    methods: ['password'],
    urlPlaceholder: 'https://kitsu.yourstudio.com/api',
    defaultUrl: null,
    urlHint: 'The address of your Kitsu, usually ending in /api.',
    userLabel: 'E-mail',
    keyLabels: { id: '', secret: '' },
  },
  {
    platform: 'iconik',
    name: PLATFORM_NAMES.iconik,
    methods: ['key', 'password'],
    urlPlaceholder: 'https://app.iconik.io',
    defaultUrl: 'https://app.iconik.io',
    urlHint: 'app.iconik.io, or your region (eu.iconik.io, …).',
    userLabel: 'E-mail',
    keyLabels: { id: 'App-ID', secret: 'Auth token' },
  },
  {
    platform: 'sony_ci',
    name: PLATFORM_NAMES.sony_ci,
    methods: ['password'],
    urlPlaceholder: 'https://api.cimediacloud.com',
    defaultUrl: 'https://api.cimediacloud.com',
    urlHint: 'Sony Ci’s API address; change it only for a private deployment.',
    userLabel: 'User name',
    keyLabels: { id: '', secret: '' },
  },
  {
    platform: 'moxion',
    name: PLATFORM_NAMES.moxion,
    methods: ['device', 'key'],
    urlPlaceholder: 'https://api.moxion.io',
    defaultUrl: 'https://api.moxion.io',
    urlHint: 'Flow Capture’s API address; change it only for a private deployment.',
    userLabel: 'User name',
    keyLabels: { id: 'API ID', secret: 'API key' },
  },
  {
    platform: 'flex',
    name: PLATFORM_NAMES.flex,
    methods: ['password'],
    urlPlaceholder: 'https://flex.yourstudio.com/api',
    defaultUrl: null,
    urlHint: 'Your Dalet Flex deployment’s API address, usually ending in /api.',
    userLabel: 'User name',
    keyLabels: { id: '', secret: '' },
  },
];

export const METHOD_LABELS: Record<SignInMethod, string> = {
  password: 'Password',
  key: 'Key',
  device: 'Code in the browser',
};

export function platformSignIn(platform: SignInPlatform): PlatformSignIn {
  // The table covers every SignInPlatform; the fallback only satisfies the type checker.
  return SIGN_IN_PLATFORMS.find((p) => p.platform === platform) ?? (SIGN_IN_PLATFORMS[0] as PlatformSignIn);
}

export function isSignInPlatform(p: Platform): p is SignInPlatform {
  return p !== 'local';
}

/** What the form holds. Secrets live here only while the dialog is open. */
export interface SignInForm {
  platform: SignInPlatform;
  method: SignInMethod;
  baseUrl: string;
  user: string;
  password: string;
  keyId: string;
  secret: string;
  label: string;
  /** Kitsu: the socket.io address when it is not beside the API. */
  eventsUrl: string;
  /** Set when signing in again to an existing account. */
  accountId: string | null;
}

export function emptyForm(platform: SignInPlatform = 'kitsu'): SignInForm {
  const p = platformSignIn(platform);
  return {
    platform,
    method: p.methods[0] ?? 'password',
    baseUrl: p.defaultUrl ?? '',
    user: '',
    password: '',
    keyId: '',
    secret: '',
    label: '',
    eventsUrl: '',
    accountId: null,
  };
}

/**
 * The form for another platform: its usual way in, and its cloud address unless the person typed
 * one of their own. What was typed as the login name stays; secrets never carry over.
 */
export function switchPlatform(form: SignInForm, platform: SignInPlatform): SignInForm {
  const from = platformSignIn(form.platform);
  const to = platformSignIn(platform);
  const typedOwnUrl = form.baseUrl.trim() !== '' && form.baseUrl !== from.defaultUrl;
  return {
    ...form,
    platform,
    method: to.methods.includes(form.method) ? form.method : (to.methods[0] ?? 'password'),
    baseUrl: typedOwnUrl ? form.baseUrl : (to.defaultUrl ?? ''),
    password: '',
    secret: '',
    keyId: '',
    eventsUrl: platform === 'kitsu' ? form.eventsUrl : '',
  };
}

const URL_SHAPE = /^https?:\/\/[^/\s?#]+(\S*)$/;

/** What is wrong with the form before anything is sent (null when it can be sent). */
export function formProblem(form: SignInForm): string | null {
  const p = platformSignIn(form.platform);
  const url = form.baseUrl.trim();
  if (url === '') return 'Type the server address.';
  if (!URL_SHAPE.test(url)) return `The server address must start with https:// (or http://), e.g. ${p.urlPlaceholder}`;
  if (form.platform === 'kitsu' && form.eventsUrl.trim() !== '' && !URL_SHAPE.test(form.eventsUrl.trim())) {
    return 'The events address must start with https:// (or http://).';
  }
  switch (form.method) {
    case 'password':
      if (form.user.trim() === '') return `Type your ${p.userLabel.toLowerCase()}.`;
      if (form.password === '') return 'Type your password.';
      return null;
    case 'key':
      if (form.keyId.trim() === '') return `Type the ${p.keyLabels.id}.`;
      if (form.secret.trim() === '') return `Type the ${p.keyLabels.secret}.`;
      return null;
    case 'device':
      return null;
  }
}

const orNull = (s: string): string | null => (s.trim() === '' ? null : s.trim());

/** The backend request for the password and key ways (the device way has its own call). */
export function toRequest(form: SignInForm): SignInRequest {
  return {
    platform: form.platform,
    baseUrl: form.baseUrl.trim(),
    credentials:
      form.method === 'key'
        ? { kind: 'apiKey', keyId: orNull(form.keyId), secret: form.secret.trim() }
        : { kind: 'password', user: form.user.trim(), password: form.password },
    label: orNull(form.label),
    accountId: form.accountId,
    eventsUrl: form.platform === 'kitsu' ? orNull(form.eventsUrl) : null,
  };
}

export type SignInKeyAction = 'submit' | 'close' | null;

/**
 * What a key does in the dialog: Escape closes (cancelling a device sign-in that is waiting);
 * Enter signs in from any field or from the dialog itself, but not on a button (which clicks
 * itself) nor while a sign-in is already under way.
 */
export function signInKeyAction(key: string, target: { tag: string }, busy: boolean): SignInKeyAction {
  if (key === 'Escape') return 'close';
  if (key !== 'Enter') return null;
  const tag = target.tag.toUpperCase();
  if (tag === 'BUTTON' || tag === 'A' || tag === 'TEXTAREA' || busy) return null;
  return 'submit';
}

/** "4:59" from seconds. */
export function countdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** What the sign-out confirmation says. */
export function signOutText(accountName: string, platform: Platform): string {
  return (
    `Framenote forgets your ${PLATFORM_NAMES[platform]} session and removes ${accountName}'s cached library and offline copies from this computer. ` +
    'Notes still in the outbox are kept: while any wait to be sent, sign-out is refused until they are sent or discarded.'
  );
}
