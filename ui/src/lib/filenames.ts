//! What a file name says before anything is sent: its media kind, the version artists write into
//! names (`sh010_comp_v003.mov`), and whether it is a temporary or hidden file nobody means to send.
//!
//! A faithful port of core's `upload.rs` (`media_kind_of`, `version_from_name`,
//! `is_transient_name`): the backend is the authority on a plan, but the mock backend and the UI's
//! own hints must agree with it, so the lists and rules here are the same, case for case.

export type MediaKind = 'movie' | 'image' | 'audio';

const MOVIES = new Set(['mov', 'mp4', 'm4v', 'mxf', 'mkv', 'avi', 'webm', 'mpg', 'mpeg', 'mts', 'm2ts', 'ts', 'r3d', 'braw', 'ari']);
const IMAGES = new Set(['png', 'jpg', 'jpeg', 'tif', 'tiff', 'exr', 'dpx', 'tga', 'bmp', 'gif', 'webp', 'psd', 'heic']);
const AUDIO = new Set(['wav', 'aif', 'aiff', 'mp3', 'm4a', 'aac', 'flac', 'ogg', 'opus']);

/** The extension after the last dot, lower-case, or null when the name has none. */
export function extensionOf(fileName: string): string | null {
  const dot = fileName.lastIndexOf('.');
  if (dot < 0) return null;
  return fileName.slice(dot + 1).toLowerCase();
}

/** The media kind a file name promises by its extension (case-insensitive); null for anything else. */
export function mediaKindOf(fileName: string): MediaKind | null {
  const ext = extensionOf(fileName);
  if (ext === null) return null;
  if (MOVIES.has(ext)) return 'movie';
  if (IMAGES.has(ext)) return 'image';
  if (AUDIO.has(ext)) return 'audio';
  return null;
}

const SEPARATORS = new Set(['_', '-', '.', ' ']);

/**
 * The version number in a name such as `sh010_comp_v003.mov`, `SH010-v12.mp4` or
 * `sh010.comp.V7.mov`: the last `v` + 1..6 digits standing alone (after a separator or at the
 * start, before a separator or the end of the stem). Null when there is none.
 */
export function versionFromName(fileName: string): number | null {
  const dot = fileName.lastIndexOf('.');
  const stem = dot > 0 ? fileName.slice(0, dot) : fileName;
  let found: number | null = null;
  for (let i = 0; i < stem.length; i++) {
    const c = stem[i];
    if (c !== 'v' && c !== 'V') continue;
    if (i > 0 && !SEPARATORS.has(stem[i - 1] ?? '')) continue;
    let end = i + 1;
    while (end < stem.length && /[0-9]/.test(stem[end] ?? '')) end++;
    const digits = end - i - 1;
    if (digits === 0 || digits > 6) continue;
    if (end !== stem.length && !SEPARATORS.has(stem[end] ?? '')) continue;
    found = Number(stem.slice(i + 1, end));
  }
  return found;
}

const SYSTEM_NAMES = new Set(['thumbs.db', 'desktop.ini', 'icon\r']);
const PARTIAL_SUFFIXES = ['.part', '.partial', '.crdownload', '.download', '.tmp', '.temp', '.swp', '.filepart', '.!qb', '.aria2', '.lock'];

/** Hidden and system files, partial downloads, and renderers' or editors' temporaries. */
export function isTransientName(fileName: string): boolean {
  const lower = fileName.toLowerCase();
  if (lower.startsWith('.') || lower.startsWith('~$') || lower.endsWith('~')) return true;
  if (SYSTEM_NAMES.has(lower)) return true;
  return PARTIAL_SUFFIXES.some((s) => lower.endsWith(s));
}

/** The last component of a local path (either separator), without trailing separators. */
export function baseName(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, '');
  const cut = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  return cut >= 0 ? trimmed.slice(cut + 1) : trimmed;
}

/** Absolute on any desktop OS: `/…`, `C:\…` or `C:/…`, `\\server\share…`. */
export function isAbsolutePath(path: string): boolean {
  return path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\');
}

/** "v003" for 3: the way review tools print version numbers. */
export function versionLabel(n: number): string {
  return `v${String(n).padStart(3, '0')}`;
}
