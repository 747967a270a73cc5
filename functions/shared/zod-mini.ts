/**
 * `zod/mini` with zod's English messages, for the schemas every Lambda builds at cold start (the
 * deployment config, the push event, environments). Same validation and the same messages as
 * `zod`, at a fraction of its load and construction time: `zod` attaches its chainable methods to
 * every schema it builds, `zod/mini` builds plain schemas checked by functions
 * (`z.string().check(z.minLength(1))` for `z.string().min(1)`). Schemas from either mix freely.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// `zod` installs English on its first schema; `zod/mini` leaves the messages to the application.
config(en());

export * from 'zod/mini';
