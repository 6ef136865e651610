// What the UI build produces and the controller serves; shared by ui/build.ts and src/routes/ui-static.ts.

export interface UiAsset {
  /** Path under the site root, e.g. `/ui/app-3FQ2X7AB.js` or `/index.html`. */
  path: string;
  contentType: string;
  body: Buffer;
  /** Precompressed bodies, kept only when smaller than the original. */
  gzip?: Buffer;
  brotli?: Buffer;
  /** The name carries a content hash: cache forever. */
  immutable: boolean;
}

/** esbuild's `[name]-[hash]` names: the hash is 8 upper-case letters and digits. */
export const HASHED_NAME = /-[A-Z0-9]{8}\.[a-z]+$/;

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[path.slice(path.lastIndexOf('.'))] ?? 'application/octet-stream';
}
