/** The Kong prefix the plugin server was started with (`--kong-prefix`), if any. */
export function kongPrefix(): string | null {
  const at = process.argv.indexOf('--kong-prefix');
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1] : null;
}
