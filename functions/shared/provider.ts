import * as z from './zod-mini.ts';

/** The git providers Stepline takes pushes from (also exported by push-event.ts). */
export const providers = ['github', 'gitlab', 'gitea', 'bitbucket'] as const;
export const Provider = z.enum(providers);
export type Provider = z.infer<typeof Provider>;
