/**
 * C0 controls, DEL, C1 controls (U+0080–U+009F, which some terminals read as ESC sequences) and
 * the bidirectional overrides and isolates that reorder what a reader sees.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const controls = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const controlsButLines = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

function escaped(char: string): string {
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
}

/**
 * Text that came from a push, a build or a provider (refs, repository names, build output, causes,
 * email subjects, links), made safe to print on a terminal: each control character is shown as
 * `\x1b`, `\x07`, `\u202e`…, so none can move the cursor, clear the screen or set the title.
 * With `multiline`, newline and tab stay as they are (for a cause printed over several lines).
 */
export function printable(text: string, options: { multiline?: boolean } = {}): string {
  return text.replace(options.multiline ? controlsButLines : controls, escaped);
}
