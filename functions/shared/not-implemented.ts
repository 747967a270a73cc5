import { NotImplementedError } from './errors.ts';

/**
 * A pipeline step that a later release fills. It fails the run with a clear message, so a
 * pipeline never reports success past a step that did nothing.
 */
export function notImplemented(step: string): never {
  throw new NotImplementedError(
    `${step} is not implemented yet in this version of Stepline; the run stops here instead of reporting success past it`,
  );
}
