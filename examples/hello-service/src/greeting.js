/** Longest name the service greets; longer ones are refused rather than echoed back. */
export const MAX_NAME_LENGTH = 64;

/**
 * The greeting for a name taken from the query string. A missing or blank name greets the world.
 * @param {string | null | undefined} name
 * @returns {{ message: string }}
 */
export function greet(name) {
  const trimmed = (name ?? '').trim();
  if (trimmed === '') return { message: 'Hello, world!' };
  if (trimmed.length > MAX_NAME_LENGTH) {
    throw new RangeError(`name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  return { message: `Hello, ${trimmed}!` };
}
