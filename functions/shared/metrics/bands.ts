/**
 * DORA's software delivery performance clusters, as published in the 2024 Accelerate State of
 * DevOps report (DORA / Google Cloud, "Software delivery performance" chapter; summarized with the
 * 2023 and earlier clusters in https://octopus.com/blog/2024-devops-performance-clusters):
 *
 * | cluster | deployment frequency                         | change lead time     | change failure rate | failed deployment recovery time |
 * | ------- | -------------------------------------------- | -------------------- | ------------------- | ------------------------------- |
 * | elite   | on demand (multiple deploys per day)         | less than one day    | 5%                  | less than one hour              |
 * | high    | between once per day and once per week       | one day to one week  | 20%                 | less than one day               |
 * | medium  | between once per week and once per month     | one week to one month| 10%                 | less than one day               |
 * | low     | between once per month and once every 6 months | one to six months  | 40%                 | one week to one month           |
 *
 * The clusters come out of a survey's statistics, so they are not thresholds and are not ordered
 * on every metric (2024: high's failure rate is above medium's). A team's band on one metric is
 * the best cluster whose figure it matches or beats; past every cluster it is `low`.
 */
export const doraBands = ['elite', 'high', 'medium', 'low'] as const;
export type DoraBand = (typeof doraBands)[number];

export const doraBandsSource = 'DORA Accelerate State of DevOps 2024';

const hour = 3_600_000;
const day = 24 * hour;

/** Each cluster's limit, best cluster first; `undefined`: the cluster has no limit. */
const limits = {
  /** Production deployments per day, at least. */
  deploymentsPerDay: { elite: 1, high: 1 / 7, medium: 1 / 30, low: undefined },
  /** Median lead time in ms, less than. */
  leadTimeMs: { elite: day, high: 7 * day, medium: 30 * day, low: undefined },
  /** Change failure rate (0–1), at most. */
  changeFailureRate: { elite: 0.05, high: 0.2, medium: 0.1, low: undefined },
  /** Median time to restore in ms, less than. */
  timeToRestoreMs: { elite: hour, high: day, medium: day, low: undefined },
} as const satisfies Record<string, Record<DoraBand, number | undefined>>;

function best(meets: (limit: number) => boolean, table: Record<DoraBand, number | undefined>): DoraBand {
  for (const band of doraBands) {
    const limit = table[band];
    if (limit === undefined || meets(limit)) return band;
  }
  return 'low';
}

/** More than once a day is elite; at least weekly high; at least monthly medium. */
export function deploymentFrequencyBand(perDay: number): DoraBand {
  return best((limit) => (limit === 1 ? perDay > 1 : perDay >= limit), limits.deploymentsPerDay);
}

export function leadTimeBand(medianMs: number): DoraBand {
  return best((limit) => medianMs < limit, limits.leadTimeMs);
}

export function changeFailureRateBand(rate: number): DoraBand {
  return best((limit) => rate <= limit, limits.changeFailureRate);
}

export function timeToRestoreBand(medianMs: number): DoraBand {
  return best((limit) => medianMs < limit, limits.timeToRestoreMs);
}
